"""The ``training_volume`` check before the first model: a warning that fires once there is enough valid data.

It passes while there are fewer than ``training.min_partitions`` valid partitions or fewer than
``training.min_rows`` valid rows, and fails (WARN, which is what starts the first training) once both are reached.
Quarantined partitions do not count.
"""

from __future__ import annotations

import datetime as dt

from dagster import AssetCheckSeverity

from retrain_platform_tests.conftest import START, credit_frame, make_spec, spec_dict

TRAINING = spec_dict("unused")["training"]  # window_days 10, min_partitions 3, min_rows 200


def volume(platform, day: dt.date, frame=None, *, raw: bytes | None = None):
    """Land and ingest ``day``; return the training_volume evaluation of that run."""
    platform.land(day, frame, raw=raw)
    run = platform.ingest(day)
    (evaluation,) = [e for e in run.get_asset_check_evaluations() if e.asset_check_key == platform.keys.volume_check]
    assert evaluation.partition == day.isoformat()
    return evaluation


def days(n: int, start: dt.date = START) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range(n)]


def assert_waiting(evaluation, partitions: int, rows: int) -> None:
    assert evaluation.passed, evaluation.description
    assert not evaluation.description.startswith("retrain due")
    assert f"{partitions} valid partition(s), {rows} row(s)" in evaluation.description
    assert evaluation.metadata["valid_partitions"].value == partitions
    assert evaluation.metadata["rows_since_training"].value == rows


def assert_due(evaluation, partitions: int, rows: int) -> None:
    assert not evaluation.passed
    assert evaluation.severity == AssetCheckSeverity.WARN
    assert evaluation.description.startswith("retrain due: no model trained yet")
    assert f"{partitions} valid partition(s), {rows} row(s)" in evaluation.description
    assert evaluation.metadata["valid_partitions"].value == partitions


def test_waits_for_min_partitions_and_ignores_quarantined_ones(platform):
    d1, d2, d3, d4 = days(4)
    assert_waiting(volume(platform, d1, credit_frame(d1, rows=150)), 1, 150)
    # a quarantined partition adds neither a partition nor rows
    bad = volume(platform, d2, credit_frame(d2, rows=150).drop(columns="age"))
    assert platform.lake.is_quarantined(platform.spec.name, d2.isoformat())
    assert_waiting(bad, 1, 150)
    assert_waiting(volume(platform, d3, credit_frame(d3, rows=150)), 2, 300)  # rows enough, partitions not
    assert_due(volume(platform, d4, credit_frame(d4, rows=150)), 3, 450)


def test_waits_for_min_rows(platform_factory):
    platform = platform_factory(make_spec(training={**TRAINING, "min_partitions": 1}))
    d1, d2, d3 = days(3)
    assert_waiting(volume(platform, d1, credit_frame(d1, rows=120)), 1, 120)
    assert_waiting(volume(platform, d2, credit_frame(d2, rows=79)), 2, 199)
    assert_due(volume(platform, d3, credit_frame(d3, rows=1)), 3, 200)  # exactly min_rows


def test_counts_only_partitions_the_first_training_could_use(platform_factory):
    platform = platform_factory(make_spec(training={**TRAINING, "window_days": 3, "min_partitions": 2}))
    early, late = START, START + dt.timedelta(days=7)  # 8 days apart: never both in a 3-day window
    volume(platform, early, credit_frame(early, rows=150))
    evaluation = volume(platform, late, credit_frame(late, rows=150))
    # the only model the check can announce is one candidate_model can train; it cannot here
    retrain = platform.retrain(asset_selection=[platform.keys.candidate_model])
    assert not retrain.success
    assert "only 1 valid partition(s) in the last 3 days" in str(
        retrain.get_step_failure_events()[0].step_failure_data.user_failure_data.description
    )
    assert evaluation.passed, evaluation.description
