"""Where the platform keeps its state on a laptop: one home folder, ``RETRAIN_HOME`` (default ``./.retrain``).

Everything embedded lives below it, so deleting it is a clean reset:
``dagster/`` (the Dagster instance), ``mlflow/`` (tracking store and artifacts), ``landing/``, ``lake/``, ``reports/``.
On Kubernetes the same settings point at Postgres and object storage instead (see ``dagster.yaml`` and the README).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

DEFAULT_HOME = ".retrain"

# Nothing here may call home: MLflow reports usage unless told not to.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")


def retrain_home() -> Path:
    """The absolute home folder (``RETRAIN_HOME`` or ``./.retrain``)."""
    return Path(os.environ.get("RETRAIN_HOME", DEFAULT_HOME)).expanduser().resolve()


def mlflow_tracking_uri(home: Path | None = None) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else a SQLite store under the home folder (no server needed)."""
    if uri := os.environ.get("MLFLOW_TRACKING_URI"):
        return uri
    return f"sqlite:///{(home or retrain_home()) / 'mlflow' / 'mlflow.db'}"


def mlflow_artifact_root(home: Path | None = None) -> str:
    """Where new MLflow experiments keep artifacts (``RETRAIN_MLFLOW_ARTIFACTS`` or a folder under the home)."""
    if root := os.environ.get("RETRAIN_MLFLOW_ARTIFACTS"):
        return root
    return ((home or retrain_home()) / "mlflow" / "artifacts").as_uri()


def ensure_dagster_home(home: Path | None = None) -> Path:
    """Point ``DAGSTER_HOME`` at ``<home>/dagster`` unless set, seeding it with the repo's ``dagster.yaml``.

    Dagster ignores a ``dagster.yaml`` outside ``DAGSTER_HOME``, so the project's file is copied in once; an
    existing instance config is never overwritten.
    """
    if "DAGSTER_HOME" in os.environ:
        path = Path(os.environ["DAGSTER_HOME"])
    else:
        path = (home or retrain_home()) / "dagster"
        os.environ["DAGSTER_HOME"] = str(path)
    path.mkdir(parents=True, exist_ok=True)
    template = Path(os.environ.get("RETRAIN_DAGSTER_YAML", Path.cwd() / "dagster.yaml"))
    if not (path / "dagster.yaml").exists() and template.is_file():
        shutil.copyfile(template, path / "dagster.yaml")
    return path


def spec_paths() -> list[Path]:
    """Spec files or folders to load: ``RETRAIN_SPECS`` (``:``-separated) or the bundled examples."""
    if value := os.environ.get("RETRAIN_SPECS"):
        return [Path(p) for p in value.split(os.pathsep) if p]
    return [Path(__file__).parent / "examples" / "specs"]
