"""``<model>_feedback_sensor``: labels landing start ``live_performance`` runs, and a live decline a retrain.

Each tick looks for new or changed label files in ``feedback.path``, and for days of traffic that have ended
(UTC) since they were last scored. A label file is matched with the prediction
log of the days it may belong to (``label_delay_days`` back from its own day), reading only the log's key
columns, and one ``live_performance`` run is requested for each prediction day it labels, so a day is re-scored
exactly when labels for it arrive.

With ``feedback.rollback_margin``, it also rolls a new champion back when its live metric fell below its
predecessor's (:mod:`retrain_platform.feedback.rollback`).

With ``feedback.retrain`` (and a performance trigger in the spec), the sensor is also the live trigger: when the
newest scored day's ``live_performance`` check has just begun a failure episode, it requests the model's retrain
job, tagged ``retrain/trigger: live`` with the check's verdict as the reason. With
``feedback.retrain_on_prediction_drift`` a ``prediction_drift`` episode does the same (``retrain/trigger:
prediction_drift``, the seeds' "model drift" trigger; it needs no labels). An episode is answered once.
"""

from __future__ import annotations

import datetime as dt
import json

from dagster import (
    DefaultSensorStatus,
    JobDefinition,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from retrain_platform.automation.reasons import REQUESTED_REASON_TAG, TRIGGER_TAG
from retrain_platform.check_history import FAILING_SINCE
from retrain_platform.feedback.assets import REQUEST_ID, prediction_keys
from retrain_platform.feedback.rollback import rollback_verdict
from retrain_platform.ingest.sensor import fingerprint, sensor_interval
from retrain_platform.keys import ModelKeys
from retrain_platform.operations import rollback
from retrain_platform.registry import ChampionChanged, ModelRegistry
from retrain_platform.spec.model_spec import ModelSpec
from retrain_platform.storage.lake import Lake

LIVE_TRIGGER = "live"
PREDICTION_DRIFT_TRIGGER = "prediction_drift"
ROLLBACK_BY = "retrain_platform (live performance)"


def feedback_sensor_name(model: str) -> str:
    """The feedback sensor of ``model``."""
    return f"{model}_feedback_sensor"


def labelled_days(lake: Lake, spec: ModelSpec, arrived: str, keys: set[str]) -> list[str]:
    """The prediction days a label file of day ``arrived`` holding ``keys`` labels (request ids or key values)."""
    first = (dt.date.fromisoformat(arrived) - dt.timedelta(days=spec.feedback.label_delay_days)).isoformat()
    column = prediction_keys(spec)[0]
    days = []
    for day in lake.prediction_days(spec.name):
        if first <= day <= arrived:
            logged = lake.read_predictions(spec.name, day, columns=[column])
            if not logged.empty and not keys.isdisjoint(logged[column].astype(str)):
                days.append(day)
    return days


def _live_episode(context: SensorEvaluationContext, check) -> tuple[str, str] | None:
    """The partition and verdict of a failure episode of live ``check`` that began on the newest scored day."""
    latest = context.instance.event_log_storage.get_asset_check_execution_history(check, limit=20)
    scored = [r for r in latest if r.status != AssetCheckExecutionRecordStatus.PLANNED and r.partition]
    if not scored:
        return None
    newest = max(scored, key=lambda r: (r.partition, r.id))
    evaluation = newest.evaluation
    if newest.status != AssetCheckExecutionRecordStatus.FAILED or evaluation is None:
        return None
    since = evaluation.metadata.get(FAILING_SINCE)
    if since is None or str(since.value) != newest.partition:
        return None  # an episode that began earlier was answered when it began
    return newest.partition, evaluation.description or "live performance failing"


def _roll_back_if_worse(context, spec: ModelSpec, registry: ModelRegistry, lake: Lake) -> list[str]:
    champion = registry.champion(spec.name)
    verdict = None if champion is None else rollback_verdict(context.instance, spec, champion)
    if verdict is None:
        return []
    try:
        target = rollback(spec, registry, lake, context.instance, reason=f"automatic: {verdict}", who=ROLLBACK_BY)
    except (ValueError, ChampionChanged) as err:  # the champion moved meanwhile, or the target cannot serve
        context.log.warning(f"automatic rollback of {spec.name} not done: {err}")
        return [f"automatic rollback not done: {err}"]
    context.log.warning(f"rolled {spec.name} back to v{target}: {verdict}")
    return [f"rolled back to v{target}: {verdict}"]


def build_feedback_sensor(spec: ModelSpec, live_job: JobDefinition, retrain_job: JobDefinition) -> SensorDefinition:
    """The sensor that turns landing labels into ``live_performance`` runs, and a live decline into a retrain."""
    live_trigger = spec.feedback.retrain and (
        spec.triggers.performance_floor is not None or spec.triggers.performance_drop is not None
    )
    keys = ModelKeys(spec.name)
    live_triggers = [(keys.live_performance_check, LIVE_TRIGGER, "live performance")] if live_trigger else []
    if spec.feedback.retrain_on_prediction_drift:
        live_triggers.append((keys.prediction_drift_check, PREDICTION_DRIFT_TRIGGER, "prediction drift"))

    @sensor(
        name=feedback_sensor_name(spec.name),
        jobs=[live_job, retrain_job],
        minimum_interval_seconds=sensor_interval(),
        default_status=DefaultSensorStatus.RUNNING,
        description=f"Requests live_performance runs for the prediction days that labels landing in "
        f"{spec.feedback.path} belong to"
        + ("; requests a retrain when live performance begins to fail" if live_trigger else "")
        + ("; requests a retrain when prediction drift begins" if spec.feedback.retrain_on_prediction_drift else "")
        + ".",
    )
    def feedback_sensor(
        context: SensorEvaluationContext, lake: Lake, registry: ModelRegistry
    ) -> SensorResult | SkipReason:
        """Request a run per labelled prediction day of each new label file; retrain on a new live failure;
        roll a new champion back when its live metric fell below its predecessor's."""
        state = json.loads(context.cursor) if context.cursor else {"files": {}, "answered": ""}
        requests, notes = [], []
        key = REQUEST_ID if spec.feedback.key == REQUEST_ID else spec.feedback.key
        for arrived, path in lake.label_files(spec).items():
            landed = fingerprint(path)
            if state["files"].get(arrived) == landed:
                continue
            state["files"][arrived] = landed
            try:
                values = set(lake.read_labels(spec, path)[key].astype(str))
            except Exception as err:  # reported here and by live_performance; the file stays where it landed
                notes.append(f"{path.name}: {type(err).__name__}: {err}")
                continue
            for day in labelled_days(lake, spec, arrived, values):
                requests.append(
                    RunRequest(run_key=f"{day}:{arrived}:{landed}", job_name=live_job.name, partition_key=day)
                )
        # A day of traffic that has ended is scored once (and again if more was logged for it), labels or not:
        # prediction_drift needs none.
        today = dt.datetime.now(dt.UTC).date().isoformat()
        requested = {r.partition_key for r in requests}
        logged = state.setdefault("logged", {})
        for day in lake.prediction_days(spec.name):
            parts = lake.prediction_parts(spec.name, day)
            if day >= today or logged.get(day) == parts:
                continue
            logged[day] = parts
            if day not in requested:
                requests.append(RunRequest(run_key=f"{day}:logged:{parts}", job_name=live_job.name, partition_key=day))
        for check, trigger, what in live_triggers:
            episode = _live_episode(context, check)
            answered = state.setdefault("answered_by_check", {}).get(check.name, state.get("answered", ""))
            if episode is None or episode[0] == answered:
                continue
            day, verdict = episode
            state["answered_by_check"][check.name] = day
            reason = f"{what} on {day}: {verdict}"[:900]
            tags = {TRIGGER_TAG: trigger, REQUESTED_REASON_TAG: reason}
            requests.append(RunRequest(run_key=f"{trigger}-retrain:{day}", job_name=retrain_job.name, tags=tags))
            break  # one retrain answers every live trigger of the day
        if spec.feedback.rollback_margin is not None:
            notes += _roll_back_if_worse(context, spec, registry, lake)
        cursor = json.dumps(state)
        if requests:
            return SensorResult(run_requests=requests, cursor=cursor)
        context.update_cursor(cursor)
        return SkipReason("; ".join(notes) or "no new labels")

    return feedback_sensor
