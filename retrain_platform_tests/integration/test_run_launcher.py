"""The run launcher's worker health check, on real processes and a real instance configured with it.

A run's worker records its pid the way Dagster's run worker does (an engine event "Started process for run
(pid: N)." with ``EngineEventData.in_process(pid)``); the worker here is a real subprocess, killed with SIGKILL.
The last test hands such a run to Dagster's own run-monitoring step.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, job, op
from dagster._core.events import EngineEventData
from dagster._core.launcher import WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG
from dagster._daemon.monitoring.run_monitoring import monitor_started_run

from retrain_platform.orchestration.run_launcher import LocalRunLauncher, process_state, run_worker
from retrain_platform_tests.conftest import QUIET

LAUNCHER = {"module": "retrain_platform.orchestration.run_launcher", "class": "LocalRunLauncher"}


@op
def nothing() -> None:
    """A step that does nothing."""


@job
def idle_job():
    nothing()


@pytest.fixture
def instance(tmp_path):
    """A real SQLite instance whose ``dagster.yaml`` names the launcher, as the shipped one does."""
    with DagsterInstance.local_temp(str(tmp_path), overrides={"run_launcher": LAUNCHER}) as inst:
        yield inst


@pytest.fixture
def worker():
    """A live subprocess standing in for a run worker (killed at the end if a test did not)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def started_run(instance: DagsterInstance, pid: int | None = None, *, recorded_at: float | None = None, tags=None):
    """A STARTED run whose worker reported ``pid`` (at ``recorded_at``, default now) like Dagster's run worker."""
    run = instance.create_run_for_job(idle_job, status=DagsterRunStatus.STARTED, tags=tags)
    if pid is not None:
        event = instance.report_engine_event(
            f"Started process for run (pid: {pid}).", run, EngineEventData.in_process(pid)
        )
        if recorded_at is not None:  # the same event, as if written earlier
            instance.report_dagster_event(event, run_id=run.run_id, timestamp=recorded_at)
    return run


def health(instance: DagsterInstance, run):
    return instance.run_launcher.check_run_worker_health(run)


def test_the_instance_loads_the_launcher_and_it_supports_health_checks(instance):
    assert isinstance(instance.run_launcher, LocalRunLauncher)
    assert instance.run_launcher.supports_check_run_worker_health


def test_a_live_worker_is_running_and_a_killed_one_failed(instance, worker):
    run = started_run(instance, worker.pid)
    assert health(instance, run).status == WorkerStatus.RUNNING

    worker.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 10
    while (process_state(worker.pid) or ("gone",))[0] not in ("Z", "gone") and time.monotonic() < deadline:
        time.sleep(0.05)
    # not reaped yet: a zombie is dead too
    assert process_state(worker.pid)[0] == "Z"
    result = health(instance, run)
    assert result.status == WorkerStatus.FAILED and "zombie" in result.msg

    worker.wait()
    result = health(instance, run)
    assert result.status == WorkerStatus.FAILED and f"{worker.pid} is gone" in result.msg


def test_a_reused_pid_is_not_mistaken_for_the_worker(instance, worker):
    # the run recorded this pid a minute before the process now holding it started: the worker itself is gone
    run = started_run(instance, worker.pid, recorded_at=time.time() - 60)
    result = health(instance, run)
    assert result.status == WorkerStatus.FAILED and "now belongs to a process started" in result.msg
    # the latest recorded event is the one that counts
    instance.report_engine_event(
        f"Started process for run (pid: {worker.pid}).", run, EngineEventData.in_process(worker.pid)
    )
    assert health(instance, run).status == WorkerStatus.RUNNING


def test_no_recorded_pid_or_another_host_is_unknown(instance, worker):
    assert health(instance, started_run(instance)).status == WorkerStatus.UNKNOWN
    remote = {GRPC_INFO_TAG: json.dumps({"host": "code-server.example.internal", "port": 4000})}
    assert health(instance, started_run(instance, worker.pid, tags=remote)).status == WorkerStatus.UNKNOWN
    local = {GRPC_INFO_TAG: json.dumps({"host": "localhost", "port": 4000})}
    assert health(instance, started_run(instance, worker.pid, tags=local)).status == WorkerStatus.RUNNING


def test_a_run_executed_in_process_is_found_by_its_executor_event(instance):
    result = idle_job.execute_in_process(instance=instance, run_config=QUIET)
    worker = run_worker(instance, result.run_id)
    assert worker is not None and worker.pid == os.getpid()
    assert health(instance, instance.get_run_by_id(result.run_id)).status == WorkerStatus.RUNNING


def test_run_monitoring_fails_a_started_run_whose_worker_was_killed(instance, worker):
    run = started_run(instance, worker.pid)
    record = instance.get_run_record_by_id(run.run_id)
    monitor_started_run(instance, None, record, logging.getLogger("test"))
    assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED  # alive: left alone

    worker.kill()
    worker.wait()
    monitor_started_run(instance, None, instance.get_run_record_by_id(run.run_id), logging.getLogger("test"))
    assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.FAILURE
    [failure] = instance.all_logs(run.run_id, of_type={DagsterEventType.RUN_FAILURE})
    assert f"run worker process {worker.pid} is gone" in failure.dagster_event.message
