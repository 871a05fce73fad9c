"""The resources each environment gets, chosen in one place.

Locally (the default) everything is embedded under ``RETRAIN_HOME``: the lake on disk and MLflow in SQLite.
In a deployment the same resources read ``MLFLOW_TRACKING_URI`` (a Postgres-backed MLflow, for instance) and
``RETRAIN_MLFLOW_ARTIFACTS`` (an object-store URI), and ``RETRAIN_LAKE`` puts the lake on an object store
(``s3://bucket/prefix``); without it ``RETRAIN_HOME`` must be a volume every pod shares.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import EnvVar, in_process_executor, multiprocess_executor

from retrain_platform.registry import ModelRegistry
from retrain_platform.settings import (
    ARTIFACT_ROOT_ENV,
    LAKE_ENV,
    TRACKING_URI_ENV,
    lake_root,
    mlflow_artifact_root,
    mlflow_tracking_uri,
    retrain_home,
)
from retrain_platform.storage.lake import Lake


def build_resources(home: Path | None = None, *, resolve_env: bool = False) -> dict:
    """``lake`` and ``registry`` for the current environment, as Dagster definitions hold them.

    A tracking URI from the environment is passed as ``EnvVar``: Dagster resolves it when a run starts and shows
    only the variable's name in the UI, so a password in ``MLFLOW_TRACKING_URI`` never reaches the webserver.
    With ``resolve_env`` the variables' values are used instead (for use outside a Dagster run).
    """
    home = home or retrain_home()

    def setting(env: str, default: str):
        return EnvVar(env) if os.environ.get(env) and not resolve_env else default

    return {
        # The scratch folder holds what the lake can rebuild (reference sketches) when the lake is remote.
        "lake": Lake(root=setting(LAKE_ENV, lake_root(home)), scratch=str(home / "cache")),
        "registry": ModelRegistry(
            tracking_uri=setting(TRACKING_URI_ENV, mlflow_tracking_uri(home)),
            artifact_root=setting(ARTIFACT_ROOT_ENV, mlflow_artifact_root(home)),
        ),
    }


def resolved_resources(home: Path | None = None) -> dict:
    """The same resources with every ``EnvVar`` resolved, for use outside a Dagster run (the CLI).

    Built from the variables directly rather than through Dagster's resource initialisation, which creates a
    throwaway Dagster instance per resource (about 0.4 s each, a third of ``retrain status``'s own work).
    """
    return build_resources(home, resolve_env=True)


def build_executor():
    """The run executor: ``RETRAIN_EXECUTOR`` = ``in_process`` (default), ``multiprocess`` or ``k8s``.

    In-process is the default because a retrain step is small next to the seconds it takes a fresh process to
    import pandas, scikit-learn and MLflow; ``k8s`` gives each step its own pod, sized for the training and gate
    steps by the spec's ``compute`` section (:mod:`retrain_platform.orchestration.compute`).
    """
    choice = os.environ.get("RETRAIN_EXECUTOR", "in_process")
    if choice == "in_process":
        return in_process_executor
    if choice == "multiprocess":
        return multiprocess_executor
    if choice == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    raise ValueError(f"RETRAIN_EXECUTOR={choice!r}; use in_process, multiprocess or k8s")
