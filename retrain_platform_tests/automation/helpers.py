"""What the automation tests ask of an evaluation: what it requested, which labelled conditions were true.

Shared by the automation test modules (the ``seeded`` fixture is in this package's ``conftest.py``).
"""

from __future__ import annotations

import datetime as dt

from dagster import AssetCheckKey, AssetKey, evaluate_automation_conditions
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from retrain_platform_tests.conftest import START
from retrain_platform_tests.training.seeded import LAST_SEEDED_DAY

FAILED, PASSED = AssetCheckExecutionRecordStatus.FAILED, AssetCheckExecutionRecordStatus.SUCCEEDED
SHIFT = 1.0  # moves income and debt_ratio: 2 of 5 columns drift, at the test spec's 40% threshold
SEEDED_NEXT = (LAST_SEEDED_DAY - START).days + 1  # index of the first day after the seeded champion's window
NOTHING = {"candidate_model": 0, "production_model": 0, "drift_report": 0, "champion_performance": 0}
RETRAIN = {"candidate_model": 1, "production_model": 1, "drift_report": 0, "champion_performance": 0}
GATE = {**NOTHING, "production_model": 1}


def day(i: int) -> dt.date:
    """The ``i``-th day of the test spec's partitions."""
    return START + dt.timedelta(days=i)


def requested(platform, evaluation) -> dict[str, int]:
    """How many partitions of each of the model's downstream assets the evaluation requested."""
    keys = platform.keys
    return {
        "candidate_model": evaluation.get_num_requested(keys.candidate_model),
        "production_model": evaluation.get_num_requested(keys.production_model),
        "drift_report": evaluation.get_num_requested(keys.drift_report),
        "champion_performance": evaluation.get_num_requested(keys.champion_performance),
    }


def true_labels(evaluation, key: AssetKey) -> set[str]:
    """Labels of every condition in ``key``'s tree that was true in this evaluation (what the UI highlights)."""
    labels: set[str] = set()

    def walk(result) -> None:
        label = result.condition.get_label()
        if label and result.true_subset.size:
            labels.add(label)
        for child in result.child_results:
            walk(child)

    for result in evaluation.results:
        if result.key == key:
            walk(result)
    return labels


def fired_triggers(platform, evaluation) -> set[str]:
    """Labels of the retrain triggers that were true in this evaluation (what the UI shows as the reason)."""
    return {
        label
        for label in true_labels(evaluation, platform.keys.candidate_model)
        if label.endswith("check failed") or label.startswith("cron")
    }


def check_status(platform, check: AssetCheckKey, partition: str) -> AssetCheckExecutionRecordStatus:
    """The latest status of ``check`` on one partition."""
    records = platform.instance.event_log_storage.get_asset_check_execution_history(check, limit=50)
    for record in records:
        if record.partition == partition:
            return record.status
    raise AssertionError(f"{check} was never executed on {partition}")


def evaluate_at(platform, when: dt.datetime):
    """Evaluate the automation conditions at an exact (simulated) time, keeping the platform's cursor."""
    result = evaluate_automation_conditions(
        defs=platform.defs, instance=platform.instance, cursor=platform.automation_cursor, evaluation_time=when
    )
    platform.automation_cursor = result.cursor
    return result


def morning(day: dt.date, hour: int = 6, minute: int = 0, second: int = 0) -> dt.datetime:
    """A UTC time on ``day``."""
    return dt.datetime.combine(day, dt.time(hour, minute, second), tzinfo=dt.UTC)
