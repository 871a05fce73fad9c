"""The landing sensor: one per model, watching its landing folder for new or changed daily files.

A file's fingerprint (modification time and size) is part of the run key, so a tick never requests the same
landing twice, while a corrected re-landing of a day gets a new run. Files that cannot be a partition (a name
that is not a date, a date outside the partition range) are reported in the tick log, once per fingerprint,
with what to do; they are never deleted.
"""

import datetime as dt
import json
import os
from pathlib import Path

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
from retrain_platform.spec.model_spec import ModelSpec
from retrain_platform.storage.lake import Lake

DEFAULT_INTERVAL_SECONDS = 30
FINGERPRINT_METADATA = "landed_fingerprint"


def sensor_interval() -> int:
    """Seconds between ticks (``RETRAIN_SENSOR_INTERVAL_SECONDS``; short values are for tests)."""
    return int(os.environ.get("RETRAIN_SENSOR_INTERVAL_SECONDS", DEFAULT_INTERVAL_SECONDS))


def fingerprint(path: Path) -> str:
    """What identifies one landing of a file: modification time and size (cheap; no content is read)."""
    stat = path.stat()
    return f"{stat.st_mtime_ns}-{stat.st_size}"


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


def landed_files(folder: Path, suffix: str) -> list[Path]:
    """Candidate landings: visible files with the spec's suffix (dot-files are writes still in progress)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == suffix and not p.name.startswith("."))


def rejection(path: Path, spec: ModelSpec, partitions_def: PartitionsDefinition) -> str | None:
    """Why ``path`` cannot be a partition of ``spec``, or None if it can."""
    try:
        # strptime, not date.fromisoformat: on Python 3.11 the latter also accepts "20260305".
        dt.datetime.strptime(path.stem, "%Y-%m-%d")
    except ValueError:
        return (
            f"{path}: file name is not a date; name daily files YYYY-MM-DD{spec.landing.suffix} "
            "after the day their rows belong to"
        )
    if not partitions_def.has_partition_key(path.stem):
        last = partitions_def.get_last_partition_key()
        return (
            f"{path}: {path.stem} is outside the partitions of model {spec.name!r} "
            f"({spec.partitions.start_date} to {last}; a day becomes a partition once it has ended). "
            "Rename the file to the day its rows belong to, or move partitions.start_date in the spec."
        )
    return None


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
        for path in landed_files(lake.landing_dir(spec), spec.landing.suffix):
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
