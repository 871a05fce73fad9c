"""The model registry: MLflow tracking for candidates, a registry alias for the champion.

Why a resource of our own rather than ``dagster_mlflow.mlflow_tracking``: that resource is function-style, sets
global MLflow state when it starts and opens a run per Dagster run, and has no registry helpers; the platform
needs one registry serving many models in one process, explicit runs per candidate and alias moves. This class is
the single place that talks to MLflow.

Every decision is written to MLflow as model-version tags (``gate.*``, ``champion.*``, ``rollback.*``), so the
history of who was champion when, and why, is readable from MLflow alone.

Errors are errors: "no champion" is answered only when MLflow says the alias (or the model) does not exist; any
other failure raises :class:`RegistryUnavailable` with one line saying what failed, so callers never mistake a
flaky server for an empty registry. The asset steps that call the registry retry it (``RetryPolicy``).

A champion move is a small transaction (:meth:`ModelRegistry.move_champion`, called under
:meth:`ModelRegistry.promotion_lock`): compare the alias with the version the caller compared against, record the
intent on the new version, move the alias, then write the audit tags from the intent. A crash before the alias
moves leaves the old champion and a stale intent (cleared by :meth:`ModelRegistry.repair`); a crash after it
leaves the new champion with an intent that ``repair`` completes. No state in between is visible as "done".
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import ConfigurableResource
from pydantic import PrivateAttr

from retrain_platform.failpoints import failpoint
from retrain_platform.registry.lock import promotion_lock
from retrain_platform.registry.trusted_artifacts import UntrustedModelError, load_sklearn_model, untrusted_types_in

if TYPE_CHECKING:
    from retrain_platform.spec.model_spec import ModelSpec

CHAMPION_ALIAS = "champion"
# Tags the platform writes on model versions; the registry's audit trail, readable from MLflow alone.
PARTITIONS_TAG = "training.partitions"
WINDOW_END_TAG = "training.window_end"
# The newest partition whose rows the registered model was fit on: rows after it are out of sample for it.
FITTED_THROUGH_TAG = "training.fitted_through"
# The gate records its decision as ``gate.<field>`` tags; this one is the version's own holdout score.
HOLDOUT_SCORE_TAG = "gate.candidate_score"
PROMOTED_AT_TAG = "champion.promoted_at"
PREVIOUS_TAG = "champion.previous"
REASON_TAG = "champion.reason"
# The intent of a champion move in progress (JSON); present only between the intent and the completed record.
PENDING_TAG = "champion.pending"
# Written last when the gate has decided a candidate (promoted, rejected or superseded): a rerun skips it.
DECIDED_AT_TAG = "gate.decided_at"
SUPERSEDED_TAG = "gate.superseded_by"
# Loaded models kept per process. Bounded because a server that follows the alias, or a backtest that promotes
# fifty versions, would otherwise keep every version it ever loaded; eight covers a champion, its challenger and
# the previous champion of several models at once.
LOADED_MODELS_KEPT = 8


@functools.lru_cache(maxsize=LOADED_MODELS_KEPT)
def _load_trusted(uri: str, tracking_uri: str) -> Any:
    return load_sklearn_model(uri, tracking_uri)


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


def holdout_score(tags: dict[str, str]) -> float | None:
    """The score the gate measured for this version on its holdout (None for a version never gated)."""
    try:
        return float(tags[HOLDOUT_SCORE_TAG])
    except (KeyError, ValueError):
        return None


class RegistryUnavailable(RuntimeError):
    """The registry could not be reached or failed to answer; nothing may be concluded about its contents."""


class ChampionChanged(RuntimeError):
    """The alias no longer points at the version a decision was made against (another writer moved it)."""

    def __init__(self, model: str, expected: str | None, current: VersionInfo | None):
        self.current = current
        found = f"v{current.version}" if current else "no champion"
        wanted = f"v{expected}" if expected else "no champion"
        super().__init__(f"the champion of {model} changed while deciding: expected {wanted}, found {found}")


def redact_uri(uri: str) -> str:
    """``uri`` with any password replaced by ``***``, for messages and logs."""
    parts = urllib.parse.urlsplit(uri)
    if not parts.password:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


@functools.cache
def _service_errors() -> tuple[type[BaseException], ...]:
    """What a store that fails to answer raises: MLflow's errors (REST and SQL stores wrap theirs), the HTTP
    client's, the database driver's, I/O errors of a local artifact store, and the fault suite's stand-in."""
    import requests
    import sqlalchemy.exc
    from mlflow.exceptions import MlflowException

    from retrain_platform.failpoints import InjectedFault

    return (
        MlflowException,
        requests.exceptions.RequestException,
        sqlalchemy.exc.SQLAlchemyError,
        OSError,
        InjectedFault,
    )


def _is_not_found(err: Exception) -> bool:
    """Whether an MLflow error says the thing asked for does not exist (as opposed to a failure to answer)."""
    code = getattr(err, "error_code", None)
    if code == "RESOURCE_DOES_NOT_EXIST":
        return True
    # A missing alias is reported as an invalid parameter ("Registered model alias champion not found.").
    return code == "INVALID_PARAMETER_VALUE" and "not found" in str(err).lower()


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ("mlflow", "scikit-learn", "pandas", "numpy", "scipy", "skops")]


def _info(mv) -> VersionInfo:
    created = dt.datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=dt.UTC)
    return VersionInfo(mv.name, str(mv.version), mv.run_id, created, dict(mv.tags or {}))


@contextlib.contextmanager
def _fluent_uri(uri: str):
    """Point MLflow's fluent API at ``uri`` for the block, then put the environment back.

    ``mlflow.set_tracking_uri`` also writes ``MLFLOW_TRACKING_URI`` into ``os.environ``, where the platform reads
    the user's choice of store (``settings.mlflow_tracking_uri``): left there, every resource built later in the
    process (a code server, a test worker) would silently use the last store a training wrote to.
    """
    import mlflow

    saved = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class ModelRegistry(ConfigurableResource):
    """MLflow tracking store plus registry; ``tracking_uri`` may be ``sqlite:///...`` locally or an MLflow server."""

    tracking_uri: str
    artifact_root: str | None = None
    lock_dir: str | None = None
    lock_timeout_seconds: float = 300.0

    _client: Any = PrivateAttr(default=None)
    _home_checked: bool = PrivateAttr(default=False)

    @property
    def client(self):
        """A cached ``MlflowClient`` bound to this registry (also the registry URI)."""
        if self._client is None:
            from mlflow import MlflowClient

            if self.tracking_uri.startswith("sqlite:///"):
                # SQLite creates the database file but not its folder; done here, not at import time.
                Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            with self._translate("open the store"):
                self._client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        return self._client

    @contextlib.contextmanager
    def _translate(self, what: str):
        """Turn a failure of the store to answer into :class:`RegistryUnavailable`; "not found" errors, and errors
        of the platform's own code (a TypeError, say), pass through unchanged rather than being retried as an
        outage."""
        try:
            yield
        except _service_errors() as err:
            if _is_not_found(err):
                raise
            detail = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
            password = urllib.parse.urlsplit(self.tracking_uri).password
            if password:
                detail = detail.replace(password, "***")
            # Not chained: MLflow's own messages carry the full URI, password included, and Dagster serialises
            # every cause into the event log and the UI. The redacted first line above is what a user needs.
            raise RegistryUnavailable(
                f"the MLflow registry at {redact_uri(self.tracking_uri)} failed to {what}: "
                f"{type(err).__name__}: {detail}. "
                "Check that the tracking server is up and MLFLOW_TRACKING_URI is right; the step is retried."
            ) from None

    def _lock_dir(self) -> Path:
        if self.lock_dir:
            return Path(self.lock_dir)
        if self.tracking_uri.startswith("sqlite:///"):
            return Path(self.tracking_uri.removeprefix("sqlite:///")).parent / "locks"
        from retrain_platform.settings import retrain_home

        return retrain_home() / "locks"

    def promotion_lock(self, model: str):
        """Hold ``model``'s promotion lock (see :mod:`retrain_platform.registry.lock`) for a champion move."""
        return promotion_lock(self.tracking_uri, self._lock_dir(), model, self.lock_timeout_seconds)

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
        spec: ModelSpec,
        estimator: Any,
        *,
        params: dict[str, Any],
        metrics: dict[str, float],
        tags: dict[str, str],
        artifacts: dict[str, Path] | None = None,
        example: Any = None,
    ) -> VersionInfo:
        """Log a trained candidate of ``spec`` as an MLflow run and register it as a new version of its model.

        The model is written with its spec's contract (:mod:`~retrain_platform.registry.model_flavor`): plain
        MLflow loads it as a pyfunc that takes a landed frame and answers probabilities. ``example`` (validated
        rows) gives its first rows as the input example. The version is created with its tags in one call, so no
        version ever exists without its training record.
        """
        # The types skops must trust to reload it, all allowed by the platform's policy (else a ValueError that
        # says what to change), checked before anything is written.
        trusted = untrusted_types_in(estimator)
        with self._translate(f"log a candidate of {spec.name}"):
            return self._log_candidate(spec, estimator, params, metrics, tags, artifacts, example, trusted)

    def _log_candidate(self, spec, estimator, params, metrics, tags, artifacts, example, trusted):
        import mlflow
        from mlflow.models import Model

        from retrain_platform.registry import model_flavor

        model = spec.name
        # Model.log only works through the fluent API, which reads the process-wide tracking URI.
        experiment = self._experiment_id(model)
        with _fluent_uri(self.tracking_uri), mlflow.start_run(experiment_id=experiment, tags=tags) as run:
            mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
            mlflow.log_metrics(metrics)
            failpoint("registry.run_open")  # a crash here leaves the MLflow run RUNNING (see close_abandoned_runs)
            for name, path in (artifacts or {}).items():
                if path.is_dir():
                    mlflow.log_artifacts(str(path), artifact_path=name)
                else:
                    mlflow.log_artifact(str(path), artifact_path=name)
            contract = model_flavor.contract(spec, estimator, trusted)
            info = Model.log(
                artifact_path=None,
                name="model",
                flavor=model_flavor.this_module(),
                sk_model=estimator,
                contract=contract,
                signature=model_flavor.model_signature(spec, contract["labels"]),
                input_example=None if example is None else model_flavor.landed_example(example, spec),
                serialization_format="skops",
                skops_trusted_types=trusted,
                # Inferring requirements re-imports the model in a subprocess (seconds per candidate); the
                # versions that trained it are known here.
                pip_requirements=_requirements(),
            )
        failpoint("registry.model_logged")
        # Registered through the client rather than log_model(registered_model_name=...), which prints to stderr.
        self._ensure_registered_model(model)
        created = self.client.create_model_version(model, info.model_uri, run_id=run.info.run_id, tags=tags)
        failpoint("registry.version_created")
        return _info(created)

    def _ensure_registered_model(self, model: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(model)
        except MlflowException as err:
            if not _is_not_found(err):
                raise
            self.client.create_registered_model(
                model, description=f"Managed by retrain_platform (model spec '{model}')."
            )

    def version(self, model: str, version: str) -> VersionInfo:
        """One registered version (MLflow's not-found error if there is no such version)."""
        with self._translate(f"read {model} v{version}"):
            return _info(self.client.get_model_version(model, str(version)))

    def versions(self, model: str) -> list[VersionInfo]:
        """Every registered version of ``model``, oldest first (empty if the model was never registered)."""
        from mlflow.exceptions import MlflowException

        try:
            with self._translate(f"list the versions of {model}"):
                found = self.client.search_model_versions(f"name = '{model}'")
        except MlflowException:
            return []
        return sorted((_info(mv) for mv in found), key=lambda v: int(v.version))

    def champion(self, model: str) -> VersionInfo | None:
        """The version the ``champion`` alias points at; None only when MLflow says there is no such alias.

        Raises :class:`RegistryUnavailable` when the registry fails to answer: a flaky server is not an empty
        registry (treating it as one once promoted a candidate as a "first model" over the real champion).
        """
        from mlflow.exceptions import MlflowException

        try:
            with self._translate(f"read the champion alias of {model}"):
                failpoint("registry.read_champion")
                return _info(self.client.get_model_version_by_alias(model, CHAMPION_ALIAS))
        except MlflowException:
            return None

    def run_metrics(self, info: VersionInfo) -> dict[str, float]:
        """The metrics logged by the MLflow run that trained ``info``."""
        with self._translate(f"read the training run of {info.model} v{info.version}"):
            return dict(self.client.get_run(info.run_id).data.metrics)

    def tag_version(self, model: str, version: str, tags: dict[str, str]) -> None:
        """Attach decision tags to a version (the registry's audit trail)."""
        with self._translate(f"tag {model} v{version}"):
            for key, value in tags.items():
                self.client.set_model_version_tag(model, str(version), key, str(value))

    def move_champion(
        self,
        model: str,
        version: str,
        *,
        expected: str | None,
        reason: str,
        tags: dict[str, str] | None = None,
        at: str | None = None,
    ) -> VersionInfo:
        """Compare-and-set the ``champion`` alias: move it to ``version`` only if it still points at ``expected``.

        Call it under :meth:`promotion_lock`. Raises :class:`ChampionChanged` if another writer moved the alias
        since the caller read it (the caller re-decides against the new champion). The record (when, why, which
        version it replaced, plus ``tags``) is written as an intent first and completed after the alias moves, so a
        crash at any point is either "nothing happened" or "moved, record pending" (see :meth:`repair`).
        Returns the completed version.
        """
        current = self.champion(model)
        found = current.version if current else None
        if found != (str(expected) if expected is not None else None):
            raise ChampionChanged(model, expected, current)
        if found == str(version):
            raise ValueError(f"{model} v{version} is already the champion")
        intent = {
            PROMOTED_AT_TAG: at or dt.datetime.now(dt.UTC).isoformat(),
            PREVIOUS_TAG: found or "",
            REASON_TAG: reason,
            **(tags or {}),
        }
        self.tag_version(model, version, {PENDING_TAG: json.dumps(intent)})
        failpoint("registry.intent_recorded")
        with self._translate(f"move the champion alias of {model}"):
            self.client.set_registered_model_alias(model, CHAMPION_ALIAS, str(version))
        failpoint("registry.alias_moved")
        return self._complete(model, str(version), intent)

    def _complete(self, model: str, version: str, intent: dict[str, str]) -> VersionInfo:
        self.tag_version(model, version, intent)
        with self._translate(f"clear the pending record of {model} v{version}"):
            self.client.delete_model_version_tag(model, version, PENDING_TAG)
        failpoint("registry.recorded")
        return self.version(model, version)

    def close_abandoned_runs(self, model: str, still_running: Callable[[str], bool]) -> list[str]:
        """Mark ``model``'s MLflow runs that a killed training left RUNNING as KILLED; returns their ids.

        A training killed inside its MLflow run (kill -9, an OOM kill, a lost pod) never ends it, and the MLflow UI
        would show it running for ever. A run is closed once its Dagster run (the ``dagster.run_id`` tag) is
        over, which run monitoring decides; ``still_running`` answers that for a Dagster run id.
        """
        with self._translate(f"close abandoned runs of {model}"):
            experiment = self.client.get_experiment_by_name(f"retrain_platform/{model}")
            if experiment is None:
                return []
            runs = self.client.search_runs(
                [experiment.experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=100
            )
            closed = []
            for run in runs:
                owner = run.data.tags.get("dagster.run_id")
                if owner and still_running(owner):
                    continue
                self.client.set_tag(
                    run.info.run_id, "retrain.abandoned", f"Dagster run {owner} ended without finishing this run"
                )
                self.client.set_terminated(run.info.run_id, status="KILLED")
                closed.append(run.info.run_id)
            return closed

    def repair(self, model: str) -> list[str]:
        """Finish or undo half-done champion moves of ``model`` (call under :meth:`promotion_lock`).

        The champion with a pending intent crashed after its alias moved: its record is completed. Any other
        version with an intent crashed before: the intent is dropped (that move never happened). Returns one line
        per repair, for the caller's log.
        """
        champion = self.champion(model)
        notes = []
        for info in self.versions(model):
            if PENDING_TAG not in info.tags:
                continue
            if champion is not None and info.version == champion.version:
                self._complete(model, info.version, json.loads(info.tags[PENDING_TAG]))
                notes.append(
                    f"{model} v{info.version}: completed the record of a promotion interrupted after its alias moved"
                )
            else:
                with self._translate(f"clear the stale intent of {model} v{info.version}"):
                    self.client.delete_model_version_tag(model, info.version, PENDING_TAG)
                notes.append(
                    f"{model} v{info.version}: dropped the intent of a promotion interrupted before its alias moved"
                )
        return notes

    def mark_superseded(self, model: str, by: str) -> list[str]:
        """Tag every undecided version older than ``by`` as superseded by it (e.g. a training that crashed after
        registering, whose candidate never reached the gate). Returns the versions marked."""
        champion = self.champion(model)
        marked = []
        now = dt.datetime.now(dt.UTC).isoformat()
        for info in self.versions(model):
            if int(info.version) >= int(by) or DECIDED_AT_TAG in info.tags:
                continue
            if champion is not None and info.version == champion.version:
                continue
            self.tag_version(
                model, info.version, {SUPERSEDED_TAG: by, "gate.decision": "superseded", DECIDED_AT_TAG: now}
            )
            marked.append(info.version)
        return marked

    def load(self, info: VersionInfo) -> Any:
        """Load a version's scikit-learn model under the platform's own trust policy, cached per process.

        The cache keeps the :data:`LOADED_MODELS_KEPT` most recently used versions (a version's artifacts never
        change, so a hit is always current); a failed load is not cached.

        Never through ``mlflow.sklearn.load_model``, which trusts whatever types the artifact's own ``MLmodel``
        lists (see :mod:`retrain_platform.registry.trusted_artifacts`). A refused artifact fails the step at once
        (no retry can make it trustworthy) with what was refused and what to do.
        """
        from dagster import Failure

        if problem := self.moved_home_problem():
            # Refused even while the old folder still exists: the model would be read from another home's files.
            raise Failure(description=f"cannot load {info.model} v{info.version}: {problem}", allow_retries=False)
        try:
            with self._translate(f"load {info.model} v{info.version}"):
                return _load_trusted(info.uri, self.tracking_uri)
        except UntrustedModelError as err:
            raise Failure(description=str(err), allow_retries=False) from err

    def moved_home_problem(self) -> str | None:
        """Why the embedded store cannot be trusted where it is (a moved home), or None; only for the embedded
        defaults (the home's own SQLite store and artifact folder), where MLflow recorded absolute paths."""
        from retrain_platform.registry.relocation import moved_home_problem
        from retrain_platform.settings import embedded_artifact_root

        if self._home_checked or not self.tracking_uri.startswith("sqlite:///"):
            return None
        store = Path(self.tracking_uri.removeprefix("sqlite:///"))
        home = store.parent.parent
        embedded = store.name == "mlflow.db" and store.parent.name == "mlflow"
        problem = moved_home_problem(home, self.tracking_uri) if embedded else None
        if self.artifact_root != embedded_artifact_root(home):
            problem = None  # artifacts configured elsewhere: their locations are the user's, not the home's
        # Asked once per registry: a home does not move under a running process, and loads are frequent.
        self._home_checked = problem is None
        return problem

    def download_artifacts(self, info: VersionInfo, name: str, target: Path) -> Path:
        """Copy a run artifact folder of a version to ``target`` (used when the lake lacks a reference sketch)."""
        import mlflow

        target.mkdir(parents=True, exist_ok=True)
        with self._translate(f"download the {name} artifact of {info.model} v{info.version}"):
            return Path(
                mlflow.artifacts.download_artifacts(
                    run_id=info.run_id, artifact_path=name, dst_path=str(target), tracking_uri=self.tracking_uri
                )
            )
