"""The platform driven in-process at simulated times: what the daemon would do, one day at a time.

Each simulated day: that day's files are landed (by the caller); every landing sensor is ticked and its run
requests are executed; then Dagster's own automation evaluator (``evaluate_automation_conditions``, what the
daemon's automation sensor calls) decides what else to run, at the simulated time, until it requests nothing more.
Runs execute in-process on the given instance with the platform's real definitions, so every run,
materialization and check result is recorded there as under the daemon.

Used by ``retrain demo`` (:mod:`retrain_platform.demo`) and ``retrain backtest`` (:mod:`retrain_platform.backtest`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    Definitions,
    EvaluateAutomationConditionsResult,
    RunRequest,
    build_sensor_context,
    evaluate_automation_conditions,
)
from dagster._core.storage.tags import AUTOMATION_CONDITION_TAG

from retrain_platform.definitions import build_definitions
from retrain_platform.ingest.sensor import LANDING_SENSOR_NAME
from retrain_platform.keys import ModelKeys
from retrain_platform.pipeline import ingest_job_name, retrain_job_name
from retrain_platform.resources import build_resources
from retrain_platform.spec import ModelSpec
from retrain_platform.storage.lake import Lake

# The instance records every event whatever the console shows; the replay's callers print their own timeline
# instead of Dagster's step-by-step console log (expected failures, such as a quarantined partition, included).
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
# Evaluate automation early the next morning, after the cron ticks of the example specs (04:00 UTC).
EVALUATION_HOUR = 6

# The tag the daemon puts on the runs automation launches: training reads it to tell a scheduled or freshness
# retrain from a person's (without it every replayed cron retrain was recorded as a "manual launch").
FROM_AUTOMATION = {AUTOMATION_CONDITION_TAG: "true"}


@dataclass
class DayRow:
    """One model's day in the timeline."""

    day: str
    rows: int | None = None
    validation: str = "-"
    drift_share: float | None = None
    champion_metric: float | None = None
    champion_version: str | None = None
    retrain_reason: str | None = None
    candidate_version: str | None = None
    gate: str | None = None
    gate_reason: str | None = None
    # The version the gate decided on: the day's candidate, or an earlier one judged after probation.
    gate_version: str | None = None
    notes: list[str] = field(default_factory=list)


def _record(row: DayRow, spec: ModelSpec, result) -> None:
    """Fold the events of one executed run into a model's timeline row."""
    keys = ModelKeys(spec.name)
    for event in result.all_events:
        kind = event.event_type
        if kind in (DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_OBSERVATION):
            data = event.event_specific_data
            entry = data.materialization if kind == DagsterEventType.ASSET_MATERIALIZATION else data.asset_observation
            meta = {k: v.value for k, v in entry.metadata.items()}
            key: AssetKey = entry.asset_key
            if key == keys.features:
                row.rows = meta.get("dagster/row_count", row.rows)
                row.validation = "quarantined" if meta.get("quarantined") else "ok"
            elif key == keys.drift_report and "drifted_share" in meta:
                row.drift_share = round(meta["drifted_share"], 3)
            elif key == keys.champion_performance and spec.metric.name in meta:
                row.champion_metric = round(meta[spec.metric.name], 4)
                row.champion_version = meta["champion_version"]
            elif key == keys.candidate_model:
                row.retrain_reason = meta["reason"]
                row.candidate_version = meta["version"]
            elif key == keys.production_model and "decision" in meta:
                row.gate = meta["decision"]
                row.gate_reason = meta["reason"]
                row.gate_version = meta.get("candidate_version")
        elif kind == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if evaluation.asset_check_key == keys.schema_check and not evaluation.passed:
                row.notes.append(evaluation.description or "schema check failed")


def monitoring_runs(evaluation: EvaluateAutomationConditionsResult, keys: ModelKeys) -> dict[str, list[AssetKey]]:
    """The monitoring assets ``evaluation`` requested, per partition, oldest partition first.

    One run per partition, as the daemon launches them: its automation sensor makes one run request per
    partition key of a partitions definition (dagster's ``build_run_requests``), so ``drift_report`` and
    ``champion_performance`` requested for the same day run together.
    """
    runs: dict[str, list[AssetKey]] = defaultdict(list)
    for asset in (keys.drift_report, keys.champion_performance):
        for partition in evaluation.get_requested_partitions(asset) or []:
            runs[partition].append(asset)
    return dict(sorted(runs.items()))


class Replay:
    """Drives the platform day by day on a persistent instance."""

    def __init__(self, home: Path, instance: DagsterInstance, specs: list[ModelSpec], resources: dict | None = None):
        """Replay ``specs`` on ``instance``; ``resources`` defaults to the environment's under ``home``."""
        self.home = home
        self.instance = instance
        self.specs = {s.name: s for s in specs}
        # Resolved here (in-process, nothing reaches a UI): the replay writes landings into the very lake the
        # definitions' sensors read, RETRAIN_LAKE's when it is set.
        resources = resources or build_resources(home, resolve_env=True)
        self.defs: Definitions = build_definitions(specs, home, resources)
        self.lake: Lake = resources["lake"]
        self.sensor_cursor: str | None = None
        self.automation_cursor = None
        self.timeline: dict[str, list[DayRow]] = {name: [] for name in self.specs}

    def _execute(self, spec: ModelSpec, row: DayRow, job_name: str, **kwargs) -> None:
        """Execute one requested run in-process on the instance and fold its events into the timeline."""
        tags = {"retrain/replay": "true", **kwargs.pop("tags", {})}
        run = self.defs.resolve_job_def(job_name).execute_in_process(
            instance=self.instance, run_config=QUIET, tags=tags, raise_on_error=False, **kwargs
        )
        if _interrupted(run):
            # Dagster turns Ctrl-C and SIGTERM inside a step into a failed run; the replay would otherwise take it
            # for an ordinary failure, retry it and carry on, so a user could not stop a replay.
            raise KeyboardInterrupt(f"interrupted during run {run.run_id} of {job_name}")
        _record(row, spec, run)

    def sensor_requests(self) -> list[RunRequest]:
        """Tick the landing sensor once; its run requests, tagged as the daemon tags them."""
        sensor = self.defs.resolve_sensor_def(LANDING_SENSOR_NAME)
        context = build_sensor_context(instance=self.instance, cursor=self.sensor_cursor, resources={"lake": self.lake})
        result = sensor(context)
        self.sensor_cursor = getattr(result, "cursor", None) or context.cursor
        for event in getattr(result, "asset_events", None) or []:
            self.instance.report_runless_asset_event(event)  # as the daemon stores a tick's asset events
        return [
            request.with_replaced_attrs(tags={**request.tags, "dagster/sensor_name": sensor.name})
            for request in getattr(result, "run_requests", None) or []
        ]

    def tick_sensors(self, rows: dict[str, DayRow]) -> None:
        """Evaluate the landing sensor once and execute the runs it requests, each in its model's ingest job."""
        models = {ingest_job_name(name): spec for name, spec in self.specs.items()}
        for request in self.sensor_requests():
            spec = models[request.job_name]
            self._execute(
                spec, rows[spec.name], request.job_name, partition_key=request.partition_key, tags=request.tags
            )

    def run_automation(self, now: dt.datetime, rows: dict[str, DayRow]) -> None:
        """Evaluate the automation conditions at ``now`` and execute what they request, until quiet."""
        for _ in range(4):
            evaluation = evaluate_automation_conditions(
                defs=self.defs, instance=self.instance, cursor=self.automation_cursor, evaluation_time=now
            )
            self.automation_cursor = evaluation.cursor
            launched = False
            for name, spec in self.specs.items():
                keys = ModelKeys(name)
                for partition, assets in monitoring_runs(evaluation, keys).items():
                    self._execute(
                        spec,
                        rows[name],
                        ingest_job_name(name),
                        partition_key=partition,
                        asset_selection=assets,
                        tags=FROM_AUTOMATION,
                    )
                    launched = True
                selection = [
                    k for k in (keys.candidate_model, keys.production_model) if evaluation.get_num_requested(k)
                ]
                if selection:
                    self._execute(
                        spec, rows[name], retrain_job_name(name), asset_selection=selection, tags=FROM_AUTOMATION
                    )
                    launched = True
            if not launched:
                return

    def day(self, day: dt.date, land_files) -> dict[str, DayRow]:
        """Land one day's files, tick sensors, run automation; return the day's timeline rows."""
        rows = {name: DayRow(day=day.isoformat()) for name in self.specs}
        land_files(day, rows)
        self.tick_sensors(rows)
        now = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(EVALUATION_HOUR), tzinfo=dt.UTC)
        self.run_automation(now, rows)
        for name, row in rows.items():
            self.timeline[name].append(row)
        return rows


def _interrupted(run) -> bool:
    """Whether a run failed because the process was interrupted (SIGINT/SIGTERM), not because a step failed."""
    if run.success:
        return False
    for event in run.all_events:
        error = getattr(event.event_specific_data, "error", None)
        if error is not None and error.cls_name == "DagsterExecutionInterruptedError":
            return True
    return False
