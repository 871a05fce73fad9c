"""``raw_batch`` and ``features``: a landed file enters the lake unchanged, then is typed and validated.

A partition that fails validation is *quarantined*, not dropped: its raw copy stays in the lake, a record of
every problem is written beside it, its features are withheld, and the blocking ``schema`` check fails so nothing
downstream runs on it (in the run, and in automation). Re-landing a corrected file recovers the partition.
"""

import datetime as dt
import hashlib
import json
from importlib.metadata import version as package_version

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetsDefinition,
    DataVersion,
    Failure,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    asset,
)

from retrain_platform.check_history import last_training_window_end
from retrain_platform.check_specs import daily_check
from retrain_platform.ingest.sensor import FINGERPRINT_METADATA, fingerprint
from retrain_platform.keys import ModelKeys
from retrain_platform.spec.model_spec import ModelSpec
from retrain_platform.spec.schema import ValidationResult, validate_partition
from retrain_platform.storage.lake import Lake, UnsafeLanding, file_sha256, lexists
from retrain_platform.training.window import window_partitions

GUIDANCE = (
    "The raw file is kept in the lake and this partition is quarantined: nothing downstream uses it and the "
    "champion is untouched. Fix the file and land it again under the same name to recover the partition."
)


def _problems_table(result: ValidationResult, warnings: bool = False) -> MetadataValue:
    rows = ["| column | check | rows | examples |", "|---|---|---|---|"]
    rows += [
        f"| {p['column']} | {p['check']} | {p['rows']} | {', '.join(p['examples'])[:200]} |"
        for p in (result.warnings if warnings else result.problems)
    ]
    return MetadataValue.md("\n".join(rows))


def _data_quality_check(keys: ModelKeys, result: ValidationResult) -> AssetCheckResult:
    """What a kept partition's spec tolerated, as a non-blocking warning: the partition is used all the same."""
    warnings = result.warnings
    return AssetCheckResult(
        check_name=keys.data_quality_check.name,
        passed=not warnings,
        severity=AssetCheckSeverity.WARN,
        description=(
            "kept with tolerated problems: "
            + "; ".join(f"{w['column']}: {w['check']} ({w['rows']} rows)" for w in warnings)
            if warnings
            else "no tolerated problems"
        ),
        metadata={
            "warnings": _problems_table(result, warnings=True),
            # per column: how many rows each tolerated problem touched, for charts and alerts
            "rows_by_column": {f"{w['column']}: {w['check']}": w["rows"] for w in warnings},
        }
        if warnings
        else {},
    )


def _read_and_validate(lake: Lake, spec: ModelSpec, partition: str) -> tuple[ValidationResult, str | None]:
    """The validation result and the SHA-256 of the raw bytes it judged (None if they could not be read)."""
    try:
        frame, raw_sha256 = lake.read_raw_and_hash(spec, partition)
    except Exception as err:  # any reader error means the same thing to the user: the file is unreadable
        message = f"{type(err).__name__}: {err}"[:300]
        problem = {"column": "(file)", "check": f"readable as {spec.landing.format}", "rows": 0, "examples": [message]}
        return ValidationResult(None, [problem]), _hash_if_present(lake, spec, partition)
    return validate_partition(frame, spec), raw_sha256


def _hash_if_present(lake: Lake, spec: ModelSpec, partition: str) -> str | None:
    path = lake.raw_path(spec, partition)
    return file_sha256(path) if path.is_file() else None


def _volume_check(context: AssetExecutionContext, lake: Lake, spec: ModelSpec, keys: ModelKeys) -> AssetCheckResult:
    """Is a (re)train due by data volume? The first model waits for ``min_partitions`` and ``min_rows``."""
    window_end = last_training_window_end(context.instance, keys.candidate_model)
    partitions = lake.feature_partitions(spec.name)
    if window_end is None:
        # Count what the first training could use: the valid partitions of its window, not all history.
        partitions = window_partitions(partitions, spec.training.window_days)
        rows = lake.feature_rows(spec.name, partitions)
        due = len(partitions) >= spec.training.min_partitions and rows >= spec.training.min_rows
        description = (
            f"no model trained yet; {len(partitions)} valid partition(s), {rows} row(s) in the training window "
            f"(first training needs {spec.training.min_partitions} and {spec.training.min_rows})"
        )
    else:
        newer = [p for p in partitions if p > window_end]
        rows = lake.feature_rows(spec.name, newer)
        limit = spec.triggers.new_rows
        due = limit is not None and rows >= limit
        description = f"{rows} valid row(s) since the last training window ended {window_end}" + (
            f" (retrain at {limit})" if limit else " (no new_rows trigger configured)"
        )
    return AssetCheckResult(
        check_name=keys.volume_check.name,
        passed=not due,
        severity=AssetCheckSeverity.WARN,
        description=("retrain due: " if due else "") + description,
        metadata={"rows_since_training": rows, "valid_partitions": len(partitions)},
    )


def contract_version(spec: ModelSpec) -> str:
    """The code version of ``features``: everything besides the raw file that decides a partition's validated
    frame (the data contract, the landing format and the platform's release).

    With it, Dagster derives the features' data version from this and the raw file's content hash instead of the
    run id, so re-ingesting a day whose file did not change (a backfill, a retried run) leaves the day's drift
    and performance fresh in the UI, while a changed file or contract marks them stale.
    """
    contract = spec.model_dump(
        mode="json", include={"target", "features", "ignore_extra_columns", "validation"}, by_alias=True
    )
    contract.update(landing_format=spec.landing.format, platform=package_version("retrain_platform"))
    return hashlib.sha256(json.dumps(contract, sort_keys=True).encode()).hexdigest()[:16]


def build_ingest_assets(spec: ModelSpec, partitions_def: PartitionsDefinition) -> list[AssetsDefinition]:
    """The ``raw_batch`` and ``features`` assets of one model."""
    keys = ModelKeys(spec.name)

    @asset(
        key=keys.raw_batch,
        partitions_def=partitions_def,
        group_name=spec.name,
        kinds={spec.landing.format},
        description=f"The file landed for the day, copied unchanged into the lake. Landing: {spec.landing.path}",
    )
    def raw_batch(context: AssetExecutionContext, lake: Lake) -> MaterializeResult:
        """Copy the landed file into the lake; its content hash is the data version, so re-landings propagate."""
        partition = context.partition_key
        source = lake.landing_dir(spec) / f"{partition}{spec.landing.suffix}"
        if not lexists(source):
            raise Failure(
                description=f"no file landed for partition {partition}: expected {source}",
                metadata={"expected": MetadataValue.path(lake.relative(source))},
            )
        # Fingerprinted before the copy: if the file changes meanwhile, the recorded fingerprint is the older one,
        # so the sensor sees the change and requests it (after the copy, the change could go unnoticed).
        landed = fingerprint(source)
        try:
            path, digest = lake.copy_raw(spec, source, partition)
        except UnsafeLanding as err:
            raise Failure(
                description=str(err), metadata={"landed_file": MetadataValue.path(lake.relative(source))}
            ) from err
        return MaterializeResult(
            data_version=DataVersion(digest),
            metadata={
                FINGERPRINT_METADATA: landed,
                "path": MetadataValue.path(lake.relative(path)),
                "landed_file": MetadataValue.path(lake.relative(source)),
                "sha256": digest,
                "bytes": path.stat().st_size,
            },
        )

    checks = [
        daily_check(
            keys.schema_check,
            partitions_def,
            "The partition matches the model spec (columns, types, ranges, categories, nulls).",
            blocking=True,
        ),
        daily_check(
            keys.data_quality_check,
            partitions_def,
            "Warns (without blocking) when a partition was kept with problems its spec tolerates: values outside "
            "a column's categories mapped to null (on_unknown_category: map_to_unknown), or more nulls than "
            "max_null_fraction (on_excess_nulls: warn).",
        ),
        daily_check(
            keys.volume_check,
            partitions_def,
            "Warns when enough new valid rows have landed to train (first model) or retrain.",
        ),
    ]

    @asset(
        key=keys.features,
        deps=[keys.raw_batch],
        partitions_def=partitions_def,
        group_name=spec.name,
        check_specs=checks,
        kinds={"pandas", "parquet"},
        code_version=contract_version(spec),
        description="The partition typed and validated against the spec's pandera schema; bad partitions are "
        "quarantined (see the blocking `schema` check).",
    )
    def features(context: AssetExecutionContext, lake: Lake) -> MaterializeResult:
        """Validate the raw partition; store the typed frame, or quarantine the partition with every problem."""
        partition = context.partition_key
        result, raw_sha256 = _read_and_validate(lake, spec, partition)
        raw_path = lake.raw_path(spec, partition)
        if result.valid:
            frame: pd.DataFrame = result.frame
            path = lake.write_features(spec.name, partition, frame, raw_sha256=raw_sha256)
            metadata = {
                "path": MetadataValue.path(lake.relative(path)),
                "raw_sha256": raw_sha256,
                "dagster/row_count": len(frame),
                "null_counts": {c: int(n) for c, n in frame.isna().sum().items() if n},
                "quarantined": False,
            }
            schema = AssetCheckResult(
                check_name=keys.schema_check.name,
                passed=True,
                metadata={"rows": len(frame)},
            )
            quality = _data_quality_check(keys, result)
            if result.warnings:
                metadata["data_quality_warnings"] = len(result.warnings)
                context.log.warning(
                    f"{raw_path}: partition {partition} kept with tolerated problems\n{result.describe(warnings=True)}"
                )
        else:
            record = {
                "model": spec.name,
                "partition": partition,
                "raw_file": lake.relative(raw_path),
                "raw_sha256": raw_sha256,
                "problems": result.problems,
                "what_to_do": GUIDANCE,
                "quarantined_at": dt.datetime.now(dt.UTC).isoformat(),
            }
            path = lake.quarantine(spec.name, partition, record)
            context.log.error(f"{raw_path}: partition {partition} quarantined\n{result.describe()}\n{GUIDANCE}")
            metadata = {"quarantined": True, "quarantine_record": MetadataValue.path(lake.relative(path))}
            # Nothing was kept, so nothing was tolerated: the schema check tells what went wrong.
            quality = AssetCheckResult(
                check_name=keys.data_quality_check.name,
                passed=True,
                severity=AssetCheckSeverity.WARN,
                description="partition quarantined (see the schema check); no data kept",
            )
            schema = AssetCheckResult(
                check_name=keys.schema_check.name,
                passed=False,
                severity=AssetCheckSeverity.ERROR,
                description=f"{raw_path.name} refused: "
                + "; ".join(f"{p['column']}: {p['check']} ({p['rows']} rows)" for p in result.problems),
                metadata={
                    "failure_cases": _problems_table(result),
                    "raw_file": MetadataValue.path(lake.relative(raw_path)),
                    "what_to_do": GUIDANCE,
                },
            )
        return MaterializeResult(
            metadata=metadata, check_results=[schema, quality, _volume_check(context, lake, spec, keys)]
        )

    return [raw_batch, features]
