"""A registry that blips or is down: errors stay errors, nothing passes or promotes by accident, and it recovers.

"Flaky" is a fail point that makes the first champion lookup of a run fail (``error:1``); "down" is a tracking URI
on a loopback port nobody listens on. The password of a tracking URI must never reach the UI, messages or logs.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from dagster import AssetCheckKey, DagsterEventType, EventRecordsFilter
from dagster._core.remote_representation.external_data import RepositorySnap

from retrain_platform.definitions import build_definitions
from retrain_platform_tests.faults.lab import FaultLab
from retrain_platform_tests.integration.regimes import drifted_frame
from retrain_platform_tests.registry.tampering import SYSTEM_CALL, plant_system_call

pytestmark = [pytest.mark.slow, pytest.mark.faults]

DOWN = "http://127.0.0.1:9"  # the discard port: nothing listens on loopback here
STATUS_BOUND_SECONDS = 60


def step_failures(lab: FaultLab, run_id: str) -> list[str]:
    """What the UI shows for each failed step of one run: the error and its causes (after retries, Dagster's
    "Exceeded max_retries" comes first and the platform's message is its cause)."""
    records = lab.instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_FAILURE).records
    out = []
    for record in records:
        error, parts = record.event_log_entry.dagster_event.event_specific_data.error, []
        while error is not None:
            parts.append(error.message.strip())
            error = error.cause
        out.append(" <- ".join(parts))
    return out


def check_results(lab: FaultLab, check: AssetCheckKey, partition: str) -> list[bool]:
    """Pass/fail of every evaluation of ``check`` on ``partition``."""
    records = lab.instance.get_event_records(
        EventRecordsFilter(event_type=DagsterEventType.ASSET_CHECK_EVALUATION), limit=1000
    )
    out = []
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if evaluation.asset_check_key == check and evaluation.partition in (partition, None):
            out.append(evaluation.passed)
    return out


def test_a_flaky_champion_lookup_in_the_gate_is_retried_not_read_as_no_champion(tmp_path, monkeypatch, record_property):
    record_property("fault", "registry flaky during the gate")
    lab, _ = FaultLab.prepared(monkeypatch)

    assert lab.run_worker(lab.retrain_request(), failpoints="registry.read_champion=error:1") == 0

    lab.assert_consistent()
    v2 = lab.registry.version(lab.spec.name, "2")
    assert not v2.tags["gate.reason"].startswith("first model"), v2.tags["gate.reason"]
    assert v2.tags["gate.champion_score"] != ""  # compared with the real champion, v1


def test_registry_down_fails_monitoring_clearly_and_the_day_is_monitored_once_it_is_back(
    tmp_path, monkeypatch, record_property
):
    record_property("fault", "registry unreachable during ingest")
    lab, drifted = FaultLab.prepared(monkeypatch, drifted_days=1)
    day = drifted[-1] + dt.timedelta(days=1)
    lab.land(day, drifted_frame(day))
    [request] = lab.sensor_requests()

    assert lab.run_worker(request, MLFLOW_TRACKING_URI=DOWN) == 1

    [run] = [r for r in lab.instance.get_runs() if r.tags.get("dagster/partition") == day.isoformat()]
    messages = step_failures(lab, run.run_id)
    assert messages and all(f"MLflow registry at {DOWN} failed to" in m for m in messages), messages
    partition = day.isoformat()
    assert True not in check_results(lab, lab.keys.drift_check, partition), "a check passed with the registry down"
    assert True not in check_results(lab, lab.keys.performance_check, partition)

    lab.recover()

    assert check_results(lab, lab.keys.drift_check, partition), "the day was never monitored once MLflow was back"
    lab.assert_consistent()


@pytest.mark.parametrize("command", [["status"], ["rollback", "credit_faults"]])
def test_cli_answers_in_one_line_within_a_bound_when_the_registry_is_down(
    command, tmp_path, monkeypatch, record_property
):
    record_property("fault", f"registry unreachable for retrain {command[0]}")
    lab = FaultLab(tmp_path, monkeypatch)
    env = {**os.environ, **lab.env, "MLFLOW_TRACKING_URI": DOWN}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "retrain_platform.cli", *command], env=env, capture_output=True, text=True, timeout=120
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 3, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"MLflow registry at {DOWN}" in lines[0]
    assert elapsed < STATUS_BOUND_SECONDS, f"took {elapsed:.1f} s"


def test_a_password_in_the_tracking_uri_never_reaches_the_ui_or_messages(tmp_path, monkeypatch, record_property):
    record_property("fault", "credentials in MLFLOW_TRACKING_URI")
    password = "s3cret-pw"
    uri = f"http://user:{password}@127.0.0.1:9"
    lab, _ = FaultLab.prepared(monkeypatch, drifted_days=1)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)

    # What the webserver's GraphQL returns as the resources' configured values.
    snapshot = RepositorySnap.from_def(build_definitions([lab.spec]).get_repository_def())
    assert password not in repr([r.configured_values for r in snapshot.resources])

    # A retrain against that (unreachable) registry: its failure says where, never with the password.
    assert lab.run_worker(lab.retrain_request(), MLFLOW_TRACKING_URI=uri) == 1
    runs = lab.instance.get_runs()
    messages = [m for r in runs for m in step_failures(lab, r.run_id)]
    assert any("http://user:***@127.0.0.1:9" in m for m in messages), messages
    assert password not in repr(messages) and password not in repr([r.tags for r in runs])
    assert password not in (lab.root / "workers.log").read_text()


def test_a_tampered_champion_artifact_never_runs_and_fails_monitoring_clearly(tmp_path, monkeypatch):
    lab, drifted = FaultLab.prepared(monkeypatch, drifted_days=1)
    version = lab.registry.client.get_model_version(lab.spec.name, lab.champion_version())
    logged = lab.registry.client.get_logged_model(version.source.removeprefix("models:/"))
    marker = tmp_path / "pwned"
    plant_system_call(Path(urlparse(logged.artifact_location).path), marker)
    day = drifted[-1] + dt.timedelta(days=1)

    lab.day(day, drifted_frame(day))

    assert not marker.exists(), "the tampered artifact ran its command"
    runs = [r for r in lab.instance.get_runs() if r.tags.get("dagster/partition") == day.isoformat()]
    messages = [m for r in runs for m in step_failures(lab, r.run_id)]
    assert messages and all(SYSTEM_CALL in m and "tampered" in m for m in messages), messages
    assert True not in check_results(lab, lab.keys.performance_check, day.isoformat())
    assert lab.champion_version() == "1"  # refused, never replaced or dropped behind anyone's back
