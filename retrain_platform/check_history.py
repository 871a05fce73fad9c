"""Earlier results of a daily check, and the last training: what a trigger check needs to know of the past.

A trigger check is a statement about one partition, but a good trigger looks back: a drift episode stays open
until the share clearly falls (hysteresis), and a performance decline is a window of days, not one noisy day.
Each check records what it decided in its own result metadata; the next partition's check reads it back here
from the Dagster instance, so the state lives where users can see it (the check history in the UI) and survives
restarts, backfills and replays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dagster import AssetCheckKey, AssetKey, DagsterInstance
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

FAILING_SINCE = "failing_since"
"""Check metadata: the first partition of the check's current failure episode ("" when passing)."""
CHAMPION_VERSION = "champion_version"
"""Check metadata: the champion version the check judged."""
SHADOW_VERSION = "shadow_version"
"""Live check metadata: the challenger scored in shadow on the day's labelled traffic."""
SHADOW_LABELLED = "shadow_labelled"
"""Live check metadata: how many labelled rows the shadowed challenger answered."""


def shadow_metric_key(metric: str) -> str:
    """Live check metadata: the shadowed challenger's live ``metric``."""
    return f"shadow_{metric}"


def champion_on_shadow_rows_key(metric: str) -> str:
    """Live check metadata: the champion's live ``metric`` on the rows the challenger answered in shadow."""
    return f"champion_{metric}_on_shadow_rows"


# Executions read per lookup: enough to cover a window of days even when some were re-run several times.
_HISTORY_LIMIT = 200


@dataclass(frozen=True)
class PastCheckResult:
    """A check's latest result on one partition: whether it passed and its metadata as plain values."""

    partition: str
    passed: bool
    metadata: dict[str, Any]


def earlier_results(
    instance: DagsterInstance, check: AssetCheckKey, partition: str, limit: int
) -> list[PastCheckResult]:
    """The latest result of ``check`` on each of up to ``limit`` partitions before ``partition``, newest first.

    Partition keys are ISO dates, so "before" is string order. Results still being planned or without an
    evaluation are skipped.
    """
    latest: dict[str, PastCheckResult] = {}
    records = instance.event_log_storage.get_asset_check_execution_history(
        check,
        limit=_HISTORY_LIMIT,
        status={AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED},
    )
    for record in records:  # newest execution first, so the first one seen per partition is its latest
        day = record.partition
        evaluation = record.evaluation
        if day is None or day >= partition or day in latest or evaluation is None:
            continue
        metadata = {name: value.value for name, value in evaluation.metadata.items()}
        latest[day] = PastCheckResult(day, bool(evaluation.passed), metadata)
    return [latest[day] for day in sorted(latest, reverse=True)[:limit]]


def latest_results(instance: DagsterInstance, check: AssetCheckKey, limit: int) -> list[PastCheckResult]:
    """The latest result of ``check`` on each of its newest ``limit`` partitions, newest first."""
    return earlier_results(instance, check, "9999-12-31", limit)  # every ISO day sorts before it


def last_training_window_end(instance: DagsterInstance, candidate: AssetKey) -> str | None:
    """The last partition of the latest trained candidate's window (its ``window_end``), None before any."""
    event = instance.get_latest_materialization_event(candidate)
    if event is None or "window_end" not in event.asset_materialization.metadata:
        return None
    return str(event.asset_materialization.metadata["window_end"].value)
