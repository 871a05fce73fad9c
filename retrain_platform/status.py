"""``retrain status``: one row per model of what an operator asks first, cheap enough for fifty models.

Every fact is read where the platform already records it, so the board and the Dagster UI never disagree: the
champion and its holdout score from the registry alias (one MLflow call per model, no model load), everything
else from the Dagster instance's check and event records. The storage queries do not grow with a model's
history: one per check for its latest result on every partition, one per model for the gate's latest
observation, and a handful shared by all models (asset records, the newest results' metadata per partition
date, the newest failed runs).

"Newest" means the newest partition *date*, never the newest write: re-running an old day (a backfill) does not
make it the day the board reports.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field

import sqlalchemy as db
from dagster import AssetCheckKey, AssetRecordsFilter, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage

from retrain_platform.keys import ModelKeys
from retrain_platform.registry import PROMOTED_AT_TAG, ModelRegistry, RegistryUnavailable, holdout_score
from retrain_platform.spec.model_spec import ModelSpec

# Failed runs are read once for all models, newest first; a model whose last failure is older than this many
# failures of the whole platform shows none (the Runs page of the UI has the full history).
FAILED_RUNS_SCANNED = 500
# Live days judged per model when looking for the newest one with enough labels: the newest days usually still
# wait for theirs (labels come back days later), so the newest live result alone is mostly "no value yet".
LIVE_EXECUTIONS_SCANNED = 30
_JUDGED = (AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED)


@dataclass
class StatusRow:
    """One model's line of the board; ``None`` means "not known yet" (or not readable: see ``error``)."""

    model: str
    metric: str
    champion_version: str | None = None
    holdout_metric: float | None = None
    live_metric: float | None = None
    live_partition: str | None = None
    age_days: float | None = None
    newest_valid_partition: str | None = None
    drift_share: float | None = None
    drift_partition: str | None = None
    last_decision: str | None = None
    last_decision_version: str | None = None
    last_decision_reason: str | None = None
    last_decision_at: str | None = None
    failing_checks: list[str] = field(default_factory=list)
    quarantined_days: int = 0
    volume_rows: int | None = None
    volume_rows_needed: int | None = None
    volume_partitions: int | None = None
    volume_partitions_needed: int | None = None
    last_failed_run_id: str | None = None
    last_failed_run_at: str | None = None
    error: str | None = None

    def to_json(self) -> dict:
        """The row as JSON-ready values (NaN becomes null); the keys are the README's documented ones."""
        return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in asdict(self).items()}


def _iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="seconds")


def _metadata(record) -> dict:
    evaluation = record.evaluation if record is not None else None
    return {} if evaluation is None else {k: v.value for k, v in evaluation.metadata.items()}


def _newest_partitions(instance: DagsterInstance, checks: Sequence[AssetCheckKey]) -> dict:
    """Per check: ``{partition: passed}`` of each partition's latest judged result.

    One query for every check of every model, on the asset check executions table the SQL storages (SQLite,
    Postgres) keep. ``get_asset_check_partition_info`` answers the same but also joins each partition's latest
    materialization, per check: 40 ms a model, most of the board's time with fifty models. Other storages use it.
    """
    results: dict[AssetCheckKey, dict[str, bool]] = defaultdict(dict)
    storage = instance.event_log_storage
    if not isinstance(storage, SqlEventLogStorage):
        for info in storage.get_asset_check_partition_info(list(checks)):
            if info.partition_key is not None and info.latest_execution_status in _JUDGED:
                passed = info.latest_execution_status == AssetCheckExecutionRecordStatus.SUCCEEDED
                results[info.check_key][info.partition_key] = passed
        return results
    table = AssetCheckExecutionsTable
    wanted = {(c.asset_key.to_string(), c.name): c for c in checks}
    latest = (
        db.select(db.func.max(table.c.id))
        .where(
            table.c.asset_key.in_({a for a, _ in wanted}),
            table.c.check_name.in_({n for _, n in wanted}),
            table.c.partition.isnot(None),
            table.c.execution_status.in_([s.value for s in _JUDGED]),
        )
        .group_by(table.c.asset_key, table.c.check_name, table.c.partition)
    )
    query = db.select(table.c.asset_key, table.c.check_name, table.c.partition, table.c.execution_status).where(
        table.c.id.in_(latest)
    )
    with storage.index_connection() as conn:
        for asset_key, name, partition, status in conn.execute(query):
            if (asset_key, name) in wanted:  # the IN clauses above also match other pairs of the same names
                passed = status == AssetCheckExecutionRecordStatus.SUCCEEDED.value
                results[wanted[asset_key, name]][partition] = passed
    return results


def _results_on(instance: DagsterInstance, wanted: dict[AssetCheckKey, str]) -> dict:
    """The latest result of each check on the partition given for it: one query per distinct partition date
    (models ingesting the same days share them)."""
    by_day: dict[str, list[AssetCheckKey]] = defaultdict(list)
    for check, day in wanted.items():
        by_day[day].append(check)
    found = {}
    for day, checks in by_day.items():
        latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            checks, partition_filter=PartitionKeyFilter(key=day)
        )
        found.update({k: r for k, r in latest.items() if k in wanted})
    return found


def _live(instance: DagsterInstance, check: AssetCheckKey, metric: str) -> tuple[float | None, str | None]:
    """The champion's live metric on the newest day that had enough labels to be judged, and that day."""
    records = instance.event_log_storage.get_asset_check_execution_history(
        check, limit=LIVE_EXECUTIONS_SCANNED, status=set(_JUDGED)
    )
    latest: dict[str, float] = {}
    for record in records:  # newest execution first: the first one per partition is its latest
        if record.partition is not None and record.partition not in latest:
            value = _metadata(record).get(metric)
            latest[record.partition] = value if isinstance(value, float) else math.nan
    for day in sorted(latest, reverse=True):
        if math.isfinite(latest[day]):
            return latest[day], day
    return None, None


def _last_decision(instance: DagsterInstance, keys: ModelKeys, materialization) -> tuple[dict, float | None]:
    """The metadata and time of the gate's newest decision: a materialization (a promotion or a rollback) or an
    observation (a rejection, a day of probation), whichever came last."""
    observed = instance.fetch_observations(AssetRecordsFilter(asset_key=keys.production_model), limit=1).records
    events = [(r.timestamp, r.asset_observation) for r in observed]
    if materialization is not None:
        events.append((materialization.timestamp, materialization.asset_materialization))
    candidates = [(at, {k: v.value for k, v in event.metadata.items()}) for at, event in events]
    candidates = [(at, meta) for at, meta in candidates if "decision" in meta]
    if not candidates:
        return {}, None
    at, meta = max(candidates, key=lambda c: c[0])
    return meta, at


def _failed_runs(instance: DagsterInstance, specs: Iterable[ModelSpec]) -> dict[str, tuple[str, float | None]]:
    """Per model, its newest failed run (id, end time) among the platform's newest failed runs (one query)."""
    by_job = {}
    for spec in specs:
        keys = ModelKeys(spec.name)
        by_job.update({job: spec.name for job in (keys.ingest_job, keys.retrain_job, keys.live_job)})
    models = set(by_job.values())
    newest: dict[str, tuple[str, float | None]] = {}
    records = instance.get_run_records(RunsFilter(statuses=[DagsterRunStatus.FAILURE]), limit=FAILED_RUNS_SCANNED)
    for record in records:  # newest first
        run = record.dagster_run
        # Automation and backfills run the implicit asset job: their assets say whose run it was.
        owners = {by_job[run.job_name]} if run.job_name in by_job else set()
        owners |= {key.path[0] for key in run.asset_selection or ()}
        owners |= {key.asset_key.path[0] for key in run.asset_check_selection or ()}
        for model in owners & models:
            if model not in newest:
                newest[model] = (run.run_id, record.end_time or record.update_timestamp.timestamp())
    return newest


def status_board(
    specs: Sequence[ModelSpec],
    registry: ModelRegistry,
    instance: DagsterInstance,
    now: dt.datetime | None = None,
) -> list[StatusRow]:
    """One :class:`StatusRow` per spec, in the given order.

    A registry that fails to answer for a model gives that row an ``error`` and blank champion fields; its
    Dagster facts are still filled in. Errors of the Dagster instance itself propagate (nothing can be shown).
    """
    now = now or dt.datetime.now(dt.UTC)
    keys = {spec.name: ModelKeys(spec.name) for spec in specs}
    checks = {spec.name: keys[spec.name].checks(live=spec.feedback is not None) for spec in specs}
    partitions = _newest_partitions(instance, [c for cs in checks.values() for c in cs])
    newest = {check: max(days) for check, days in partitions.items() if days}
    wanted = {k: newest[k] for name in keys for k in (keys[name].drift_check, keys[name].volume_check) if k in newest}
    results = _results_on(instance, wanted)
    asset_keys = [k for name in keys for k in (keys[name].production_model, keys[name].candidate_model)]
    records = {r.asset_entry.asset_key: r.asset_entry for r in instance.get_asset_records(asset_keys)}
    failures = _failed_runs(instance, specs)

    rows = []
    for spec in specs:
        k = keys[spec.name]
        row = StatusRow(spec.name, spec.metric.name)
        schema = partitions.get(k.schema_check, {})
        row.quarantined_days = sum(not passed for passed in schema.values())
        row.newest_valid_partition = max((day for day, passed in schema.items() if passed), default=None)
        row.failing_checks = [c.name for c in checks[spec.name] if c in newest and not partitions[c][newest[c]]]
        if k.drift_check in results:
            share = _metadata(results[k.drift_check]).get("drifted_share")
            if share is not None:  # before a champion the check passes with nothing to compare
                row.drift_share, row.drift_partition = float(share), newest[k.drift_check]
        _fill_volume(row, spec, _metadata(results.get(k.volume_check)), trained=k.candidate_model in records)
        production = records.get(k.production_model)
        decision, decided_at = _last_decision(
            instance, k, production.last_materialization_record if production else None
        )
        if decision:
            row.last_decision = str(decision["decision"])
            row.last_decision_version = str(decision.get("candidate_version") or "") or None
            row.last_decision_reason = str(decision.get("reason", ""))
            row.last_decision_at = _iso(decided_at)
        if spec.feedback is not None:
            row.live_metric, row.live_partition = _live(instance, k.live_performance_check, spec.metric.name)
        if spec.name in failures:
            row.last_failed_run_id, at = failures[spec.name]
            row.last_failed_run_at = _iso(at)
        try:
            champion = registry.champion(spec.name)
        except RegistryUnavailable as err:
            row.error = str(err)
            champion = None
        if champion is not None:
            row.champion_version = champion.version
            row.holdout_metric = holdout_score(champion.tags)
            promoted = champion.tags.get(PROMOTED_AT_TAG)
            since = dt.datetime.fromisoformat(promoted) if promoted else champion.created
            row.age_days = (now - since).total_seconds() / 86400
        rows.append(row)
    return rows


def _fill_volume(row: StatusRow, spec: ModelSpec, volume: dict, *, trained: bool) -> None:
    """Progress to the volume trigger, as the newest ``training_volume`` check measured it: new valid rows
    against ``triggers.new_rows`` once a model was trained, else the first training's partitions and rows."""
    if "rows_since_training" not in volume:
        return
    row.volume_rows = int(volume["rows_since_training"])
    if trained:
        row.volume_rows_needed = spec.triggers.new_rows
    else:
        row.volume_rows_needed = spec.training.min_rows
        row.volume_partitions = int(volume["valid_partitions"])
        row.volume_partitions_needed = spec.training.min_partitions


# -- the table ------------------------------------------------------------------------------------------------------

BLANK = "-"


def _number(value: float | None, pattern: str) -> str:
    return BLANK if value is None or not math.isfinite(value) else format(value, pattern)


def _volume(row: StatusRow) -> str:
    if row.volume_rows is None:
        return BLANK
    rows = f"{row.volume_rows}/{row.volume_rows_needed}" if row.volume_rows_needed else str(row.volume_rows)
    if row.volume_partitions is None:
        return rows
    return f"{row.volume_partitions}/{row.volume_partitions_needed}d {rows}"


def _ago(iso: str, now: dt.datetime) -> str:
    seconds = max((now - dt.datetime.fromisoformat(iso)).total_seconds(), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size:.0f}{unit}"
    return "now"


def _champion(row: StatusRow) -> str:
    if row.champion_version is not None:
        return f"v{row.champion_version}"
    return "error" if row.error else "none"


def _decision(row: StatusRow) -> str:
    if row.last_decision is None:
        return BLANK
    return row.last_decision + (f" v{row.last_decision_version}" if row.last_decision_version else "")


def _failed(row: StatusRow, now: dt.datetime) -> str:
    if row.last_failed_run_id is None:
        return BLANK
    return row.last_failed_run_id[:8] + (f" {_ago(row.last_failed_run_at, now)}" if row.last_failed_run_at else "")


# (header, cell, may shrink): the free-text columns give way first when the table is wider than the terminal.
COLUMNS: list[tuple[str, Callable[[StatusRow, dt.datetime], str], bool]] = [
    ("model", lambda r, _: r.model, False),
    ("champ", lambda r, _: _champion(r), False),
    ("metric", lambda r, _: r.metric, False),
    ("holdout", lambda r, _: _number(r.holdout_metric, ".4g"), False),
    ("live", lambda r, _: _number(r.live_metric, ".4g"), False),
    ("age", lambda r, _: BLANK if r.age_days is None else f"{r.age_days:.1f}d", False),
    ("valid to", lambda r, _: r.newest_valid_partition or BLANK, False),
    ("drift", lambda r, _: _number(r.drift_share, ".0%"), False),
    ("decision", lambda r, _: _decision(r), True),
    ("failing", lambda r, _: ",".join(r.failing_checks) or BLANK, True),
    ("quar", lambda r, _: str(r.quarantined_days), False),
    ("volume", lambda r, _: _volume(r), True),
    ("failed run", _failed, False),
]
_GAP = "  "
# A cut column keeps at least this many characters (or its header's).
_MIN_CUT = 8


def format_table(rows: Sequence[StatusRow], width: int = 120, now: dt.datetime | None = None) -> str:
    """The board as aligned text no wider than ``width`` when it can be (free-text cells are cut with ``…``;
    ``--json`` has them whole), with each row's error below it. A failed run's age is counted to ``now``."""
    now = now or dt.datetime.now(dt.UTC)
    table = [[h for h, _, _ in COLUMNS]] + [[cell(row, now) for _, cell, _ in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    excess = sum(widths) + len(_GAP) * (len(widths) - 1) - width
    shrinkable = [i for i, (header, _, shrinks) in enumerate(COLUMNS) if shrinks]
    while excess > 0:
        cuttable = [i for i in shrinkable if widths[i] > max(len(COLUMNS[i][0]), _MIN_CUT)]
        if not cuttable:
            break
        widest = max(cuttable, key=lambda i: widths[i])
        widths[widest] -= 1
        excess -= 1
    lines = [
        _GAP.join(
            (text if len(text) <= w else text[: w - 1] + "…").ljust(w) for text, w in zip(line, widths, strict=True)
        ).rstrip()
        for line in table
    ]
    lines += [f"{row.model}: {row.error}" for row in rows if row.error]
    return "\n".join(lines)
