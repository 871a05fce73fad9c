"""The real Dagster daemon runs the retraining loop by itself, from files landing to the gate's decision.

The test starts ``dagster-daemon run -w workspace.yaml`` as a subprocess on a temporary instance: the repo's
``dagster.yaml`` (SQLite storage under DAGSTER_HOME, ``QueuedRunCoordinator`` with two concurrent runs, the
platform's ``LocalRunLauncher``: one subprocess per run, run monitoring and run retries) with a one-second
dequeue interval and a two-second monitoring poll (``instance_yaml``), and the ``in_process`` executor;
``RETRAIN_HOME``, ``MLFLOW_TRACKING_URI`` and ``RETRAIN_SPECS`` in the test's folder, one-second sensor intervals
(the daemon's loops still tick about every five seconds). The workspace loads ``retrain_platform.definitions``
exactly as ``workspace.yaml`` at the repo root does, from this checkout (``PYTHONPATH``).

The test only writes files into the landing folder (atomically: a dot-file, then a rename). It never launches a
run; it polls the instance and the MLflow store and asserts what the daemon did. Data arrives on time here: the
newest day that lands is yesterday (D-1), the partitions' latest day, and every trigger looks at the newest
*landed* partition (``test_daemon_recovery.py`` lands a day late):

1. Two good days (D-3, D-2) land at once: the landing sensor starts an ingest run per file, and nothing trains
   (``min_partitions`` is 3). Then yesterday (D-1) lands: the ``training_volume`` check fails on the newest landed
   partition, the automation sensor requests ``candidate_model`` + ``production_model``, and the first model is
   trained and promoted (the MLflow ``champion`` alias exists).
2. The regime changes, as a re-landing (the platform's "corrected file" path) of the training window. D-3 and
   D-2 are re-landed first (their drift checks fail, but they are not the newest landed partition, so nothing
   retrains), then D-1: its ``drift`` check (and the performance floor) newly fails, a candidate is trained with
   a reason naming the drift, and the gate decides it in the same run.

The drifted data (``regimes.drifted_frame``) is designed so the decision is clear: 2 of 5 columns drift (the spec's
threshold is 40%) and default starts to hinge on other columns. The spec's ``window_days: 3`` makes the new
candidate train on the three re-landed days only, with the newest third (D-1) as its holdout, where the old
champion scores below 0.5 ROC AUC and the candidate about 0.79, so the paired-bootstrap gate promotes it.

Six ingest runs and two retrain runs (asserted: every run came from a sensor and succeeded); each run pays
several seconds of process start and imports. The per-phase timings are printed. The whole scenario has a hard
limit of ``TIMEOUT_SECONDS``; the daemon is always stopped (its whole process group) in ``finally``, and on
failure the runs with their status and errors and the tail of the daemon's log are printed. If UTC midnight would
fall inside the scenario, the test first waits for it (at most about six and a half minutes, on about one run in
220), since "yesterday" must not change under it. ``test_regimes.py`` checks the scenario's data in-process over
many dates, so a data problem shows there first. ``test_daemon_recovery.py`` reuses this module's helpers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml
from dagster import AssetRecordsFilter, DagsterEventType, DagsterInstance, DagsterRunStatus

from retrain_platform.definitions import AUTOMATION_SENSOR
from retrain_platform.ingest.sensor import LANDING_SENSOR_NAME
from retrain_platform.keys import ModelKeys
from retrain_platform.pipeline import ingest_job_name, retrain_job_name
from retrain_platform.registry import ModelRegistry
from retrain_platform.spec import ModelSpec, load_spec
from retrain_platform.storage.lake import Lake
from retrain_platform_tests.conftest import credit_frame, spec_dict
from retrain_platform_tests.integration.regimes import SPEC_OVERRIDES, drifted_frame

pytestmark = [pytest.mark.slow, pytest.mark.daemon]

NAME = "credit_daemon"
ROWS = 300
NEWEST = 1  # the scenario's newest landed day: yesterday, on time (test_daemon_recovery.py has a late one)
TIMEOUT_SECONDS = 330  # daemon start to the gate's decision; the brief's hard limit is about six minutes
STOP_GRACE_SECONDS = 20

REPO = Path(__file__).resolve().parents[2]
# Test speed only; everything else is the shipped dagster.yaml (run launcher, run monitoring, run retries, ...).
TEST_INSTANCE_SETTINGS = {
    "run_coordinator": {"config": {"dequeue_interval_seconds": 1}},  # default 5: runs start sooner
    "run_monitoring": {"poll_interval_seconds": 2},  # default here 30: a dead worker is noticed sooner
}


def instance_yaml() -> str:
    """The repo's ``dagster.yaml`` with :data:`TEST_INSTANCE_SETTINGS` merged in (SQLite under DAGSTER_HOME)."""
    settings = yaml.safe_load((REPO / "dagster.yaml").read_text())
    for section, values in TEST_INSTANCE_SETTINGS.items():
        merged = settings.setdefault(section, {})
        for key, value in values.items():
            merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) else value
    return yaml.safe_dump(settings, sort_keys=False)


WORKSPACE_YAML = """\
load_from:
  - python_module:
      module_name: retrain_platform.definitions
      attribute: defs
      location_name: retrain_platform
"""

TERMINAL = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


def land(folder: Path, day: dt.date, frame: pd.DataFrame) -> Path:
    """Land a day's CSV the way the README asks: write a dot-file (ignored by the sensor), then rename."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{day.isoformat()}.csv"
    partial = folder / f".{target.name}.partial"
    frame.to_csv(partial, index=False)
    os.replace(partial, target)
    return target


def wait_past_midnight(budget_seconds: float) -> None:
    """If UTC midnight falls within the scenario, wait for it: "yesterday" must not change while the test runs."""
    now = dt.datetime.now(dt.UTC)
    midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    left = (midnight - now).total_seconds()
    if left < budget_seconds:
        time.sleep(left + 5)


def _live_group_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are still running (zombies excluded; Linux /proc, else a signal probe)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [pgid]
    members = []
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


class DaemonProcess:
    """``dagster-daemon run`` in its own process group (code server and run workers included), logged to a file."""

    def __init__(self, workspace: Path, env: dict[str, str], cwd: Path, log_path: Path):
        executable = Path(sys.executable).with_name("dagster-daemon")
        assert executable.exists(), f"{executable} not found; run the tests with the project's venv"
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [str(executable), "run", "-w", str(workspace)],
            cwd=cwd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop() reaches every process it started
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM the whole group, then SIGKILL whatever is left after a grace period."""
        pgid = self.proc.pid
        for sig, grace in ((signal.SIGTERM, STOP_GRACE_SECONDS), (signal.SIGKILL, 10)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            end = time.monotonic() + grace
            while time.monotonic() < end:
                self.proc.poll()  # reap the daemon itself, so it does not linger as a zombie
                if not _live_group_members(pgid):
                    break
                time.sleep(0.2)
            if not _live_group_members(pgid):
                break
        try:
            self.proc.wait(timeout=10)
        finally:
            self._log.close()

    def crash(self) -> None:
        """SIGKILL the whole group at once, as a crash or an OOM kill of ``dagster dev`` would: nothing cleans up."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        end = time.monotonic() + 10
        while _live_group_members(self.proc.pid) and time.monotonic() < end:
            time.sleep(0.1)
        self._log.flush()

    def tail(self, lines: int = 150) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def describe_runs(instance: DagsterInstance) -> str:
    """Every run, oldest first, with its status and, for failures, the error."""
    out = []
    for run in reversed(instance.get_runs()):
        tags = run.tags
        out.append(
            f"{run.run_id[:8]} {run.job_name:<28} partition={tags.get('dagster/partition', '-'):<10} "
            f"{run.status.value:<10} by={tags.get('dagster/sensor_name', 'NOT A SENSOR')} "
            f"assets={','.join(k.path[-1] for k in run.asset_selection or [])}"
            + (f" retry-of={tags['dagster/parent_run_id'][:8]}" if "dagster/parent_run_id" in tags else "")
        )
        if run.status == DagsterRunStatus.FAILURE:
            for record in instance.all_logs(
                run.run_id, of_type={DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE}
            ):
                event = record.dagster_event
                error = getattr(event.event_specific_data, "error", None)
                out.append("    " + (error.to_string() if error else event.message or "")[:3000])
    return "\n".join(out) or "(no runs)"


class Scenario:
    """Polls the instance for what the daemon did, under one overall deadline, failing fast on failed runs.

    A test that makes a run fail on purpose adds its id to ``expected_failures``; ``daemon`` may be replaced (a
    restarted daemon) between waits.
    """

    def __init__(self, instance: DagsterInstance, daemon: DaemonProcess, timeout: float):
        self.instance = instance
        self.daemon = daemon
        self.expected_failures: set[str] = set()
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        self.timings: list[tuple[str, float]] = []
        self._mark = self.started

    def until(self, what: str, probe, poll: float = 1.0):
        while True:
            found = probe()
            if found:
                now = time.monotonic()
                self.timings.append((what, now - self._mark))
                self._mark = now
                return found
            failed = [
                r
                for r in self.instance.get_runs()
                if r.status == DagsterRunStatus.FAILURE and r.run_id not in self.expected_failures
            ]
            if failed:
                raise AssertionError(f"while waiting for {what}: {len(failed)} run(s) failed")
            if not self.daemon.alive():
                raise AssertionError(f"while waiting for {what}: the daemon exited ({self.daemon.proc.returncode})")
            if time.monotonic() > self.deadline:
                raise AssertionError(f"timed out after {time.monotonic() - self.started:.0f}s waiting for {what}")
            time.sleep(poll)

    def materializations(self, key, after: int | None = None) -> list:
        records_filter = AssetRecordsFilter(asset_key=key, after_storage_id=after)
        return list(self.instance.fetch_materializations(records_filter, limit=1000, ascending=True).records)

    def observations(self, key, after: int | None = None) -> list:
        records_filter = AssetRecordsFilter(asset_key=key, after_storage_id=after)
        return list(self.instance.fetch_observations(records_filter, limit=1000, ascending=True).records)

    def gate_events(self, key, after: int | None = None) -> list:
        """``production_model``'s decisions: materializations (promotions) and observations (rejections)."""
        return sorted(self.materializations(key, after) + self.observations(key, after), key=lambda r: r.storage_id)

    def partitions_since(self, key, after: int | None) -> set[str]:
        return {r.partition_key for r in self.materializations(key, after)}

    def mark(self) -> int:
        """The newest event's storage id: later events are what happens next."""
        return self.instance.event_log_storage.get_maximum_record_id() or 0

    def report(self) -> str:
        rows = [f"  {what:<58} {seconds:6.1f}s" for what, seconds in self.timings]
        total = time.monotonic() - self.started
        return "daemon scenario timings:\n" + "\n".join(rows) + f"\n  {'total (daemon start to end)':<58} {total:6.1f}s"


def assert_no_tracebacks(daemon: DaemonProcess) -> None:
    """The daemon (and the code server and runs it started) logged no error."""
    log = daemon.tail(lines=1_000_000).splitlines()
    tracebacks = [i for i, line in enumerate(log) if "Traceback" in line]
    assert not tracebacks, "the daemon logged an error:\n" + "\n".join(log[tracebacks[0] - 5 : tracebacks[0] + 40])


def explain_failure(scenario: Scenario, instance: DagsterInstance) -> None:
    """What a failed daemon scenario prints: its timings, every run with its status and errors, the daemon log."""
    print(scenario.report(), "--- runs ---", describe_runs(instance), "--- daemon log (tail) ---", sep="\n")
    print(scenario.daemon.tail())


def meta(record, name: str):
    """A metadata value of a materialization or observation record."""
    entry = record.asset_materialization or record.asset_observation
    return entry.metadata[name].value


def check_partition(record) -> str | None:
    """The partition a check execution was recorded for (the record's, else the check's own metadata)."""
    if record.partition:
        return record.partition
    value = record.evaluation.metadata.get("partition") if record.evaluation else None
    return value.value if value is not None else None


@dataclass
class DaemonSetup:
    """A temporary platform for the daemon: spec, instance home, workspace, environment, landing folder, MLflow."""

    root: Path
    spec: ModelSpec
    dagster_home: Path
    workspace: Path
    env: dict[str, str]
    landing: Path
    registry: ModelRegistry
    today: dt.date

    def day(self, n: int) -> dt.date:
        """``n`` days before today (UTC): ``day(1)`` is yesterday, the partitions' latest day."""
        return self.today - dt.timedelta(days=n)

    def start_daemon(self, log_name: str = "daemon.log") -> DaemonProcess:
        """Start ``dagster-daemon run`` on this platform."""
        return DaemonProcess(self.workspace, self.env, cwd=self.root, log_path=self.root / log_name)


def daemon_setup(tmp_path: Path, name: str = NAME, budget_seconds: float = TIMEOUT_SECONDS) -> DaemonSetup:
    """Write the spec, instance and workspace for a daemon scenario of at most ``budget_seconds``.

    The daemon and everything it starts import this checkout's ``retrain_platform`` (``PYTHONPATH``), the same
    code the test imports, whatever is installed in the environment.
    """
    wait_past_midnight(budget_seconds + 60)
    today = dt.datetime.now(dt.UTC).date()
    home, dagster_home, mlflow_dir = tmp_path / "home", tmp_path / "dagster", tmp_path / "mlflow"
    for folder in (home, dagster_home, mlflow_dir):
        folder.mkdir()
    spec_path = tmp_path / "spec.yaml"
    start = (today - dt.timedelta(days=20)).isoformat()
    spec_path.write_text(
        yaml.safe_dump(spec_dict(name, partitions={"start_date": start}, **SPEC_OVERRIDES), sort_keys=False)
    )
    spec = load_spec(spec_path)
    (dagster_home / "dagster.yaml").write_text(instance_yaml())
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(WORKSPACE_YAML)
    tracking_uri = f"sqlite:///{mlflow_dir / 'mlflow.db'}"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
        "DAGSTER_HOME": str(dagster_home),
        "RETRAIN_HOME": str(home),
        "RETRAIN_SPECS": str(spec_path),
        "MLFLOW_TRACKING_URI": tracking_uri,
        "RETRAIN_MLFLOW_ARTIFACTS": (mlflow_dir / "artifacts").as_uri(),
        "RETRAIN_SENSOR_INTERVAL_SECONDS": "1",
        "RETRAIN_EXECUTOR": "in_process",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
        "MLFLOW_LOGGING_LEVEL": "WARNING",
    }
    landing = Lake(root=str(home)).landing_dir(spec)
    registry = ModelRegistry(tracking_uri=tracking_uri)
    # Create the MLflow schema once, before any run: concurrent runs would otherwise race to run its migrations
    # on a fresh SQLite file.
    registry.client.search_experiments()
    return DaemonSetup(tmp_path, spec, dagster_home, workspace, env, landing, registry, today)


def test_daemon_trains_promotes_and_retrains_on_drift_without_a_person(tmp_path):
    setup = daemon_setup(tmp_path)
    # The instance is opened (its SQLite storage created) before the daemon starts, so the two never race to
    # create it; the daemon then opens the same storage from DAGSTER_HOME.
    with DagsterInstance.from_config(str(setup.dagster_home)) as instance:
        daemon = setup.start_daemon()
        try:
            run_scenario(
                Scenario(instance, daemon, TIMEOUT_SECONDS), setup.spec, setup.landing, setup.registry, setup.day
            )
        finally:
            daemon.stop()


def run_scenario(scenario: Scenario, spec, landing: Path, registry: ModelRegistry, day) -> None:
    """Land files, then wait for and check what the daemon does; print diagnostics on any failure."""
    instance, daemon, keys = scenario.instance, scenario.daemon, ModelKeys(spec.name)
    try:
        # (a) history lands at once; each file becomes an ingest run started by the landing sensor. Two days
        # are fewer than training.min_partitions, so nothing trains yet.
        history = [day(NEWEST + 2), day(NEWEST + 1)]
        for d in history:
            land(landing, d, credit_frame(d, rows=ROWS))
        landed = {d.isoformat() for d in history}
        scenario.until(
            "features of D-3, D-2 (2 ingest runs at once)",
            lambda: landed <= scenario.partitions_since(keys.features, None),
        )
        assert not scenario.materializations(keys.candidate_model), "trained before min_partitions days landed"

        # (b) yesterday lands: the volume check fails on the newest landed partition and the first model is trained
        land(landing, day(NEWEST), credit_frame(day(NEWEST), rows=ROWS))
        first_gate = scenario.until(
            "first model decided (D-1 ingest + retrain run)", lambda: scenario.gate_events(keys.production_model)
        )
        first_candidate = scenario.materializations(keys.candidate_model)
        assert len(first_candidate) == 1, [meta(r, "reason") for r in first_candidate]
        assert "volume" in meta(first_candidate[0], "reason")
        assert meta(first_gate[0], "decision") == "promoted", meta(first_gate[0], "reason")
        first_version = str(meta(first_candidate[0], "version"))
        champion = registry.champion(NAME)
        assert champion is not None and champion.version == first_version
        assert scenario.partitions_since(keys.features, None) >= landed | {day(NEWEST).isoformat()}

        # (c) the regime changes: the window is re-landed, the newest landed partition last
        before_drift = scenario.mark()
        for d in history:
            land(landing, d, drifted_frame(d))
        scenario.until(
            "drifted D-3, D-2 ingested (2 runs, no retrain)",
            lambda: landed <= scenario.partitions_since(keys.drift_report, before_drift),
        )
        assert not scenario.materializations(keys.candidate_model, before_drift), "an old partition started a retrain"
        land(landing, day(NEWEST), drifted_frame(day(NEWEST)))

        decided = scenario.until(
            "drift retrain decided (D-1 ingest + retrain run)",
            lambda: scenario.gate_events(keys.production_model, before_drift),
        )

        drift = instance.event_log_storage.get_asset_check_execution_history(keys.drift_check, limit=20)
        newest = next((r for r in drift if check_partition(r) == day(NEWEST).isoformat()), None)
        assert newest is not None and newest.evaluation is not None, "no drift check result for D-1"
        assert not newest.evaluation.passed, f"the drift check on D-1 passed: {newest.evaluation.description}"

        candidates = scenario.materializations(keys.candidate_model, before_drift)
        assert len(candidates) == 1, [meta(r, "reason") for r in candidates]
        candidate = candidates[0]
        assert "drift" in meta(candidate, "reason"), meta(candidate, "reason")
        assert meta(candidate, "window_start") == day(NEWEST + 2).isoformat()
        assert meta(candidate, "window_end") == day(NEWEST).isoformat()
        new_version = str(meta(candidate, "version"))
        assert new_version != first_version

        # (d) the gate decided the drift candidate, and the new regime's model is clearly better
        assert len(decided) == 1
        assert str(meta(decided[0], "candidate_version")) == new_version
        assert meta(decided[0], "decision") == "promoted", meta(decided[0], "reason")
        assert registry.champion(NAME).version == new_version

        # Nothing was launched by hand: every run came from a sensor and succeeded
        scenario.until("all runs finished", lambda: all(r.status in TERMINAL for r in instance.get_runs()), 0.5)
        runs = instance.get_runs()
        sensors = {LANDING_SENSOR_NAME, AUTOMATION_SENSOR}
        assert all(r.tags.get("dagster/sensor_name") in sensors for r in runs), describe_runs(instance)
        assert all(r.status == DagsterRunStatus.SUCCESS for r in runs), describe_runs(instance)
        retrains = [
            r for r in runs if r.job_name == retrain_job_name(NAME) or keys.candidate_model in (r.asset_selection or ())
        ]
        assert len(retrains) == 2, describe_runs(instance)
        ingests = [r for r in runs if r.tags.get("dagster/sensor_name") == LANDING_SENSOR_NAME]
        assert all(r.job_name == ingest_job_name(NAME) for r in ingests)
        assert len(ingests) == 6, describe_runs(instance)
        assert_no_tracebacks(daemon)
        print(scenario.report())
        print(describe_runs(instance))
    except BaseException:
        explain_failure(scenario, instance)
        raise
