"""The landing sensor: one for every model, watching each model's landing folder for new or changed daily files.

A file's fingerprint (modification time and size) identifies one landing of it. The sensor requests an ingest run
per landing and then follows that run through the tag ``retrain/landing`` (``model:day:fingerprint``), which every
attempt carries, Dagster's own run retries included. Each tick the newest run with the tag decides: a success
finishes the landing, a run still queued or going is waited for, and a failed or canceled run (a full disk, a
read-only lake, a killed pod) is requested again after a bounded exponential backoff, with the attempt number in
its run key, so a fault that goes away needs nobody to touch the file. A run that failed only because the platform
refused the data (the blocking schema check quarantined it) is a decision, not a fault, and is not retried: a
corrected re-landing is a new landing.

Entries that cannot be a partition (a symbolic link, a directory, a suffix in the wrong case or of the wrong
format, a name that is not a zero-padded date, a date outside the partition range) are reported in the tick log
and the skip reason, once per fingerprint, with what to do; they are never followed, copied or deleted. Dot-files
are writes still in progress and are ignored.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal, get_args

from dagster import (
    AssetKey,
    AssetObservation,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    JobDefinition,
    PartitionsDefinition,
    RunRecord,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.storage.tags import WILL_RETRY_TAG
from dagster._utils.error import SerializableErrorInfo
from upath import UPath

from retrain_platform.failpoints import failpoint
from retrain_platform.keys import ModelKeys
from retrain_platform.spec.model_spec import LandingSpec, ModelSpec
from retrain_platform.storage.lake import Lake, is_remote, list_folder

DEFAULT_INTERVAL_SECONDS = 30
DEFAULT_LANDING_INTERVAL_SECONDS = 5
LANDING_INTERVAL_ENV = "RETRAIN_LANDING_INTERVAL_SECONDS"
LANDING_SENSOR_NAME = "landing_sensor"
SCAN_ERROR_METADATA = "landing_error"
"""Metadata key of the ``raw_batch`` observation the landing sensor records when a model's folder cannot be read."""
FINGERPRINT_METADATA = "landed_fingerprint"

LANDED_FILE_TAG = "retrain/landed_file"
LANDING_TAG = "retrain/landing"
"""Run tag naming the landing a run ingests, ``model:day:fingerprint``: the same on every attempt."""
ATTEMPT_TAG = "retrain/landing_attempt"
"""Run tag with the attempt number (0 for the first request) of the landing's run."""
PREVIOUS_RUN_TAG = "retrain/previous_run"
"""Run tag on a retry: the id of the failed or canceled run it replaces."""

# Retries wait one sensor interval, then twice as long after each further failure: a lasting fault (a disk that
# stays full) then costs a handful of failed runs an hour rather than one per tick. The cap bounds how long a fault
# that has been fixed goes unnoticed: the partition is ingested at most an hour after the fix, with nobody involved.
RETRY_BACKOFF_FACTOR = 2
RETRY_BACKOFF_CAP_SECONDS = 3600

# A run failing only with this error was stopped by a blocking asset check: the schema check quarantined the data.
_REFUSED_DATA_ERROR = "DagsterAssetCheckFailedError"
_SETTLED_FAILURES = (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
_LANDING_SUFFIXES = frozenset(f".{name}" for name in get_args(LandingSpec.model_fields["format"].annotation))
_PARTITION_NAME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

REQUESTED, DONE, REJECTED = "requested", "done", "rejected"


def sensor_interval() -> int:
    """Seconds between ticks (``RETRAIN_SENSOR_INTERVAL_SECONDS``; short values are for tests)."""
    return int(os.environ.get("RETRAIN_SENSOR_INTERVAL_SECONDS", DEFAULT_INTERVAL_SECONDS))


def retry_delay(attempt: int, interval: float) -> float:
    """Seconds to wait after attempt ``attempt`` (0 for the first run) failed before requesting the next."""
    return min(interval * RETRY_BACKOFF_FACTOR**attempt, RETRY_BACKOFF_CAP_SECONDS)


def fingerprint(path: Path | UPath) -> str:
    """What identifies one landing of a file: modification time and size (cheap; no content is read).

    Taken with ``lstat``: a symbolic link is fingerprinted as the link, never through it. An object is identified
    by its ETag (a new PUT of the same name gets a new one, even within the same second) and size.
    """
    if is_remote(path):
        info = path.fs.info(path.path)
        tag = info.get("ETag") or info.get("etag") or info.get("LastModified") or info.get("mtime") or ""
        return f"{str(tag).strip(chr(34))}-{info.get('size')}"
    info = path.lstat()
    return f"{info.st_mtime_ns}-{info.st_size}"


def landing_id(model: str, partition: str, landed: str) -> str:
    """The value of :data:`LANDING_TAG` for one landing (also the run key of its first attempt)."""
    return f"{model}:{partition}:{landed}"


def already_ingested(instance: DagsterInstance, key: AssetKey, partition: str, landed: str) -> bool:
    """Whether ``raw_batch`` already holds this exact landing (its metadata records the fingerprint).

    Asked only for landings no tagged run is known for, so a fresh or lost cursor (a new deployment, an instance
    the demo replayed into) does not re-ingest every file in the folder.
    """
    records = instance.fetch_materializations(AssetRecordsFilter(key, asset_partitions=[partition]), limit=1)
    if not records.records:
        return False
    recorded = records.records[0].asset_materialization.metadata.get(FINGERPRINT_METADATA)
    return recorded is not None and recorded.value == landed


def landing_entries(folder: Path | UPath) -> list[Path | UPath]:
    """What may be meant as a landing: visible entries whose suffix, in any case, is a landing format.

    Links, directories and wrong suffixes among them are reported by :func:`rejection`, not skipped; other names
    (a README, a tool's ``.tmp`` file) and dot-files (writes in progress) are left alone.
    """
    found = list_folder(folder)
    return sorted(p for p in found if not p.name.startswith(".") and p.suffix.lower() in _LANDING_SUFFIXES)


def rejection(path: Path, spec: ModelSpec, partitions_def: PartitionsDefinition) -> str | None:
    """Why ``path`` cannot be a partition of ``spec`` and what to do, or None if it can."""
    return (
        _entry_problem(path, spec)
        or _suffix_problem(path, spec)
        or _name_problem(path, spec)
        or _range_problem(path, spec, partitions_def)
    )


_KINDS = {
    stat.S_IFDIR: "directory",
    stat.S_IFIFO: "named pipe",
    stat.S_IFSOCK: "socket",
    stat.S_IFCHR: "device",
    stat.S_IFBLK: "device",
}


def _entry_problem(path: Path | UPath, spec: ModelSpec) -> str | None:
    if is_remote(path):  # an object store has no links or special files; a prefix is its only non-object
        return _not_a_file(path, spec, "directory") if path.is_dir() else None
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        return (
            f"{path}: is a symbolic link (to {os.readlink(path)}); links in a landing folder are never followed. "
            f"Land the file itself: copy it into {path.parent} under a dot-name, then rename it to {path.name}."
        )
    if not stat.S_ISREG(mode):
        return _not_a_file(path, spec, _KINDS.get(stat.S_IFMT(mode), "special file"))
    return None


def _not_a_file(path: Path | UPath, spec: ModelSpec, kind: str) -> str:
    return (
        f"{path}: is a {kind}, not a regular file; land each day as one file named "
        f"YYYY-MM-DD{spec.landing.suffix}. Move the {kind} out of {path.parent}."
    )


def _suffix_problem(path: Path, spec: ModelSpec) -> str | None:
    wanted = spec.landing.suffix
    if path.suffix == wanted:
        return None
    if path.suffix.lower() == wanted:
        return f"{path}: the suffix {path.suffix} must be lower case; rename to {path.stem}{wanted}"
    return (
        f"{path}: model {spec.name!r} lands {spec.landing.format} files (landing.format in its spec), "
        f"not {path.suffix.lstrip('.')}; convert the file to {spec.landing.format} and land it as "
        f"{path.stem}{wanted}, or land it for a model whose landing.format is {path.suffix.lstrip('.')}"
    )


def _name_problem(path: Path, spec: ModelSpec) -> str | None:
    if _PARTITION_NAME.fullmatch(path.stem) and _as_date(path.stem):
        return None
    # strptime alone accepts "2026-3-9"; a padded rename is the fix, so suggest it when the name is that close.
    loose = _as_date(path.stem)
    hint = f"; rename to {loose.isoformat()}{spec.landing.suffix}" if loose else ""
    return (
        f"{path}: file name is not a date in YYYY-MM-DD form; name daily files YYYY-MM-DD{spec.landing.suffix} "
        f"after the day their rows belong to{hint}"
    )


def _as_date(text: str) -> dt.date | None:
    # strptime, not date.fromisoformat: on Python 3.11 the latter also accepts "20260305".
    try:
        return dt.datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        return None


def _range_problem(path: Path, spec: ModelSpec, partitions_def: PartitionsDefinition) -> str | None:
    if partitions_def.has_partition_key(path.stem):
        return None
    last = partitions_def.get_last_partition_key()
    return (
        f"{path}: {path.stem} is outside the partitions of model {spec.name!r} "
        f"({spec.partitions.start_date} to {last}; a day becomes a partition once it has ended). "
        "Rename the file to the day its rows belong to, or move partitions.start_date in the spec."
    )


@dataclass(frozen=True)
class Landing:
    """What the sensor's cursor remembers about one file: its landing, and where following its run got to.

    ``state`` is ``requested`` (a run was or is about to be requested; ``attempt`` and ``requested_at`` say which
    and when), ``done`` (ingested, or refused by validation: nothing more to do until it changes) or ``rejected``
    (it cannot be a partition; reported once).
    """

    fingerprint: str
    state: Literal["requested", "done", "rejected"]
    attempt: int = 0
    requested_at: str | None = None

    @classmethod
    def load(cls, value: dict | str) -> Landing | None:
        """An entry from the cursor; None for a fingerprint an earlier version stored before its run succeeded."""
        if isinstance(value, dict):
            return cls(**value)
        # Earlier cursors held "fingerprint" or "rejected:fingerprint". A bare fingerprint was recorded when its
        # run was requested, not when it succeeded: forget it, so the instance is asked whether it was ingested.
        return cls(value.removeprefix("rejected:"), REJECTED) if value.startswith("rejected:") else None


def load_cursor(cursor: str | None) -> dict[str, Landing]:
    """The sensor's cursor: file name -> :class:`Landing`."""
    entries = {name: Landing.load(value) for name, value in json.loads(cursor or "{}").items()}
    return {name: entry for name, entry in entries.items() if entry is not None}


def dump_cursor(entries: dict[str, Landing]) -> str:
    """The cursor as the sensor stores it (JSON, entries without unset fields)."""
    plain = {name: {k: v for k, v in asdict(entry).items() if v is not None} for name, entry in entries.items()}
    return json.dumps(plain, sort_keys=True)


def latest_run(instance: DagsterInstance, landing: str) -> RunRecord | None:
    """The newest run tagged with ``landing``: the last attempt, or Dagster's automatic retry of it."""
    records = instance.get_run_records(RunsFilter(tags={LANDING_TAG: landing}), limit=1)
    return records[0] if records else None


def step_errors(instance: DagsterInstance, run_id: str) -> list[SerializableErrorInfo]:
    """The errors of a run's failed steps: user code's own error (an ``OSError``), not Dagster's wrapper of it."""
    events = instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE)
    errors = [event.dagster_event.step_failure_data.error for event in events]
    return [error.cause or error for error in errors if error is not None]


def refused_data(errors: list[SerializableErrorInfo]) -> bool:
    """Whether the steps failed only because a blocking check refused the data (a quarantine, not a fault)."""
    return bool(errors) and all(error.cls_name == _REFUSED_DATA_ERROR for error in errors)


def _first_line(errors: list[SerializableErrorInfo]) -> str:
    if not errors:
        return "no step failed: the run was stopped before or between steps"
    lines = errors[0].message.strip().splitlines()
    return (lines[0] if lines else errors[0].cls_name)[:300]


@dataclass
class _Tick:
    """One evaluation of one model's landing sensor: what it requests, reports and is waiting for."""

    context: SensorEvaluationContext
    spec: ModelSpec
    keys: ModelKeys
    job_name: str
    lake: Lake
    now: float
    interval: float
    requests: list[RunRequest]
    reports: list[str]
    waiting: list[str]

    def follow(self, path: Path, entry: Landing) -> Landing:
        """Advance one acceptable landing by what its newest run says; returns the entry to remember."""
        landing = landing_id(self.spec.name, path.stem, entry.fingerprint)
        record = latest_run(self.context.instance, landing)
        if record is None:
            # No tagged run: ingested before runs were tagged (or by hand), requested but not yet created by the
            # daemon (wait rather than ask twice), or new.
            if already_ingested(self.context.instance, self.keys.raw_batch, path.stem, entry.fingerprint):
                return replace(entry, state=DONE)
            return entry if entry.requested_at else self.request(path, entry, 0)
        run = record.dagster_run
        if run.status == DagsterRunStatus.SUCCESS:
            return replace(entry, state=DONE)
        if run.status not in _SETTLED_FAILURES or run.tags.get(WILL_RETRY_TAG) == "true":
            # In progress, or Dagster's run retries (dagster.yaml) set WILL_RETRY_TAG: it launches the next attempt
            # itself, with this run's tags, so that run will be the newest with the landing tag.
            return entry
        return self.after_failure(path, entry, record)

    def after_failure(self, path: Path, entry: Landing, record: RunRecord) -> Landing:
        """A failed or canceled run: done if it only refused the data, else retried once its backoff has passed."""
        run = record.dagster_run
        errors = step_errors(self.context.instance, run.run_id)
        if run.status == DagsterRunStatus.FAILURE and refused_data(errors):
            return replace(entry, state=DONE)  # quarantined: a decision any retry would repeat
        attempt = int(run.tags.get(ATTEMPT_TAG, entry.attempt))
        failed_at = record.end_time or record.update_timestamp.timestamp()
        due = failed_at + retry_delay(attempt, self.interval)
        if self.now < due:
            self.waiting.append(f"{path.name}: run {run.run_id} {run.status.value}; retry {attempt + 1} at {_iso(due)}")
            return entry
        self.context.log.warning(
            f"{path}: retrying the ingest of partition {path.stem} (attempt {attempt + 1}): previous run "
            f"{run.run_id} ended {run.status.value} ({_first_line(errors)})"
        )
        return self.request(path, entry, attempt + 1, previous_run=run.run_id)

    def request(self, path: Path, entry: Landing, attempt: int, previous_run: str | None = None) -> Landing:
        """Request attempt ``attempt`` of the landing's ingest run."""
        landing = landing_id(self.spec.name, path.stem, entry.fingerprint)
        tags = {LANDED_FILE_TAG: self.lake.relative(path), LANDING_TAG: landing, ATTEMPT_TAG: str(attempt)}
        if previous_run:
            tags[PREVIOUS_RUN_TAG] = previous_run
        # The first attempt's run key is the landing itself (as before retries existed), so a run an earlier
        # version requested for the same landing is not requested again.
        run_key = landing if attempt == 0 else f"{landing}:attempt-{attempt}"
        self.requests.append(RunRequest(run_key=run_key, job_name=self.job_name, partition_key=path.stem, tags=tags))
        return Landing(entry.fingerprint, REQUESTED, attempt, _iso(self.now))

    def reject(self, path: Path, entry: Landing | None, landed: str, reason: str) -> Landing:
        """Report a file that cannot be a partition, once per fingerprint."""
        rejected = Landing(landed, REJECTED)
        if entry != rejected:
            self.context.log.warning(reason)
            self.reports.append(reason)
        return rejected


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class LandingTarget:
    """One model the landing sensor watches: its spec, the ingest job a landing starts, and its partitions."""

    spec: ModelSpec
    job: JobDefinition
    """The model's ingest job (as ``define_asset_job`` returns it, resolved when the definitions are)."""
    partitions_def: PartitionsDefinition


def landing_interval() -> int:
    """Seconds between landing sensor ticks: ``RETRAIN_LANDING_INTERVAL_SECONDS`` (default 5), never longer than
    ``RETRAIN_SENSOR_INTERVAL_SECONDS`` when that is set shorter (tests)."""
    interval = int(os.environ.get(LANDING_INTERVAL_ENV, DEFAULT_LANDING_INTERVAL_SECONDS))
    return min(interval, sensor_interval())


def load_cursors(cursor: str | None) -> dict[str, dict[str, Landing]]:
    """The landing sensor's cursor: model -> file name -> :class:`Landing`."""
    models = json.loads(cursor or "{}").get("models", {})
    return {model: load_cursor(json.dumps(entries)) for model, entries in models.items()}


def dump_cursors(models: dict[str, dict[str, Landing]], errors: dict[str, str]) -> str:
    """The cursor as the sensor stores it: every model's entries, and the scan error last reported per model."""
    plain = {model: json.loads(dump_cursor(entries)) for model, entries in sorted(models.items())}
    return json.dumps({"models": plain, "errors": errors}, sort_keys=True)


def _scan(tick: _Tick, target: LandingTarget, entries: dict[str, Landing]) -> dict[str, Landing]:
    """One model's landing folder against its cursor entries; returns the entries to remember."""
    failpoint(f"landing.scan.{target.spec.name}")
    entries = dict(entries)
    for path in landing_entries(tick.lake.landing_dir(target.spec)):
        landed = fingerprint(path)
        entry = entries.get(path.name)
        if entry is not None and entry.fingerprint == landed and entry.state == DONE:
            continue
        if entry is None or entry.fingerprint != landed or entry.state == REJECTED:
            # A rejection is re-examined every tick: the day may have ended since, or start_date moved.
            if reason := rejection(path, target.spec, target.partitions_def):
                entries[path.name] = tick.reject(path, entry, landed, reason)
                continue
            entry = Landing(landed, REQUESTED)  # not requested yet (no requested_at)
        entries[path.name] = tick.follow(path, entry)
    return entries


def build_landing_sensor(targets: Sequence[LandingTarget], clock: Callable[[], float] = time.time) -> SensorDefinition:
    """The one sensor that turns files landing in every model's landing folder into ingest runs, retried after
    faults.

    One sensor for all models rather than one each: a tick lists every folder (cheap next to a tick's own cost in
    the daemon), so the interval can be short (landing to ingest in seconds) while fifty models store one tick per
    interval, not fifty. A model whose folder cannot be read does not hold the others back: its entries stay as
    they were, the tick goes on, and the error is recorded once (per distinct message) as an observation of the
    model's ``raw_batch``, which the UI shows on the asset and notifications report as a ``sensor_error``.

    ``clock`` (seconds since the epoch) decides when a retry's backoff has passed; tests pass their own.
    """
    interval = landing_interval()
    # Retries back off from the general sensor interval, not the short landing one, so a lasting fault costs a
    # handful of failed runs an hour.
    backoff = sensor_interval()
    names = ", ".join(t.spec.name for t in targets)

    @sensor(
        name=LANDING_SENSOR_NAME,
        jobs=[t.job for t in targets],
        minimum_interval_seconds=interval,
        default_status=DefaultSensorStatus.RUNNING,
        description=f"Requests an ingest run for each new or changed file in the landing folder of {names}, "
        "and again after a run failed for a cause other than the data.",
    )
    def landing_sensor(context: SensorEvaluationContext, lake: Lake) -> SensorResult | SkipReason:
        """Request a run per new or changed landing, retry failed ones, report files that cannot be partitions."""
        models = load_cursors(context.cursor)
        errors: dict[str, str] = json.loads(context.cursor or "{}").get("errors", {})
        now = clock()
        requests, reports, waiting, events = [], [], [], []
        for target in targets:
            name = target.spec.name
            keys = ModelKeys(name)
            tick = _Tick(context, target.spec, keys, target.job.name, lake, now, backoff, requests, reports, waiting)
            try:
                models[name] = _scan(tick, target, models.get(name, {}))
            except Exception as err:  # one model's folder must not stop the others' landings
                detail = (str(err).strip().splitlines() or [""])[0][:300]
                problem = (
                    f"{lake.landing_dir(target.spec)}: the landing folder of {name} could not be read "
                    f"({type(err).__name__}: {detail}); its landings wait until it can. "
                    "Check that the folder (or bucket) exists and this process may list and read it."
                )
                context.log.error(problem)
                reports.append(problem)
                if errors.get(name) != problem:
                    metadata = {SCAN_ERROR_METADATA: problem}
                    events.append(AssetObservation(asset_key=keys.raw_batch, metadata=metadata))
                errors[name] = problem
                continue
            errors.pop(name, None)
        cursor = dump_cursors(models, errors)
        if requests or events:
            return SensorResult(run_requests=requests, cursor=cursor, asset_events=events)
        context.update_cursor(cursor)
        return SkipReason("; ".join(reports + waiting) or "no new or changed files")

    return landing_sensor
