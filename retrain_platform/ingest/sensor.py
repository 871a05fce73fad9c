"""The landing sensor: one per model, watching its landing folder for new or changed daily files.

A file's fingerprint (modification time and size) is part of the run key, so a tick never requests the same
landing twice, while a corrected re-landing of a day gets a new run. Entries that cannot be a partition (a
symbolic link, a directory, a suffix in the wrong case or of the wrong format, a name that is not a zero-padded
date, a date outside the partition range) are reported in the tick log and the skip reason, once per
fingerprint, with what to do; they are never followed, copied or deleted. Dot-files are writes still in progress
and are ignored.
"""

import datetime as dt
import json
import os
import re
import stat
from pathlib import Path
from typing import get_args

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    DefaultSensorStatus,
    JobDefinition,
    PartitionsDefinition,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from retrain_platform.keys import ModelKeys
from retrain_platform.spec.model_spec import LandingSpec, ModelSpec
from retrain_platform.storage.lake import Lake

DEFAULT_INTERVAL_SECONDS = 30
FINGERPRINT_METADATA = "landed_fingerprint"

_LANDING_SUFFIXES = frozenset(f".{name}" for name in get_args(LandingSpec.model_fields["format"].annotation))
_PARTITION_NAME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def sensor_interval() -> int:
    """Seconds between ticks (``RETRAIN_SENSOR_INTERVAL_SECONDS``; short values are for tests)."""
    return int(os.environ.get("RETRAIN_SENSOR_INTERVAL_SECONDS", DEFAULT_INTERVAL_SECONDS))


def fingerprint(path: Path) -> str:
    """What identifies one landing of a file: modification time and size (cheap; no content is read).

    Taken with ``lstat``: a symbolic link is fingerprinted as the link, never through it.
    """
    info = path.lstat()
    return f"{info.st_mtime_ns}-{info.st_size}"


def already_ingested(instance: DagsterInstance, key: AssetKey, partition: str, landed: str) -> bool:
    """Whether ``raw_batch`` already holds this exact landing (its metadata records the fingerprint).

    Only asked for files the cursor does not know, so a fresh or lost cursor (a new deployment, an instance the
    demo replayed into) does not re-ingest every file in the folder.
    """
    records = instance.fetch_materializations(AssetRecordsFilter(key, asset_partitions=[partition]), limit=1)
    if not records.records:
        return False
    recorded = records.records[0].asset_materialization.metadata.get(FINGERPRINT_METADATA)
    return recorded is not None and recorded.value == landed


def landing_entries(folder: Path) -> list[Path]:
    """What may be meant as a landing: visible entries whose suffix, in any case, is a landing format.

    Links, directories and wrong suffixes among them are reported by :func:`rejection`, not skipped; other names
    (a README, a tool's ``.tmp`` file) and dot-files (writes in progress) are left alone.
    """
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.suffix.lower() in _LANDING_SUFFIXES)


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


def _entry_problem(path: Path, spec: ModelSpec) -> str | None:
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        return (
            f"{path}: is a symbolic link (to {os.readlink(path)}); links in a landing folder are never followed. "
            f"Land the file itself: copy it into {path.parent} under a dot-name, then rename it to {path.name}."
        )
    if not stat.S_ISREG(mode):
        kind = _KINDS.get(stat.S_IFMT(mode), "special file")
        return (
            f"{path}: is a {kind}, not a regular file; land each day as one file named "
            f"YYYY-MM-DD{spec.landing.suffix}. Move the {kind} out of {path.parent}."
        )
    return None


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


def build_landing_sensor(spec: ModelSpec, job: JobDefinition, partitions_def: PartitionsDefinition) -> SensorDefinition:
    """The sensor that turns files landing in ``spec``'s landing folder into ingest runs."""
    keys = ModelKeys(spec.name)

    @sensor(
        name=f"{spec.name}_landing_sensor",
        job=job,
        minimum_interval_seconds=sensor_interval(),
        default_status=DefaultSensorStatus.RUNNING,
        description=f"Requests an ingest run for each new or changed file in {spec.landing.path}.",
    )
    def landing_sensor(context: SensorEvaluationContext, lake: Lake) -> SensorResult | SkipReason:
        """Request a run per new or changed landing; log files that cannot be partitions."""
        seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        requests, rejected = [], []
        for path in landing_entries(lake.landing_dir(spec)):
            landed = fingerprint(path)
            previous = seen.get(path.name)
            if previous == landed:
                continue
            # A rejection is re-examined every tick: the day may have ended since, or the spec's start_date moved.
            if reason := rejection(path, spec, partitions_def):
                if previous != f"rejected:{landed}":
                    context.log.warning(reason)
                    rejected.append(reason)
                seen[path.name] = f"rejected:{landed}"
                continue
            seen[path.name] = landed
            if previous is None and already_ingested(context.instance, keys.raw_batch, path.stem, landed):
                continue
            requests.append(
                RunRequest(
                    run_key=f"{spec.name}:{path.stem}:{landed}",
                    partition_key=path.stem,
                    tags={"retrain/landed_file": str(path)},
                )
            )
        cursor = json.dumps(seen, sort_keys=True)
        if not requests:
            context.update_cursor(cursor)
            return SkipReason("; ".join(rejected) if rejected else "no new or changed files")
        return SensorResult(run_requests=requests, cursor=cursor)

    return landing_sensor
