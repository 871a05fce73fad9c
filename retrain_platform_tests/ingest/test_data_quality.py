"""Warn-only validation through Dagster: a partition with tolerated problems is kept and the non-blocking
``data_quality`` check on ``features`` reports them; the blocking ``schema`` check still passes."""

from __future__ import annotations

from dagster import AssetCheckSeverity

from retrain_platform_tests.conftest import START, credit_frame, make_spec, spec_dict


def evaluations(platform, run) -> dict:
    return {e.check_name: e for e in run.get_asset_check_evaluations() if e.asset_key == platform.keys.features}


def test_tolerated_problems_keep_the_partition_and_warn(platform_factory):
    features = spec_dict("unused")["features"]
    platform = platform_factory(
        make_spec(features=features, validation={"on_unknown_category": "map_to_unknown", "on_excess_nulls": "warn"})
    )
    frame = credit_frame(START, rows=100)
    frame.loc[:2, "channel"] = "kiosk"
    frame.loc[:29, "debt_ratio"] = None  # 30% nulls, tolerance 10%
    platform.land(START, frame)
    run = platform.ingest(START)
    assert run.success
    assert not platform.lake.is_quarantined(platform.spec.name, START.isoformat())
    kept = platform.lake.read_features(platform.spec.name, [START.isoformat()])
    assert len(kept) == 100 and kept["channel"].isna().sum() == 3 and kept["debt_ratio"].isna().sum() == 30

    checks = evaluations(platform, run)
    assert checks["schema"].passed
    quality = checks["data_quality"]
    assert not quality.passed and quality.severity == AssetCheckSeverity.WARN
    assert quality.description == (
        "kept with tolerated problems: debt_ratio: null fraction above 0.1 (kept: on_excess_nulls is warn) "
        "(30 rows); channel: unknown category mapped to null (3 rows)"
    )
    metadata = {k: v.value for k, v in quality.metadata.items()}
    assert metadata["rows_by_column"] == {
        "debt_ratio: null fraction above 0.1 (kept: on_excess_nulls is warn)": 30,
        "channel: unknown category mapped to null": 3,
    }
    assert "kiosk" in metadata["warnings"]


def test_a_clean_partition_passes_data_quality_and_strict_defaults_still_quarantine(platform):
    platform.land(START, credit_frame(START, rows=100))
    run = platform.ingest(START)
    assert run.success and evaluations(platform, run)["data_quality"].passed

    day = START.replace(day=2)
    bad = credit_frame(day, rows=100)
    bad.loc[:2, "channel"] = "kiosk"
    platform.land(day, bad)
    run = platform.ingest(day)
    assert not run.success
    checks = evaluations(platform, run)
    assert not checks["schema"].passed
    assert checks["data_quality"].passed  # nothing was kept, so nothing was tolerated
    assert platform.lake.is_quarantined(platform.spec.name, day.isoformat())
