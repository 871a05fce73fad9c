"""The model registry (MLflow): candidates as versions, the champion as an alias, moved under a per-model lock."""

from retrain_platform.registry.lock import PromotionBusy
from retrain_platform.registry.mlflow_registry import (
    CHAMPION_ALIAS,
    DECIDED_AT_TAG,
    FITTED_THROUGH_TAG,
    HOLDOUT_SCORE_TAG,
    PARTITIONS_TAG,
    PENDING_TAG,
    PREVIOUS_TAG,
    PROMOTED_AT_TAG,
    REASON_TAG,
    SUPERSEDED_TAG,
    WINDOW_END_TAG,
    ChampionChanged,
    ModelRegistry,
    RegistryUnavailable,
    VersionInfo,
    holdout_score,
    redact_uri,
)

__all__ = [
    "CHAMPION_ALIAS",
    "DECIDED_AT_TAG",
    "FITTED_THROUGH_TAG",
    "HOLDOUT_SCORE_TAG",
    "PARTITIONS_TAG",
    "PENDING_TAG",
    "PREVIOUS_TAG",
    "PROMOTED_AT_TAG",
    "REASON_TAG",
    "SUPERSEDED_TAG",
    "WINDOW_END_TAG",
    "ChampionChanged",
    "ModelRegistry",
    "PromotionBusy",
    "RegistryUnavailable",
    "VersionInfo",
    "holdout_score",
    "redact_uri",
]
