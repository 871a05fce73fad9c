"""The fault lab: one model on a real instance, MLflow store and lake, where runs can be killed at exact steps.

Everything a deployment has is real and on disk: a persistent SQLite Dagster instance, a SQLite MLflow store with
its artifact folder, the landing folder and the lake. The landing sensor and the automation conditions are the
platform's own, driven as in the replay (:class:`~retrain_platform.orchestration.replay.Replay`). What differs is
how a run executes when a fault is injected: in a separate worker process (:mod:`retrain_platform_tests.faults.worker`)
with ``RETRAIN_FAILPOINTS`` set, so a ``kill`` fail point SIGKILLs it mid-step and leaves a STARTED run behind,
exactly like an OOM kill or a lost node.

Recovery is never done by the test: :meth:`FaultLab.recover` only does what the daemon does on its own (run
monitoring through the instance's run launcher, landing-sensor ticks, automation evaluations at later times) and
:meth:`FaultLab.assert_consistent` checks the promises: no landed or raw data lost, no run stuck, exactly one
loadable champion, a champion history that never points at itself or at nothing, no half-recorded move, every candidate
decided or superseded, and Dagster's ``production_model`` agreeing with the MLflow alias.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.instance.ref import InstanceRef
from dagster._serdes import deserialize_value, serialize_value

from retrain_platform.failpoints import ENV as FAILPOINTS_ENV
from retrain_platform.ingest.sensor import retry_delay, sensor_interval
from retrain_platform.keys import ModelKeys
from retrain_platform.orchestration.replay import DayRow, Replay
from retrain_platform.pipeline import ingest_job_name, retrain_job_name
from retrain_platform.registry import (
    DECIDED_AT_TAG,
    PENDING_TAG,
    PREVIOUS_TAG,
    ModelRegistry,
)
from retrain_platform.spec import ModelSpec
from retrain_platform.storage.lake import Lake, file_sha256
from retrain_platform_tests.conftest import START, credit_frame, spec_dict
from retrain_platform_tests.integration.regimes import SPEC_OVERRIDES, drifted_frame

# The daemon's instance settings that recovery relies on, with a run launcher that can tell a dead run worker.
INSTANCE_YAML = """\
telemetry:
  enabled: false
run_launcher:
  module: retrain_platform.orchestration.run_launcher
  class: LocalRunLauncher
run_monitoring:
  enabled: true
"""
WORKER_TIMEOUT_SECONDS = 240
REPO_ROOT = Path(__file__).resolve().parents[2]
RETRY_STEP = dt.timedelta(minutes=11)  # past the automation's retry cadence for failed runs
NOT_DONE = {
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
}

# Only the volume trigger (the first model) is automatic; the retrains under test are launched by the test, so a
# crash lands exactly where it is injected and not in a retrain automation happened to start first.
LAB_TRIGGERS = {"drift": False, "performance_floor": None}


def lab_spec(name: str) -> dict:
    """The conftest's credit spec tuned for a clear regime change (see ``integration/regimes.py``)."""
    return spec_dict(name, **SPEC_OVERRIDES, triggers=LAB_TRIGGERS)


class FaultLab:
    """One model's platform under ``root``, with the process environment a deployment would give it."""

    def __init__(self, root: Path, monkeypatch, name: str = "credit_faults"):
        self.root = root
        self.home = root / "home"
        self.dagster_home = root / "dagster"
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        (self.dagster_home / "dagster.yaml").write_text(INSTANCE_YAML)
        spec_file = root / "specs" / f"{name}.yaml"
        spec_file.parent.mkdir(exist_ok=True)
        spec_file.write_text(yaml.safe_dump(lab_spec(name)))
        self.env = {
            "RETRAIN_HOME": str(self.home),
            "DAGSTER_HOME": str(self.dagster_home),
            "RETRAIN_SPECS": str(spec_file),
            "MLFLOW_TRACKING_URI": f"sqlite:///{self.home / 'mlflow' / 'mlflow.db'}",
            "RETRAIN_MLFLOW_ARTIFACTS": (self.home / "mlflow" / "artifacts").as_uri(),
            # Step retries back off from 0.2 s here (2 s by default) so a blip costs the suite little time.
            "RETRAIN_STEP_RETRY_DELAY_SECONDS": "0.2",
            "RETRAIN_SENSOR_INTERVAL_SECONDS": "1",
            "MLFLOW_LOGGING_LEVEL": "WARNING",
        }
        for key, value in self.env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv(FAILPOINTS_ENV, raising=False)
        from retrain_platform.spec import load_spec

        self.spec: ModelSpec = load_spec(spec_file)
        self.keys = ModelKeys(name)
        self.instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(self.dagster_home)))
        self.replay = Replay(self.home, self.instance, [self.spec])
        self.lake = Lake(root=str(self.home))
        self.registry = ModelRegistry(tracking_uri=self.env["MLFLOW_TRACKING_URI"])
        self.landed: dict[Path, str] = {}
        self.clock = dt.datetime.combine(START, dt.time(6), tzinfo=dt.UTC)

    # -- a prepared state, built once per test process ------------------------------------------------------------

    STATE_FILE = "lab-state.json"

    def save_state(self, drifted: list[dt.date]) -> None:
        """Write what lives only in this process (cursors, landed hashes, the clock) beside the lab's files."""
        state = {
            "sensor_cursor": self.replay.sensor_cursor,
            "automation_cursor": serialize_value(self.replay.automation_cursor)
            if self.replay.automation_cursor
            else None,
            "landed": {str(path): digest for path, digest in self.landed.items()},
            "clock": self.clock.isoformat(),
            "drifted": [d.isoformat() for d in drifted],
        }
        (self.root / self.STATE_FILE).write_text(json.dumps(state))

    def load_state(self) -> list[dt.date]:
        """Restore what :meth:`save_state` wrote; returns the drifted days."""
        state = json.loads((self.root / self.STATE_FILE).read_text())
        self.replay.sensor_cursor = state["sensor_cursor"]
        if state["automation_cursor"]:
            self.replay.automation_cursor = deserialize_value(state["automation_cursor"])
        self.landed = {Path(path): digest for path, digest in state["landed"].items()}
        self.clock = dt.datetime.fromisoformat(state["clock"])
        return [dt.date.fromisoformat(d) for d in state["drifted"]]

    @classmethod
    def prepared(cls, monkeypatch, drifted_days: int = 3) -> tuple[FaultLab, list[dt.date]]:
        """A lab with a promoted first model and ``drifted_days`` ingested days of a new regime.

        Building that state takes about 20 s; it is built once per test process and copied for each test. The
        copy lives at the same absolute path as the original, because the MLflow store records absolute artifact
        locations, and tests in one process run one at a time, so they never share it.
        """
        # One path per prepared state, built once: a store this process has opened is never deleted under it.
        root = Path(tempfile.gettempdir()) / f"retrain-faultlab-{os.getpid()}-{drifted_days}"
        template = root.with_name(f"{root.name}-template")
        if not template.exists():
            lab = cls(root, monkeypatch)
            lab.save_state(lab.with_champion_then_drift(drifted_days=drifted_days))
            lab.instance.dispose()
            shutil.copytree(root, template)
        _restore(template, root)
        lab = cls(root, monkeypatch)
        return lab, lab.load_state()

    # -- driving the platform -------------------------------------------------------------------------------------

    def land_path(self, day: dt.date) -> Path:
        """Where the file for ``day`` lands."""
        return self.lake.landing_dir(self.spec) / f"{day.isoformat()}{self.spec.landing.suffix}"

    def land(self, day: dt.date, frame: pd.DataFrame) -> Path:
        """Land a day's file atomically (a dot-file, then a rename) and remember its hash."""
        target = self.land_path(day)
        folder = target.parent
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{target.name}.partial"
        frame.to_csv(partial, index=False)
        os.replace(partial, target)
        self.landed[target] = file_sha256(target)
        # A day's partition exists once the day has ended: automation looks at it the next morning at the earliest.
        self.clock = max(self.clock, dt.datetime.combine(day + dt.timedelta(days=1), dt.time(6), tzinfo=dt.UTC))
        return target

    def day(self, day: dt.date, frame: pd.DataFrame) -> None:
        """Land ``frame`` for ``day``, tick the sensor and run automation the next morning, all in-process."""
        self.land(day, frame)
        self.replay.day(day, lambda *_: None)

    def with_champion_then_drift(self, good_days: int = 3, drifted_days: int = 3) -> list[dt.date]:
        """Good days until the first model is promoted, then drifted days (ingested, no retrain yet).

        Returns the drifted days: a candidate trained on them beats the champion clearly (``regimes.py``).
        """
        days = [START + dt.timedelta(days=i) for i in range(good_days + drifted_days)]
        for day in days[:good_days]:
            self.day(day, credit_frame(day))
        assert self.champion_version() == "1", "the lab's first model was not promoted"
        for day in days[good_days:]:
            self.day(day, drifted_frame(day))
        return days[good_days:]

    def sensor_requests(self) -> list[dict]:
        """Tick the landing sensor; its requests as worker requests (nothing is executed)."""
        return [
            {"job": ingest_job_name(self.spec.name), "partition": r.partition_key, "tags": dict(r.tags)}
            for r in self.replay.sensor_requests()
        ]

    def retrain_request(self) -> dict:
        """A request for the retrain job (candidate_model + production_model), as automation would make."""
        return {"job": retrain_job_name(self.spec.name)}

    def gate_request(self) -> dict:
        """A request for the gate alone (production_model), as automation would make after a failed gate."""
        return {"job": retrain_job_name(self.spec.name), "assets": [self.keys.production_model.to_user_string()]}

    def start_worker(self, request: dict, failpoints: str | None = None, **env) -> subprocess.Popen:
        """Start a worker process executing ``request`` with ``failpoints`` armed."""
        child_env = {**os.environ, **self.env, **env}
        # The worker runs in the lab's folder (its relative paths stay there) but imports this checkout's code.
        child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
        if failpoints:
            child_env[FAILPOINTS_ENV] = failpoints
        log = (self.root / "workers.log").open("a")
        return subprocess.Popen(
            [sys.executable, "-m", "retrain_platform_tests.faults.worker", json.dumps(request)],
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
        )

    def run_worker(self, request: dict, failpoints: str | None = None, **env) -> int:
        """Run ``request`` in a worker to the end; its exit status (-9 when a fail point killed it)."""
        return self.start_worker(request, failpoints, **env).wait(timeout=WORKER_TIMEOUT_SECONDS)

    # -- what the daemon does by itself -----------------------------------------------------------------------------

    def monitor(self) -> int:
        """One run-monitoring pass over STARTED runs, through dagster's own monitor and the instance's launcher."""
        from dagster._daemon.monitoring.run_monitoring import monitor_started_run

        records = self.instance.get_run_records(RunsFilter(statuses=[DagsterRunStatus.STARTED]))
        for record in records:
            monitor_started_run(self.instance, None, record, logging.getLogger("run_monitoring"))
        return len(records)

    def recover(self, rounds: int = 4) -> None:
        """Let time pass as the daemon would: monitoring, a sensor tick and automation, ``rounds`` times."""
        for _ in range(rounds):
            # The landing sensor's retry backoff runs on the wall clock (RETRAIN_SENSOR_INTERVAL_SECONDS=1 here: 2 s
            # after a first failure), unlike automation, which the lab evaluates at simulated times.
            time.sleep(retry_delay(0, sensor_interval()))
            self.monitor()
            self.clock += RETRY_STEP
            rows = {self.spec.name: DayRow(day=self.clock.date().isoformat())}
            self.replay.tick_sensors(rows)
            self.replay.run_automation(self.clock, rows)

    # -- what must hold -----------------------------------------------------------------------------------------

    def champion_version(self) -> str | None:
        """The version behind the alias, or None."""
        champion = self.registry.champion(self.spec.name)
        return champion.version if champion else None

    def runs_not_done(self) -> list:
        """Runs that are queued, starting, started or cancelling."""
        return list(self.instance.get_runs(RunsFilter(statuses=list(NOT_DONE))))

    def assert_consistent(self, *, all_decided: bool = True) -> None:
        """Every promise of the fault suite (see the module docstring)."""
        for path, digest in self.landed.items():
            assert path.is_file() and file_sha256(path) == digest, f"landed file {path} lost or changed"
        raw_dir = self.lake.model_dir(self.spec.name) / "raw"
        kept = {file_sha256(p) for p in raw_dir.rglob(f"*{self.spec.landing.suffix}")} if raw_dir.exists() else set()
        ingested = {m.partition for m in self._raw_materializations()}
        for path, digest in self.landed.items():
            if path.stem in ingested:
                assert digest in kept, f"the raw copy of {path.name} is missing from the lake"
        assert not self.runs_not_done(), f"runs left unfinished: {[r.run_id for r in self.runs_not_done()]}"
        champion = self.registry.champion(self.spec.name)
        assert champion is not None, "no champion"
        self.registry.load(champion)
        versions = {v.version: v for v in self.registry.versions(self.spec.name)}
        for info in versions.values():
            assert PENDING_TAG not in info.tags, f"v{info.version} holds a half-recorded champion move"
            assert info.tags.get(PREVIOUS_TAG) != info.version, f"v{info.version} names itself as previous"
            if all_decided:
                assert DECIDED_AT_TAG in info.tags, f"v{info.version} was never decided nor superseded"
        for info in versions.values():
            previous = info.tags.get(PREVIOUS_TAG)
            assert not previous or previous in versions, f"v{info.version} names v{previous}, which does not exist"
        event = self.instance.get_latest_materialization_event(self.keys.production_model)
        recorded = event.asset_materialization.tags.get("dagster/data_version") if event else None
        assert recorded == f"v{champion.version}", f"Dagster records {recorded}, MLflow v{champion.version}"
        experiment = self.registry.client.get_experiment_by_name(f"retrain_platform/{self.spec.name}")
        running = self.registry.client.search_runs(
            [experiment.experiment_id], filter_string="attributes.status = 'RUNNING'"
        )
        assert not running, f"MLflow runs left RUNNING: {[r.info.run_id for r in running]}"

    def _raw_materializations(self):
        from dagster import AssetRecordsFilter

        records = self.instance.fetch_materializations(AssetRecordsFilter(self.keys.raw_batch), limit=1000).records
        return [r.asset_materialization for r in records]


def _restore(template: Path, root: Path) -> None:
    """Make ``root`` an exact copy of ``template``, overwriting files in place.

    In place, because this process's MLflow stores keep pooled SQLite connections to ``root``'s database: a
    deleted and recreated file would leave them on the old inode, while SQLite notices a rewritten file at the next
    transaction. The platform's own per-process caches (loaded models, reference sketches) are keyed by tracking
    URI and version, which a restored store reuses with other contents, so they are emptied too.
    """
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore

    from retrain_platform.registry import mlflow_registry, reference

    # SQLite trusts its page cache when a file's change counter is what it last saw, and a restored store can
    # reach the counter a connection saw in the previous test with other contents: drop every pooled connection.
    for store in (TrackingStore, RegistryStore):
        for engine in store._engine_map.values():
            engine.dispose()
    wanted = {path.relative_to(template) for path in template.rglob("*")}
    if root.exists():
        for path in sorted(root.rglob("*"), reverse=True):
            if path.relative_to(root) not in wanted:
                path.unlink() if path.is_file() or path.is_symlink() else shutil.rmtree(path)
    for relative in sorted(wanted):
        source, target = template / relative, root / relative
        if source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            shutil.copy2(source, target)  # with its mtime: landing fingerprints must not change
    mlflow_registry._load_trusted.cache_clear()
    reference._CACHE.clear()
