"""Why a retrain ran: the trigger checks that were failing when the candidate started.

Automation conditions decide *whether* to run; the run itself does not learn which sub-condition fired, so the
candidate reads each trigger check's result on the model's newest landed partition (the partition the
conditions look at) and records the failing ones as its reason. A result on an older day (a backfill, a
corrected file) is not a reason: it started nothing.
"""

from __future__ import annotations

from dagster import AssetCheckKey, DagsterInstance
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from retrain_platform.automation.landed import newest_landed_partition
from retrain_platform.keys import ModelKeys
from retrain_platform.spec.model_spec import ModelSpec

_TRIGGER_LABELS = {
    "drift": "drift",
    "performance_floor": "performance",
    "champion_age": "age",
    "training_volume": "volume",
}


def trigger_checks(spec: ModelSpec) -> list[AssetCheckKey]:
    """The checks whose failure starts a retrain under ``spec``'s triggers."""
    keys = ModelKeys(spec.name)
    checks = [keys.volume_check]
    if spec.triggers.drift:
        checks.append(keys.drift_check)
    if spec.triggers.performance_floor is not None:
        checks.append(keys.performance_check)
    if spec.triggers.max_model_age_days is not None:
        checks.append(keys.age_check)
    return checks


def active_triggers(instance: DagsterInstance, spec: ModelSpec) -> list[str]:
    """``"<trigger>: <check description>"`` for every trigger check that failed on the newest landed partition."""
    newest = newest_landed_partition(instance, spec.name)
    if newest is None:
        return []
    records = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        trigger_checks(spec), partition_filter=PartitionKeyFilter(key=newest)
    )
    reasons = []
    for key, record in sorted(records.items(), key=lambda item: item[0].name):
        if record.status == AssetCheckExecutionRecordStatus.FAILED and record.evaluation is not None:
            reasons.append(f"{_TRIGGER_LABELS[key.name]}: {record.evaluation.description}")
    return reasons
