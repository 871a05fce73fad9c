"""kill -9 at every step of a retrain and an ingest: run monitoring, the sensor and automation recover by themselves.

Each test trains a first model on good days, lands three days of a new regime (a candidate trained on them beats
the champion clearly), then runs the retrain job in a worker process that a fail point SIGKILLs at one step. The
crash must leave a state where nothing wrong is visible (the old champion, or the new one with its record in
progress), and the daemon's own machinery (run monitoring, the retry cadence of the automation conditions, the
gate's repair) must finish the job: the regime-change candidate ends up champion, fully recorded, and Dagster
agrees with MLflow.
"""

from __future__ import annotations

import datetime as dt
import json
import signal

import pytest

from retrain_platform.registry import PARTITIONS_TAG, PENDING_TAG
from retrain_platform_tests.faults.lab import FaultLab
from retrain_platform_tests.integration.regimes import drifted_frame

pytestmark = [pytest.mark.slow, pytest.mark.faults]

# In the order a retrain passes them: the fit, inside the open MLflow run, the logged model, the registered
# version, the gate's decision, the champion's reference sketch, the recorded intent, the alias move and the
# completed record.
RETRAIN_STEPS = [
    "training.fitted",
    "registry.run_open",
    "registry.model_logged",
    "registry.version_created",
    "gate.decided",
    "gate.reference_built",
    "registry.intent_recorded",
    "registry.alias_moved",
    "registry.recorded",
]


@pytest.mark.parametrize("step", RETRAIN_STEPS)
def test_kill_during_retrain_recovers_without_a_person(step, tmp_path, monkeypatch, record_property):
    record_property("fault", f"kill -9 at {step}")
    lab, drifted = FaultLab.prepared(monkeypatch)

    status = lab.run_worker(lab.retrain_request(), failpoints=f"{step}=kill")

    assert status == -signal.SIGKILL, f"the worker was not killed at {step} (exit {status})"
    assert lab.runs_not_done(), "a killed run should be left STARTED until run monitoring sees it"
    champion = lab.registry.champion(lab.spec.name)
    # Nothing wrong is visible meanwhile: the old champion, or the candidate whose move is at most pending.
    assert champion.version == "1" or PENDING_TAG in champion.tags or step == "registry.recorded"

    lab.recover()

    lab.assert_consistent()
    champion = lab.registry.champion(lab.spec.name)
    assert champion.version != "1", "the regime-change candidate was never promoted after the crash"
    assert json.loads(champion.tags[PARTITIONS_TAG]) == [d.isoformat() for d in drifted]
    assert champion.tags["champion.previous"] == "1"
    assert champion.tags["gate.promote"] == "True"


# An ingest run passes these: before the landed file is copied into the lake, and after the copy, before the
# partition's features are written.
INGEST_STEPS = ["lake.copy_raw", "lake.write_features"]


@pytest.mark.parametrize("step", INGEST_STEPS)
def test_kill_during_ingest_recovers_without_a_person(step, monkeypatch, record_property):
    record_property("fault", f"kill -9 at {step}")
    lab, drifted = FaultLab.prepared(monkeypatch, drifted_days=1)
    day = drifted[-1] + dt.timedelta(days=1)
    lab.land(day, drifted_frame(day))
    [request] = lab.sensor_requests()

    assert lab.run_worker(request, failpoints=f"{step}=kill") == -signal.SIGKILL
    assert not lab.lake.features_path(lab.spec.name, day.isoformat()).exists()

    lab.recover()

    lab.assert_consistent()
    assert lab.lake.features_raw_sha256(lab.spec.name, day.isoformat()) == lab.landed[lab.land_path(day)]
    assert lab.champion_version() == "1"  # an ingest never moves the champion
