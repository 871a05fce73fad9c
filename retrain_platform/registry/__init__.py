"""The model registry (MLflow): candidates as versions, the champion as an alias."""

from retrain_platform.registry.mlflow_registry import (
    CHAMPION_ALIAS,
    PARTITIONS_TAG,
    PREVIOUS_TAG,
    PROMOTED_AT_TAG,
    REASON_TAG,
    WINDOW_END_TAG,
    ModelRegistry,
    VersionInfo,
)

__all__ = [
    "CHAMPION_ALIAS",
    "PARTITIONS_TAG",
    "PREVIOUS_TAG",
    "PROMOTED_AT_TAG",
    "REASON_TAG",
    "WINDOW_END_TAG",
    "ModelRegistry",
    "VersionInfo",
]
