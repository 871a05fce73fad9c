"""The champion's reference: a sketch of the data window it was trained on, built once and reused.

The sketch is built when a version is promoted (or rolled back to), stored in the lake under the version and
logged to that version's MLflow run as the ``reference`` artifact, so any machine can recover it from MLflow.
Drift checks load it instead of re-reading the training window.
"""

from __future__ import annotations

import json
import threading

from retrain_platform.drift import ReferenceSketch
from retrain_platform.registry.mlflow_registry import PARTITIONS_TAG, ModelRegistry, VersionInfo
from retrain_platform.spec.model_spec import ModelSpec
from retrain_platform.storage.lake import Lake

REFERENCE_ARTIFACT = "reference"
_LOCK = threading.Lock()
_CACHE: dict[str, ReferenceSketch] = {}


def training_partitions(info: VersionInfo) -> list[str]:
    """The partitions a version was trained on (its training window, holdout included)."""
    return json.loads(info.tags.get(PARTITIONS_TAG, "[]"))


def build_reference(lake: Lake, registry: ModelRegistry, spec: ModelSpec, info: VersionInfo) -> ReferenceSketch:
    """Sketch the version's training window, save it in the lake and log it to the version's MLflow run."""
    partitions = [p for p in training_partitions(info) if lake.features_path(spec.name, p).exists()]
    if not partitions:
        raise FileNotFoundError(
            f"none of the training partitions of {spec.name} v{info.version} are in the lake "
            f"({lake.model_dir(spec.name) / 'features'}); re-land them or restore the lake"
        )
    frame = lake.read_features(spec.name, partitions)
    sketch = ReferenceSketch.from_frame(frame[list(spec.features)], column_kinds=spec.drift_kinds)
    directory = lake.reference_dir(spec.name, info.version)
    sketch.save(directory)
    registry.client.log_artifacts(info.run_id, str(directory), artifact_path=REFERENCE_ARTIFACT)
    with _LOCK:
        _CACHE[str(directory)] = sketch
    return sketch


def load_reference(lake: Lake, registry: ModelRegistry, spec: ModelSpec, info: VersionInfo) -> ReferenceSketch:
    """The version's sketch: from this process's cache, the lake, MLflow, or (last resort) rebuilt."""
    directory = lake.reference_dir(spec.name, info.version)
    key = str(directory)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
    if not directory.exists():
        try:
            downloaded = registry.download_artifacts(info, REFERENCE_ARTIFACT, directory.parent / "_download")
            downloaded.rename(directory)
        except Exception:  # no artifact (e.g. promoted before sketches existed): rebuild from the lake
            return build_reference(lake, registry, spec, info)
    sketch = ReferenceSketch.load(directory)
    with _LOCK:
        _CACHE[key] = sketch
    return sketch
