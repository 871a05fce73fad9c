"""Data versions follow content: re-ingesting a day whose file did not change leaves its derived assets fresh.

Measured before: every ingest gave ``features`` a new data version (derived from the run id), so a backfill of an
unchanged range marked every day's drift report and champion performance stale in the UI.
"""

from __future__ import annotations

from dagster import AssetRecordsFilter
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._time import get_current_datetime

from retrain_platform.ingest.assets import contract_version
from retrain_platform_tests.conftest import START, credit_frame, make_spec


def data_version(platform, key, day) -> str:
    """The data version of the newest materialization of ``key`` for ``day``."""
    filter_ = AssetRecordsFilter(asset_key=key, asset_partitions=[day.isoformat()])
    (record,) = platform.instance.fetch_materializations(filter_, limit=1).records
    return record.asset_materialization.tags["dagster/data_version"]


def status(platform, key, day) -> StaleStatus:
    """What the Dagster UI shows for ``key``'s ``day`` (fresh, stale or missing)."""
    graph = platform.defs.resolve_asset_graph()
    view = AssetGraphView(
        temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
        instance=platform.instance,
        asset_graph=graph,
    )
    resolver = CachingStaleStatusResolver(instance=platform.instance, asset_graph=graph, loading_context=view)
    return resolver.get_status(key, day.isoformat())


def test_reingesting_an_unchanged_day_keeps_its_versions_and_its_drift_fresh(platform):
    platform.land(START, credit_frame(START))
    assert platform.ingest(START).success
    before = data_version(platform, platform.keys.features, START)
    assert status(platform, platform.keys.drift_report, START) == StaleStatus.FRESH

    assert platform.ingest(START).success  # a backfill or a retry of the same file
    assert data_version(platform, platform.keys.features, START) == before
    assert status(platform, platform.keys.features, START) == StaleStatus.FRESH

    # A corrected file is new data: the features' version moves.
    platform.land(START, credit_frame(START, seed=1))
    assert platform.ingest(START, asset_selection=[platform.keys.raw_batch]).success
    assert status(platform, platform.keys.features, START) == StaleStatus.STALE
    assert platform.ingest(START).success
    assert data_version(platform, platform.keys.features, START) != before


def test_the_features_code_version_moves_with_the_contract_not_with_the_rest_of_the_spec():
    base = make_spec("versions_a")
    assert contract_version(base) == contract_version(make_spec("versions_a", metric={"name": "accuracy"}))
    features = {**base.model_dump(mode="json")["features"], "age": {"type": "int", "min": 21, "max": 120}}
    assert contract_version(base) != contract_version(make_spec("versions_a", features=features))
