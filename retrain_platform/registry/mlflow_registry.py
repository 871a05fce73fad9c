"""The model registry: MLflow tracking for candidates, a registry alias for the champion.

Why a resource of our own rather than ``dagster_mlflow.mlflow_tracking``: that resource is function-style, sets
global MLflow state when it starts and opens a run per Dagster run, and has no registry helpers; the platform
needs one registry serving many models in one process, explicit runs per candidate and alias moves. This class is
the single place that talks to MLflow.

Every decision is written to MLflow as model-version tags (``gate.*``, ``champion.*``, ``rollback.*``), so the
history of who was champion when, and why, is readable from MLflow alone.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource
from pydantic import PrivateAttr

CHAMPION_ALIAS = "champion"
# Tags the platform writes on model versions; the registry's audit trail, readable from MLflow alone.
PARTITIONS_TAG = "training.partitions"
WINDOW_END_TAG = "training.window_end"
PROMOTED_AT_TAG = "champion.promoted_at"
PREVIOUS_TAG = "champion.previous"
REASON_TAG = "champion.reason"
# skops refuses to load any type not on its allow-list; these packages' types are what scikit-learn models hold.
_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")
_CACHE_LOCK = threading.Lock()
_MODEL_CACHE: dict[tuple[str, str, str], Any] = {}


@dataclass(frozen=True)
class VersionInfo:
    """A registered model version as the platform sees it."""

    model: str
    version: str
    run_id: str
    created: dt.datetime
    tags: dict[str, str]

    @property
    def uri(self) -> str:
        """The MLflow URI that loads this exact version."""
        return f"models:/{self.model}/{self.version}"


def trusted_types(estimator: Any) -> list[str]:
    """The extra types skops must trust to reload ``estimator``; refuses types from unknown packages.

    skops (MLflow's default, safe serialization) lists the types it would not load by default; we trust only
    those from scikit-learn and the numeric stack, so a custom class never ends up silently unpicklable.
    """
    import skops.io

    untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(estimator))
    unknown = [t for t in untrusted if not t.startswith(_TRUSTED_PREFIXES)]
    if unknown:
        raise ValueError(
            f"the model holds types skops will not load safely: {unknown}; use estimators and transformers from "
            "scikit-learn (or packages built on it) in model.estimator and model.preprocessing"
        )
    return list(untrusted)


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ("mlflow", "scikit-learn", "pandas", "numpy", "scipy", "skops")]


def _info(mv) -> VersionInfo:
    created = dt.datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=dt.UTC)
    return VersionInfo(mv.name, str(mv.version), mv.run_id, created, dict(mv.tags or {}))


class ModelRegistry(ConfigurableResource):
    """MLflow tracking store plus registry; ``tracking_uri`` may be ``sqlite:///...`` locally or an MLflow server."""

    tracking_uri: str
    artifact_root: str | None = None

    _client: Any = PrivateAttr(default=None)

    @property
    def client(self):
        """A cached ``MlflowClient`` bound to this registry (also the registry URI)."""
        if self._client is None:
            from mlflow import MlflowClient

            if self.tracking_uri.startswith("sqlite:///"):
                # SQLite creates the database file but not its folder; done here, not at import time.
                Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)

            self._client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        return self._client

    def _experiment_id(self, model: str) -> str:
        name = f"retrain_platform/{model}"
        experiment = self.client.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        return self.client.create_experiment(name, artifact_location=self._artifact_location(model))

    def _artifact_location(self, model: str) -> str | None:
        return None if self.artifact_root is None else f"{self.artifact_root.rstrip('/')}/{model}"

    def log_candidate(
        self,
        model: str,
        estimator: Any,
        *,
        params: dict[str, Any],
        metrics: dict[str, float],
        tags: dict[str, str],
        artifacts: dict[str, Path] | None = None,
        input_example: Any = None,
    ) -> VersionInfo:
        """Log a trained candidate as an MLflow run and register it as a new version of ``model``."""
        import mlflow
        import mlflow.sklearn

        # mlflow.sklearn.log_model only works through the fluent API, which reads the process-wide tracking URI.
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        with mlflow.start_run(experiment_id=self._experiment_id(model), tags=tags) as run:
            mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
            mlflow.log_metrics(metrics)
            for name, path in (artifacts or {}).items():
                if path.is_dir():
                    mlflow.log_artifacts(str(path), artifact_path=name)
                else:
                    mlflow.log_artifact(str(path), artifact_path=name)
            info = mlflow.sklearn.log_model(
                estimator,
                name="model",
                input_example=input_example,
                serialization_format="skops",
                skops_trusted_types=trusted_types(estimator),
                # Inferring requirements re-imports the model in a subprocess (seconds per candidate); the
                # versions that trained it are known here.
                pip_requirements=_requirements(),
            )
        # Registered through the client rather than log_model(registered_model_name=...), which prints to stderr.
        self._ensure_registered_model(model)
        version = str(self.client.create_model_version(model, info.model_uri, run_id=run.info.run_id).version)
        for key, value in tags.items():
            self.client.set_model_version_tag(model, version, key, value)
        return self.version(model, version)

    def _ensure_registered_model(self, model: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(model)
        except MlflowException:
            self.client.create_registered_model(
                model, description=f"Managed by retrain_platform (model spec '{model}')."
            )

    def version(self, model: str, version: str) -> VersionInfo:
        """One registered version."""
        return _info(self.client.get_model_version(model, str(version)))

    def versions(self, model: str) -> list[VersionInfo]:
        """Every registered version of ``model``, oldest first (empty if the model was never registered)."""
        from mlflow.exceptions import MlflowException

        try:
            found = self.client.search_model_versions(f"name = '{model}'")
        except MlflowException:
            return []
        return sorted((_info(mv) for mv in found), key=lambda v: int(v.version))

    def champion(self, model: str) -> VersionInfo | None:
        """The version the ``champion`` alias points at, or None before the first promotion."""
        from mlflow.exceptions import MlflowException

        try:
            return _info(self.client.get_model_version_by_alias(model, CHAMPION_ALIAS))
        except MlflowException:
            return None

    def tag_version(self, model: str, version: str, tags: dict[str, str]) -> None:
        """Attach decision tags to a version (the registry's audit trail)."""
        for key, value in tags.items():
            self.client.set_model_version_tag(model, str(version), key, str(value))

    def set_champion(
        self, model: str, version: str, reason: str, tags: dict[str, str] | None = None, at: str | None = None
    ) -> str | None:
        """Move the ``champion`` alias to ``version``, recording when (``at``, default now), why and whom it
        replaced on the version, plus any extra ``tags``. Returns the version it replaced (None for a first
        champion).
        """
        previous = self.champion(model)
        record = {
            PROMOTED_AT_TAG: at or dt.datetime.now(dt.UTC).isoformat(),
            PREVIOUS_TAG: previous.version if previous else "",
            REASON_TAG: reason,
            **(tags or {}),
        }
        self.tag_version(model, version, record)
        self.client.set_registered_model_alias(model, CHAMPION_ALIAS, str(version))
        return previous.version if previous else None

    def load(self, info: VersionInfo) -> Any:
        """Load a version's scikit-learn model, cached per process (versions are immutable)."""
        key = (self.tracking_uri, info.model, info.version)
        with _CACHE_LOCK:
            if key in _MODEL_CACHE:
                return _MODEL_CACHE[key]
        import mlflow
        import mlflow.sklearn

        mlflow.set_registry_uri(self.tracking_uri)
        mlflow.set_tracking_uri(self.tracking_uri)
        loaded = mlflow.sklearn.load_model(info.uri)
        with _CACHE_LOCK:
            _MODEL_CACHE[key] = loaded
        return loaded

    def download_artifacts(self, info: VersionInfo, name: str, target: Path) -> Path:
        """Copy a run artifact folder of a version to ``target`` (used when the lake lacks a reference sketch)."""
        import mlflow

        target.mkdir(parents=True, exist_ok=True)
        return Path(
            mlflow.artifacts.download_artifacts(
                run_id=info.run_id, artifact_path=name, dst_path=str(target), tracking_uri=self.tracking_uri
            )
        )
