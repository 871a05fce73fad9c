"""The replay's in-memory instance: Dagster's own storages on one kept connection, recording what Dagster's do."""

from __future__ import annotations

from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus, asset, materialize
from sqlalchemy import text

from retrain_platform.orchestration.ephemeral import ephemeral_instance


@asset
def numbers() -> list[int]:
    return [1, 2, 3]


def _summary(instance: DagsterInstance) -> tuple:
    [record] = instance.get_run_records()
    events = [e.dagster_event.event_type for e in instance.all_logs(record.dagster_run.run_id) if e.dagster_event]
    latest = instance.get_latest_materialization_event(AssetKey("numbers"))
    return record.dagster_run.status, events, latest is not None


def test_a_run_records_the_same_runs_and_events_as_dagsters_ephemeral_instance(tmp_path):
    ours, dagsters = ephemeral_instance(str(tmp_path / "ours")), DagsterInstance.ephemeral(str(tmp_path / "theirs"))
    for instance in (ours, dagsters):
        assert materialize([numbers], instance=instance).success
    status, events, materialized = _summary(ours)
    assert (status, events, materialized) == _summary(dagsters)
    assert status == DagsterRunStatus.SUCCESS and materialized
    assert DagsterEventType.ASSET_MATERIALIZATION in events


def test_the_kept_connections_commit_and_a_nested_run_storage_use_joins_the_open_transaction(tmp_path):
    instance = ephemeral_instance(str(tmp_path))
    assert materialize([numbers], instance=instance).success
    storage = instance.run_storage
    with storage.connect() as outer, storage.connect() as inner:
        assert inner is outer
    # what was stored is visible through a fresh connection of Dagster's own engine, i.e. it was committed
    with instance.event_log_storage._engine.connect() as fresh:
        assert fresh.execute(text("select count(*) from event_logs")).scalar() > 0
