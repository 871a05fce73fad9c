"""What happened since the last look, read from the Dagster instance: the events people are told about.

Everything comes from Dagster's own records, which is also what the UI shows:

- asset-check executions: a quarantine is the blocking ``schema`` check failing; a failed ``data_quality``,
  ``drift`` or ``performance_floor`` check is reported once per episode, on its ``failing_since`` day;
- ``candidate_model`` materializations: a trigger fired and a candidate was trained;
- ``production_model`` materializations and observations: the gate's decision, a rollback;
- run failures (with the failed steps' own errors) and failed sensor ticks.

Dagster's run-failure sensors see only the last two: a failed check does not fail its run.

A :class:`Position` says how far each source has been read, so every event is reported once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

from dagster import AssetKey, DagsterEventType, DagsterInstance
from dagster._core.event_api import AssetRecordsFilter, EventLogCursor, RunStatusChangeRecordsFilter
from dagster._core.scheduler.instigation import InstigatorType, TickStatus
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from retrain_platform.automation.reasons import TRIGGER_TAG
from retrain_platform.check_history import FAILING_SINCE
from retrain_platform.ingest.sensor import LANDING_SENSOR_NAME, SCAN_ERROR_METADATA
from retrain_platform.ingest.sql_source import source_sensor_name
from retrain_platform.keys import ModelKeys
from retrain_platform.pipeline import retrain_job_name
from retrain_platform.spec.model_spec import ModelSpec

_READ = 200  # records read per source and query; assets and runs read the rest at the next look
_PAGES = 10  # pages of one check's executions read per look


@dataclass(frozen=True)
class Notification:
    """One event to tell people about; ``model`` is None for a platform-wide one (a shared sensor's error)."""

    kind: str
    model: str | None
    title: str
    detail: str = ""
    severity: str = "warning"  # "info", "warning" or "error"
    link: str = ""
    run_id: str = ""
    at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    @property
    def text(self) -> str:
        """One readable message: what, for which model, why, and where to look."""
        head = f"[{self.model or 'retrain_platform'}] {self.title}"
        return "\n".join(part for part in (head, self.detail, self.link) if part)

    def as_dict(self) -> dict:
        """JSON-ready fields (the webhook's ``json`` format and the cursor's outbox)."""
        return asdict(self)


@dataclass
class Position:
    """How far each source has been read (storage ids, check execution ids, a tick timestamp)."""

    checks: dict[str, int] = field(default_factory=dict)
    assets: dict[str, int] = field(default_factory=dict)
    runs: str | None = None
    ticks: float = 0.0


def _check_keys(keys: ModelKeys):
    # The checks whose failure is news. training_volume and champion_age fail to say a retrain is due, and the
    # retrain they start is reported (trigger_fired); reporting each day they stay due would only be noise.
    return [
        keys.schema_check,
        keys.data_quality_check,
        keys.drift_check,
        keys.performance_check,
        keys.live_performance_check,
        keys.prediction_drift_check,
    ]


def _ui(base: str, path: str) -> str:
    return f"{base.rstrip('/')}/{path}" if base else ""


def _asset_path(key: AssetKey) -> str:
    return "assets/" + "/".join(key.path)


def _executions_after(instance, check, seen: int) -> list:
    """Every execution of ``check`` with an id above ``seen``, oldest first (paged: a backfill makes hundreds)."""
    found, cursor = [], None
    for _ in range(_PAGES):
        page = instance.event_log_storage.get_asset_check_execution_history(check, limit=_READ, cursor=cursor)
        newer = [r for r in page if r.id > seen]
        found += newer
        if len(newer) < len(page) or len(page) < _READ:
            break
        cursor = page[-1].id
    return sorted(found, key=lambda r: r.id)


def _check_events(instance, spec, position, start, ui) -> Iterable[Notification]:
    for check in _check_keys(ModelKeys(spec.name)):
        name = check.to_user_string()
        if start:
            newest = instance.event_log_storage.get_asset_check_execution_history(check, limit=1)
            position.checks[name] = newest[0].id if newest else 0
            continue
        fresh = _executions_after(instance, check, position.checks.get(name, 0))
        # An execution still planned (its run is under way) is read again until it has a result.
        waiting = [r.id for r in fresh if r.status == AssetCheckExecutionRecordStatus.PLANNED]
        if fresh:
            position.checks[name] = min(waiting) - 1 if waiting else fresh[-1].id
        for record in fresh:
            if waiting and record.id >= min(waiting):
                break
            evaluation = record.evaluation
            if record.status != AssetCheckExecutionRecordStatus.FAILED or evaluation is None:
                continue
            meta = {k: getattr(v, "value", v) for k, v in (evaluation.metadata or {}).items()}
            partition = record.partition or ""
            description = evaluation.description or ""
            link = _ui(ui, f"runs/{record.run_id}")
            if check.name == "schema":
                yield Notification(
                    "quarantine",
                    spec.name,
                    f"partition {partition} quarantined: it does not match the spec",
                    f"{description}\nThe raw file is kept; fix it and land it again (same name) to re-validate.",
                    "error",
                    link,
                    record.run_id,
                )
            # A trigger check fails every day of an episode: its first day is the news.
            elif meta.get(FAILING_SINCE) in (None, partition):
                yield Notification(
                    "check_failed", spec.name, f"check {check.name} failed on {partition}", description, "warning", link
                )


def _asset_events(instance, spec, position, start, ui) -> Iterable[Notification]:
    keys = ModelKeys(spec.name)
    sources = [
        (keys.candidate_model, instance.fetch_materializations),
        (keys.production_model, instance.fetch_materializations),
        (keys.production_model, instance.fetch_observations),
        (keys.raw_batch, instance.fetch_observations),
    ]
    for key, fetch in sources:
        name = f"{key.to_user_string()}:{fetch.__name__}"
        if start:
            newest = fetch(key, limit=1, ascending=False).records
            position.assets[name] = newest[0].storage_id if newest else 0
            continue
        seen = position.assets.get(name, 0)
        result = fetch(AssetRecordsFilter(asset_key=key, after_storage_id=seen), limit=_READ, ascending=True)
        if result.records:
            position.assets[name] = result.records[-1].storage_id
        for record in result.records:
            event = record.asset_materialization or record.asset_observation
            meta = {k: getattr(v, "value", v) for k, v in (event.metadata or {}).items()}
            link = _ui(ui, _asset_path(key))
            if key == keys.raw_batch:
                if problem := meta.get(SCAN_ERROR_METADATA):
                    title = f"sensor {LANDING_SENSOR_NAME} could not read the landing folder"
                    yield Notification("sensor_error", spec.name, title, str(problem), "error", link)
                continue
            if key == keys.candidate_model:
                yield Notification(
                    "trigger_fired",
                    spec.name,
                    f"retrain ({meta.get('trigger', 'requested')}): candidate v{meta.get('version', '?')} trained",
                    f"reason: {meta.get('reason', '')}",
                    "info",
                    link,
                )
                continue
            decision = meta.get("decision")
            if decision in ("promoted", "rejected", "probation", "rollback"):
                yield Notification(
                    decision,
                    spec.name,
                    _decision_title(decision, meta),
                    str(meta.get("reason", "")),
                    "warning" if decision in ("rejected", "rollback") else "info",
                    link,
                )


def _decision_title(decision: str, meta: dict) -> str:
    candidate, champion = meta.get("candidate_version", "?"), meta.get("champion_version", "?")
    if decision == "promoted":
        return f"v{candidate} promoted to champion (was v{champion})"
    if decision == "rejected":
        return f"candidate v{candidate} rejected; v{champion} stays champion"
    if decision == "probation":
        return f"candidate v{candidate} on probation; v{champion} keeps serving"
    return f"rolled back from v{meta.get('from_version', '?')} to v{candidate} by {meta.get('by', '?')}"


def _models_of(run, specs: Sequence[ModelSpec]) -> set[str]:
    names = {spec.name for spec in specs}
    keys = [*(run.asset_selection or ()), *(c.asset_key for c in (run.asset_check_selection or ()))]
    found = {key.path[0] for key in keys if key.path and key.path[0] in names}
    if not found:
        found = {name for name in names if run.job_name.startswith(f"{name}_")}
    return found


def _quarantined(instance, model: str, run_id: str) -> bool:
    """Whether run ``run_id`` failed because it quarantined a partition of ``model`` (reported as a quarantine)."""
    records = instance.event_log_storage.get_asset_check_execution_history(ModelKeys(model).schema_check, limit=50)
    return any(r.run_id == run_id and r.status == AssetCheckExecutionRecordStatus.FAILED for r in records)


def _failure_detail(instance, run_id: str) -> str:
    """The failed steps' own error lines (what to fix), rather than the run's "steps failed" summary."""
    lines = []
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        event = entry.dagster_event
        error = event.step_failure_data.error if event.step_failure_data else None
        text = (getattr(error, "message", "") or "").strip()
        if text:
            lines.append(f"{event.step_key}: {text.splitlines()[0]}")
    return "\n".join(lines)


def _run_events(instance, specs, position, start, ui) -> Iterable[Notification]:
    failures = RunStatusChangeRecordsFilter(event_type=DagsterEventType.RUN_FAILURE)
    if start:
        newest = instance.fetch_run_status_changes(failures, limit=1, ascending=False).records
        position.runs = EventLogCursor.from_storage_id(newest[0].storage_id if newest else 0).to_string()
        return
    result = instance.fetch_run_status_changes(failures, limit=_READ, cursor=position.runs, ascending=True)
    if result.records:
        position.runs = result.cursor
    for record in result.records:
        run = instance.get_run_by_id(record.run_id)
        if run is None:
            continue
        message = _failure_detail(instance, run.run_id) or record.event_log_entry.dagster_event.message or ""
        link = _ui(ui, f"runs/{run.run_id}")
        models = _models_of(run, specs) or {None}
        for model in sorted(models, key=str):
            if model is not None and _quarantined(instance, model, run.run_id):
                continue  # a quarantine fails its ingest run; it is reported as the quarantine
            trains = model is not None and (
                run.job_name == retrain_job_name(model)
                or ModelKeys(model).candidate_model in (run.asset_selection or ())
            )
            kind = "retrain_failed" if trains else "run_failed"
            what = f"retrain ({run.tags.get(TRIGGER_TAG, 'requested')})" if trains else f"run {run.job_name}"
            yield Notification(kind, model, f"{what} failed", message, "error", link, run.run_id)


def _tick_events(instance, specs, position, start, ui, own_sensor: str) -> Iterable[Notification]:
    # The landing sensor serves every model: its own failures are the platform's (a model's unreadable folder is
    # reported as that model's raw_batch observation instead, see _asset_events).
    names = {source_sensor_name(spec.name): spec.name for spec in specs if spec.source is not None}
    newest = position.ticks
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        if state.instigator_name == own_sensor:
            continue
        ticks = instance.get_ticks(
            state.instigator_origin_id, state.selector_id, after=float(position.ticks), statuses=[TickStatus.FAILURE]
        )
        for tick in ticks:
            newest = max(newest, tick.timestamp)
            if start:
                continue
            error = tick.error.message.strip().splitlines()[0] if tick.error and tick.error.message else ""
            yield Notification(
                "sensor_error",
                names.get(state.instigator_name),
                f"sensor {state.instigator_name} failed",
                error,
                "error",
                _ui(ui, f"automation/sensors/{state.instigator_name}"),
            )
    if start and newest == 0.0:
        newest = dt.datetime.now(dt.UTC).timestamp()
    position.ticks = newest


def collect(
    instance: DagsterInstance,
    specs: Sequence[ModelSpec],
    position: Position,
    *,
    start: bool = False,
    ui: str = "",
    own_sensor: str = "",
) -> list[Notification]:
    """Events since ``position`` (which is advanced in place), oldest source first.

    With ``start`` the position is only moved to now: turning notifications on does not replay the history.
    ``ui`` is the Dagster UI's address, for links.
    """
    out: list[Notification] = []
    for spec in specs:
        out += _check_events(instance, spec, position, start, ui)
        out += _asset_events(instance, spec, position, start, ui)
    out += _run_events(instance, specs, position, start, ui)
    out += _tick_events(instance, specs, position, start, ui, own_sensor)
    return out
