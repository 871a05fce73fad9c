"""The champion's reference: a sketch of the data window it was trained on, built once and reused.

The sketch is built when a version is promoted (or rolled back to), stored in the lake under the version and
logged to that version's MLflow run as the ``reference`` artifact, so any machine can recover it from MLflow.
Drift checks load it instead of re-reading the training window.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from dataclasses import dataclass

from retrain_platform.drift import ColumnOverride, ReferenceSketch
from retrain_platform.drift.calibration import DriftCalibration, calibrate_thresholds
from retrain_platform.registry.mlflow_registry import PARTITIONS_TAG, ModelRegistry, VersionInfo
from retrain_platform.spec.model_spec import ModelSpec
from retrain_platform.storage.lake import PARTITION_COLUMN, Lake

REFERENCE_ARTIFACT = "reference"
_LOCK = threading.Lock()
_CACHE: dict[str, Reference] = {}


@dataclass(frozen=True)
class Reference:
    """What a drift check compares a partition with: the window's sketch and its calibrated thresholds."""

    sketch: ReferenceSketch
    calibration: DriftCalibration | None
    """None when the spec turns calibration off (``drift.false_alarm_rate: null``)."""

    def overrides(self, spec: ModelSpec) -> dict[str, ColumnOverride]:
        """Per-column drift method and threshold: calibrated ones, with the spec's explicit ones winning."""
        explicit = spec_overrides(spec)
        return self.calibration.overrides(explicit) if self.calibration is not None else explicit


def spec_overrides(spec: ModelSpec) -> dict[str, ColumnOverride]:
    """The spec's own per-column drift overrides (``drift.columns``)."""
    return {column: ColumnOverride(method=o.method, threshold=o.threshold) for column, o in spec.drift.columns.items()}


def training_partitions(info: VersionInfo) -> list[str]:
    """The partitions a version was trained on (its training window, holdout included)."""
    return json.loads(info.tags.get(PARTITIONS_TAG, "[]"))


def build_reference(lake: Lake, registry: ModelRegistry, spec: ModelSpec, info: VersionInfo) -> Reference:
    """Sketch and calibrate the version's training window, save both in the lake and log them to its MLflow run.

    Both files are written into a fresh directory that replaces the old one in one rename, so a reader (or a
    crash) never sees a sketch without its calibration.
    """
    partitions = [p for p in training_partitions(info) if lake.features_path(spec.name, p).exists()]
    if not partitions:
        raise FileNotFoundError(
            f"none of the training partitions of {spec.name} v{info.version} are in the lake "
            f"({lake.model_dir(spec.name) / 'features'}); re-land them or restore the lake"
        )
    frame = lake.read_features(spec.name, partitions)
    sketch = ReferenceSketch.from_frame(frame[list(spec.features)], column_kinds=spec.drift_kinds)
    reference = Reference(sketch, _calibrate(frame, spec))
    directory = lake.reference_dir(spec.name, info.version)
    staging = directory.with_name(f".{directory.name}.building")
    shutil.rmtree(staging, ignore_errors=True)
    sketch.save(staging)
    if reference.calibration is not None:
        reference.calibration.save(staging)
    if directory.exists():
        shutil.rmtree(directory)
    os.replace(staging, directory)
    registry.client.log_artifacts(info.run_id, str(directory), artifact_path=REFERENCE_ARTIFACT)
    with _LOCK:
        _CACHE[str(directory)] = reference
    return reference


def _calibrate(frame, spec: ModelSpec) -> DriftCalibration | None:
    if spec.drift.false_alarm_rate is None:
        return None
    return calibrate_thresholds(
        frame,
        day_column=PARTITION_COLUMN,
        column_kinds=spec.drift_kinds,
        false_alarm_rate=spec.drift.false_alarm_rate,
        overrides=spec_overrides(spec),
    )


def load_reference(lake: Lake, registry: ModelRegistry, spec: ModelSpec, info: VersionInfo) -> Reference:
    """The version's reference: from this process's cache, the lake, MLflow, or (last resort) rebuilt.

    A reference whose calibration does not match the spec's ``drift.false_alarm_rate`` (the spec changed, or it
    was built before calibration existed) is rebuilt from the lake.
    """
    directory = lake.reference_dir(spec.name, info.version)
    key = str(directory)
    with _LOCK:
        cached = _CACHE.get(key)
    if cached is not None and _matches(cached, spec):
        return cached
    if not directory.exists():
        try:
            downloaded = registry.download_artifacts(info, REFERENCE_ARTIFACT, directory.parent / "_download")
            downloaded.rename(directory)
        except Exception:  # no artifact (e.g. promoted before sketches existed): rebuild from the lake
            return build_reference(lake, registry, spec, info)
    reference = Reference(ReferenceSketch.load(directory), DriftCalibration.load(directory))
    if not _matches(reference, spec):
        return build_reference(lake, registry, spec, info)
    with _LOCK:
        _CACHE[key] = reference
    return reference


def _matches(reference: Reference, spec: ModelSpec) -> bool:
    rate = spec.drift.false_alarm_rate
    if reference.calibration is None:
        return rate is None
    return rate is not None and reference.calibration.false_alarm_rate == rate
