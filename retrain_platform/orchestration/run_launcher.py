"""A run launcher for one machine whose run workers run monitoring can health-check.

Dagster's ``DefaultRunLauncher`` (a run worker process per run, started by the code server) cannot tell whether
a run's worker is still alive (``supports_check_run_worker_health`` is False), so run monitoring only fails a
run whose worker was killed once ``max_runtime_seconds`` has passed. The code server notices a worker that dies
under it, but when the code server goes too (an OOM kill, a laptop crash, ``kill -9`` of ``dagster dev``) the
run stays STARTED for ever, and every ``~in_progress()`` condition behind it holds back every later trigger.

:class:`LocalRunLauncher` launches exactly like ``DefaultRunLauncher`` and adds the health check: the run
worker records its pid in its first engine event ("Started process for run (pid: N)."); the worker is

- FAILED when that process is gone, a zombie, or the pid now belongs to a process that started after the event
  (pid reuse: compared with the start time in ``/proc/<pid>/stat``);
- RUNNING while it lives;
- UNKNOWN when no pid was recorded, or the run's code server is on another host.

Run monitoring fails a STARTED run on anything but RUNNING or SUCCESS, UNKNOWN included. Runs executed in a
process of their own (``execute_in_process``, the demo's replay) record no run-worker event; their executing
process's pid comes from the in-process executor's "Executing steps in process (pid: N)" event instead.

Configure it in ``dagster.yaml``::

    run_launcher:
      module: retrain_platform.orchestration.run_launcher
      class: LocalRunLauncher
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, DefaultRunLauncher
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.storage.tags import GRPC_INFO_TAG

# The messages of the engine events that carry the pid of the process executing a run (dagster/_grpc/impl.py,
# dagster/_cli/api.py; dagster/_core/executor/in_process.py), preferred in this order.
RUN_WORKER_MESSAGE = "Started process for run"
IN_PROCESS_MESSAGE = "Executing steps in process"
# /proc start times are derived from the boot time in whole seconds: allow that much before calling a pid reused.
START_TIME_SLACK_SECONDS = 2.0
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


@dataclass(frozen=True)
class RunWorker:
    """The process that executes a run, as its engine event recorded it."""

    pid: int
    recorded_at: float  # the event's timestamp: the process was alive then, so it started before

    def status(self) -> CheckRunHealthResult:
        """RUNNING while this very process lives, FAILED once it is gone (or its pid was reused)."""
        state = process_state(self.pid)
        if state is None:
            return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker process {self.pid} is gone")
        code, started_at = state
        if code in ("Z", "X"):
            return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker process {self.pid} has exited (zombie)")
        if started_at is not None and started_at > self.recorded_at + START_TIME_SLACK_SECONDS:
            return CheckRunHealthResult(
                WorkerStatus.FAILED,
                f"run worker process {self.pid} is gone; the pid now belongs to a process started "
                f"{started_at - self.recorded_at:.0f}s after the worker reported it",
            )
        return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker process {self.pid} is alive")


def process_state(pid: int) -> tuple[str, float | None] | None:
    """``(state, start time as a Unix timestamp)`` of a live process, None if there is no such process.

    From ``/proc/<pid>/stat`` on Linux; elsewhere a signal-0 probe, which cannot see start times (state "?").
    """
    stat = Path(f"/proc/{pid}/stat")
    if Path("/proc/self/stat").exists():
        try:
            text = stat.read_text()
        except (FileNotFoundError, ProcessLookupError):
            return None
        # The command name (field 2) is in parentheses and may contain spaces: split after its closing one.
        fields = text.rsplit(")", 1)[1].split()
        ticks_since_boot = int(fields[19])  # field 22, starttime, in clock ticks
        return fields[0], _boot_time() + ticks_since_boot / os.sysconf("SC_CLK_TCK")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # someone else's process: alive, though it may not be ours
        pass
    return "?", None


def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise RuntimeError("/proc/stat has no btime line")


def run_worker(instance: DagsterInstance, run_id: str) -> RunWorker | None:
    """The run's worker process from its engine events (the run worker's, else the in-process executor's)."""
    found: dict[str, RunWorker] = {}
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = entry.dagster_event
        data = event.event_specific_data if event else None
        pid = data.metadata.get("pid") if data is not None else None
        if pid is None:
            continue
        message = event.message or ""
        for prefix in (RUN_WORKER_MESSAGE, IN_PROCESS_MESSAGE):
            if message.startswith(prefix):
                # the latest event of each kind: a worker started again for the same run replaces the first
                found[prefix] = RunWorker(int(pid.value), entry.timestamp)
    return found.get(RUN_WORKER_MESSAGE) or found.get(IN_PROCESS_MESSAGE)


def _code_server_host(run: DagsterRun) -> str | None:
    """The host of the code server that launched the run (``DefaultRunLauncher`` tags it), if recorded."""
    info = run.tags.get(GRPC_INFO_TAG)
    return json.loads(info).get("host") if info else None


def _is_this_host(host: str) -> bool:
    return host in _LOCAL_HOSTS or host in (socket.gethostname(), socket.getfqdn())


class LocalRunLauncher(DefaultRunLauncher):
    """``DefaultRunLauncher`` plus run-worker health checks for code servers on this host (see the module)."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        """Run monitoring may ask this launcher whether a run's worker is alive."""
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        """FAILED if the run's worker process is gone, RUNNING while it lives, UNKNOWN if it cannot tell."""
        host = _code_server_host(run)
        if host is not None and not _is_this_host(host):
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, f"run worker is on host {host}, not this one")
        worker = run_worker(self._instance, run.run_id)
        if worker is None:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "the run recorded no run worker pid")
        return worker.status()

    def get_run_worker_debug_info(self, run: DagsterRun, include_container_logs: bool | None = True) -> str | None:
        """What run monitoring appends to the failure message: which process, and what became of it."""
        worker = run_worker(self._instance, run.run_id)
        if worker is None:
            return None
        recorded = dt.datetime.fromtimestamp(worker.recorded_at, dt.UTC).isoformat(timespec="seconds")
        return f"{worker.status().msg} (pid recorded at {recorded})"
