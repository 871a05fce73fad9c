"""The model registry (MLflow): candidates as versions, the champion as an alias."""

from retrain_platform.registry.mlflow_registry import CHAMPION_ALIAS, ModelRegistry, VersionInfo

__all__ = ["CHAMPION_ALIAS", "ModelRegistry", "VersionInfo"]
