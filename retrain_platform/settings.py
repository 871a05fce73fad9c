"""Where the platform keeps its state on a laptop: one home folder, ``RETRAIN_HOME`` (default ``./.retrain``).

Everything embedded lives below it, so deleting it is a clean reset:
``dagster/`` (the Dagster instance), ``mlflow/`` (tracking store and artifacts), ``landing/``, ``lake/``, ``reports/``.
On Kubernetes the same settings point at Postgres and object storage instead (see ``dagster.yaml`` and the README).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_HOME = ".retrain"
LOOPBACK = "127.0.0.1"
DEFAULT_SERVE_PORT = 8000
"""``retrain serve``'s port unless ``--port`` says otherwise (the default of :func:`serve_url` too)."""

# Nothing here may call home: MLflow reports usage unless told not to.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")
# MLflow's own HTTP retries default to 7 attempts with a backoff factor of 2 and a 120 s timeout: minutes of
# silence before an answer. The platform retries whole steps instead (RetryPolicy, below), so each call is kept
# short and a down server is reported within seconds. Users can still override each variable.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
ARTIFACT_ROOT_ENV = "RETRAIN_MLFLOW_ARTIFACTS"
STEP_RETRIES_ENV = "RETRAIN_STEP_RETRIES"
STEP_RETRY_DELAY_ENV = "RETRAIN_STEP_RETRY_DELAY_SECONDS"
SERVE_URL_ENV = "RETRAIN_SERVE_URL"
UI_URL_ENV = "RETRAIN_UI_URL"
NOTIFICATIONS_ENV = "RETRAIN_NOTIFICATIONS"
LAKE_ENV = "RETRAIN_LAKE"
"""Where the lake (landing, raw, features, reports) lives when not below the home: a folder or an fsspec URL such
as ``s3://bucket/prefix``, so pods share it without a shared volume."""


def retrain_home() -> Path:
    """The absolute home folder (``RETRAIN_HOME`` or ``./.retrain``)."""
    return Path(os.environ.get("RETRAIN_HOME", DEFAULT_HOME)).expanduser().resolve()


def lake_root(home: Path | None = None) -> str:
    """``RETRAIN_LAKE`` if set, else the home folder (the lake's folders sit beside ``dagster/`` and ``mlflow/``)."""
    return os.environ.get(LAKE_ENV, "").strip() or str(home or retrain_home())


def mlflow_tracking_uri(home: Path | None = None) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else a SQLite store under the home folder (no server needed)."""
    return os.environ.get(TRACKING_URI_ENV) or embedded_tracking_uri(home)


def embedded_tracking_uri(home: Path | None = None) -> str:
    """The home's own SQLite tracking store, whatever the environment says."""
    return f"sqlite:///{(home or retrain_home()) / 'mlflow' / 'mlflow.db'}"


def mlflow_artifact_root(home: Path | None = None) -> str:
    """Where new MLflow experiments keep artifacts (``RETRAIN_MLFLOW_ARTIFACTS`` or a folder under the home)."""
    return os.environ.get(ARTIFACT_ROOT_ENV) or embedded_artifact_root(home)


def embedded_artifact_root(home: Path | None = None) -> str:
    """The home's own artifact folder as a ``file:`` URI, whatever the environment says."""
    return ((home or retrain_home()) / "mlflow" / "artifacts").as_uri()


def serve_url() -> str:
    """Where ``retrain serve`` answers, as links to it say: ``RETRAIN_SERVE_URL`` or ``http://127.0.0.1:8000``.

    The drift report links in the Dagster UI are built on it, so set it when ``retrain serve`` listens elsewhere
    (``--host``/``--port``) or behind a proxy (a path prefix is kept: ``https://ml.example.com/retrain``).

    Raises:
        ValueError: for a value that is not an http(s) URL with a host.
    """
    value = os.environ.get(SERVE_URL_ENV, "").strip() or f"http://{LOOPBACK}:{DEFAULT_SERVE_PORT}"
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(
            f"{SERVE_URL_ENV} must be the http(s) address retrain serve answers on, without a query, e.g. "
            f"http://{LOOPBACK}:{DEFAULT_SERVE_PORT}; got {value!r}"
        )
    return value.rstrip("/")


def ui_url() -> str:
    """The Dagster UI's address, for links in notifications: ``RETRAIN_UI_URL`` or ``http://127.0.0.1:3000``."""
    return (os.environ.get(UI_URL_ENV, "").strip() or f"http://{LOOPBACK}:3000").rstrip("/")


def default_notifications():
    """The instance-wide ``notifications`` section (``RETRAIN_NOTIFICATIONS``: a YAML file), or None.

    Used for every model whose spec has no section of its own, and for platform-wide events (a shared sensor's
    error). Raises ``ValueError`` naming the file and the field when the file cannot be used.
    """
    from retrain_platform.spec.notifications import load_default_notifications

    return load_default_notifications(os.environ.get(NOTIFICATIONS_ENV, "").strip() or None)


DRIFT_REPORTS_ROUTE = "/reports/{model}/drift"
"""``retrain serve``'s index of a model's drift reports (JSON)."""
DRIFT_REPORT_ROUTE = DRIFT_REPORTS_ROUTE + "/{partition}"
"""``retrain serve``'s route of one partition's drift report (the evidently HTML page)."""


def drift_report_url(model: str, partition: str, base: str | None = None) -> str:
    """The link to a partition's drift report where ``retrain serve`` answers (``base``, default :func:`serve_url`)."""
    return (base or serve_url()) + DRIFT_REPORT_ROUTE.format(model=model, partition=partition)


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


def service_retry_policy():
    """The ``RetryPolicy`` of every step that calls MLflow: bounded exponential backoff with jitter.

    ``RETRAIN_STEP_RETRIES`` (default 3) retries, the first after ``RETRAIN_STEP_RETRY_DELAY_SECONDS`` (default
    2 s), doubling each time: about 14 s of patience for a registry that blips, then the step fails with the
    registry's one-line error. Failures that a retry cannot fix (not enough data, a refused artifact) are raised
    with ``allow_retries=False`` and fail at once.
    """
    from dagster import Backoff, Jitter, RetryPolicy

    return RetryPolicy(
        max_retries=int(os.environ.get(STEP_RETRIES_ENV, "3")),
        delay=float(os.environ.get(STEP_RETRY_DELAY_ENV, "2")),
        backoff=Backoff.EXPONENTIAL,
        jitter=Jitter.PLUS_MINUS,
    )
