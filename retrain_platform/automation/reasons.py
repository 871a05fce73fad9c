"""Why a retrain ran: which trigger fired, not merely which checks were failing.

Automation conditions decide *whether* to run; the run itself does not learn which sub-condition fired, so the
candidate reconstructs it from the trigger checks' results on the model's newest landed partition (the partition
the conditions look at). Each trigger check records ``failing_since``, the first partition of its failure
episode (:mod:`retrain_platform.monitoring.signals`); a trigger whose episode the previous candidate already
answered (it began on or before that candidate's window end) did not start this run. Of the rest, the one whose
episode began most recently is the trigger that fired; other still-failing triggers are listed after it. With
none left, the run came from the cron schedule, the freshness policy, or a person.

A result on an older day (a backfill, a corrected file) is not a reason: it started nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from dagster import AssetCheckKey, DagsterInstance
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from retrain_platform.automation.landed import newest_landed_partition
from retrain_platform.check_history import FAILING_SINCE
from retrain_platform.keys import ModelKeys
from retrain_platform.spec.model_spec import ModelSpec

TRIGGER_TAG = "retrain/trigger"
"""Run tag naming the trigger that started a training run (``drift``, ``performance``, ``schedule``, ...)."""
REQUESTED_REASON_TAG = "retrain/requested_reason"
"""Run tag a sensor sets when it requests a training for a reason of its own (with ``TRIGGER_TAG``, e.g. ``live``):
the run reports that reason instead of reconstructing one from the trigger checks."""

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
    if spec.triggers.performance_floor is not None or spec.triggers.performance_drop is not None:
        checks.append(keys.performance_check)
    if spec.triggers.max_model_age_days is not None:
        checks.append(keys.age_check)
    return checks


@dataclass(frozen=True)
class FailingTrigger:
    """A trigger check failing on the newest landed partition, with the start of its failure episode."""

    trigger: str
    description: str
    failing_since: str


@dataclass(frozen=True)
class RetrainReason:
    """What started a training: the fired trigger(s), and every reason in words (fired first)."""

    fired: tuple[str, ...]
    reasons: tuple[str, ...]

    @property
    def tag(self) -> str:
        """The :data:`TRIGGER_TAG` value: the fired triggers, comma-separated."""
        return ",".join(self.fired)


def failing_triggers(instance: DagsterInstance, spec: ModelSpec) -> list[FailingTrigger]:
    """Every trigger check that failed on the newest landed partition, most recent episode first."""
    newest = newest_landed_partition(instance, spec.name)
    if newest is None:
        return []
    records = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        trigger_checks(spec), partition_filter=PartitionKeyFilter(key=newest)
    )
    failing = []
    for key, record in records.items():
        evaluation = record.evaluation
        if record.status != AssetCheckExecutionRecordStatus.FAILED or evaluation is None:
            continue
        since = evaluation.metadata.get(FAILING_SINCE)
        # The volume check re-arms with every training, so it has no episode: it fired on the day it failed.
        failing_since = str(since.value) if since is not None and since.value else newest
        failing.append(FailingTrigger(_TRIGGER_LABELS[key.name], evaluation.description or "", failing_since))
    return sorted(failing, key=lambda t: (t.failing_since, t.trigger), reverse=True)


def retrain_reason(
    instance: DagsterInstance,
    spec: ModelSpec,
    answered_through: str | None,
    *,
    automated: bool,
    requested: tuple[str, str] | None = None,
) -> RetrainReason:
    """Which trigger started this training (see the module docstring).

    ``answered_through`` is the previous candidate's window end (None before the first one): trigger episodes
    that began on or before it were that candidate's reason, not this one's. ``automated`` says whether
    automation launched the run (else a person did, unless a trigger is fresh). ``requested`` is the
    ``(trigger, reason)`` a sensor gave when it requested the run (:data:`REQUESTED_REASON_TAG`).
    """
    failing = failing_triggers(instance, spec)
    if requested is not None:
        trigger, why = requested
        others = [f"also failing, {t.trigger}: {t.description}" for t in failing if t.trigger != trigger]
        return RetrainReason((trigger,), (f"{trigger}: {why}", *others))
    fresh = [t for t in failing if answered_through is None or t.failing_since > answered_through]
    if fresh:
        fired_by = [t for t in fresh if t.failing_since == fresh[0].failing_since]
        fired = tuple(dict.fromkeys(t.trigger for t in fired_by))
        described = [f"{t.trigger}: {t.description}" for t in fired_by]
    elif automated and spec.triggers.cron:
        fired, described = ("schedule",), [f"schedule ({spec.triggers.cron})"]
    elif automated and spec.triggers.max_model_age_days is not None:
        fired, described = ("freshness",), [f"champion older than {spec.triggers.max_model_age_days:g} days"]
    else:
        fired, described = ("manual",), ["manual launch"]
    others = [f"also failing, {t.trigger}: {t.description}" for t in failing if t.trigger not in fired]
    return RetrainReason(fired, tuple(described + others))
