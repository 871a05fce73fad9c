"""The lake: the platform's files, laid out by model, asset and partition.

Assets write their outputs here themselves rather than through an IO manager, because training reads a
*window* of partitions and the drift check reads a reference sketch by model version: both are easier to reason
about as plain paths than as IO-manager inputs. Layout under the root::

    landing/<model>/<YYYY-MM-DD>.<fmt>        files as users drop them (never modified)
    lake/<model>/raw/<YYYY-MM-DD>.<fmt>       unchanged copy of the current landing of a partition
    lake/<model>/raw/superseded/...           earlier landings of the same partition (nothing is lost)
    lake/<model>/features/<YYYY-MM-DD>.parquet  typed, validated partitions
    lake/<model>/quarantine/<YYYY-MM-DD>.json   why a partition was refused
    lake/<model>/reference/<version>/         the reference sketch of a model version
    reports/<model>/drift/<YYYY-MM-DD>.html   evidently reports
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from dagster import ConfigurableResource

from retrain_platform.spec.model_spec import ModelSpec

PARTITION_COLUMN = "_partition"


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks so large landings do not load into memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _atomic_write(path: Path, write) -> None:
    # Write beside the target and rename, so a crash never leaves a half-written partition a reader could load.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class Lake(ConfigurableResource):
    """The platform's file store, rooted at ``root`` (``RETRAIN_HOME`` by default)."""

    root: str

    @property
    def root_path(self) -> Path:
        """The root as a path."""
        return Path(self.root)

    def landing_dir(self, spec: ModelSpec) -> Path:
        """Where ``spec``'s files land (the spec's ``landing.path``, relative to the root unless absolute)."""
        path = Path(spec.landing.path)
        return path if path.is_absolute() else self.root_path / path

    def model_dir(self, model: str) -> Path:
        """The lake folder of one model."""
        return self.root_path / "lake" / model

    def raw_path(self, spec: ModelSpec, partition: str) -> Path:
        """The lake copy of a partition's current landing."""
        return self.model_dir(spec.name) / "raw" / f"{partition}{spec.landing.suffix}"

    def features_path(self, model: str, partition: str) -> Path:
        """The validated features of one partition."""
        return self.model_dir(model) / "features" / f"{partition}.parquet"

    def quarantine_path(self, model: str, partition: str) -> Path:
        """The quarantine record of a refused partition."""
        return self.model_dir(model) / "quarantine" / f"{partition}.json"

    def reference_dir(self, model: str, version: str) -> Path:
        """The reference sketch of one registered model version."""
        return self.model_dir(model) / "reference" / str(version)

    def report_path(self, model: str, partition: str) -> Path:
        """The evidently drift report of one partition."""
        return self.root_path / "reports" / model / "drift" / f"{partition}.html"

    def copy_raw(self, spec: ModelSpec, source: Path, partition: str) -> tuple[Path, str]:
        """Copy a landed file unchanged into the lake; keep any earlier, different landing. Returns path, sha256."""
        target = self.raw_path(spec, partition)
        digest = file_sha256(source)
        if target.exists():
            previous = file_sha256(target)
            if previous == digest:
                return target, digest
            kept = target.parent / "superseded" / f"{partition}.{previous[:12]}{spec.landing.suffix}"
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(target, kept)
        _atomic_write(target, lambda tmp: shutil.copy2(source, tmp))
        return target, digest

    def read_raw(self, spec: ModelSpec, partition: str) -> pd.DataFrame:
        """Read a partition's raw copy in its landing format (errors propagate: the caller reports them)."""
        path = self.raw_path(spec, partition)
        if spec.landing.format == "csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)

    def write_features(self, model: str, partition: str, frame: pd.DataFrame) -> Path:
        """Store a validated partition and lift any quarantine it was under."""
        path = self.features_path(model, partition)
        _atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
        self.quarantine_path(model, partition).unlink(missing_ok=True)
        return path

    def quarantine(self, model: str, partition: str, record: dict) -> Path:
        """Refuse a partition: drop its features (if an earlier landing had any) and record why."""
        self.features_path(model, partition).unlink(missing_ok=True)
        path = self.quarantine_path(model, partition)
        _atomic_write(path, lambda tmp: tmp.write_text(json.dumps(record, indent=2, default=str)))
        return path

    def is_quarantined(self, model: str, partition: str) -> bool:
        """Whether a partition's latest landing was refused."""
        return self.quarantine_path(model, partition).exists()

    def feature_partitions(self, model: str) -> list[str]:
        """Every partition with valid features, oldest first."""
        folder = self.model_dir(model) / "features"
        return sorted(p.stem for p in folder.glob("*.parquet")) if folder.exists() else []

    def feature_rows(self, model: str, partitions: list[str]) -> int:
        """Row count of the given feature partitions, from Parquet footers (no data is read)."""
        return sum(pq.read_metadata(self.features_path(model, p)).num_rows for p in partitions)

    def read_features(self, model: str, partitions: list[str]) -> pd.DataFrame:
        """Concatenate feature partitions in order, with their partition key in ``_partition``."""
        frames = [pd.read_parquet(self.features_path(model, p)).assign(**{PARTITION_COLUMN: p}) for p in partitions]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
