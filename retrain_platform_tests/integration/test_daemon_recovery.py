"""The real daemon with late data and with a killed run: the loop neither skips late days nor stalls.

Same setup as ``test_daemon.py`` (whose helpers this module imports): the repo's ``dagster.yaml`` with test-speed
intervals, the platform's ``LocalRunLauncher``, run monitoring and run retries, a spec starting 20 days ago.

- A drifted day lands two days late: D-3, while D-2 and D-1 (the partitions' latest day) never land. It is the
  newest landed partition, so its failing drift check retrains, exactly as in the in-process replay.
- The whole daemon (daemon, code server and the run worker of a retrain) is killed with SIGKILL while the retrain
  runs, as a crash of the machine's ``dagster dev`` would; nothing is left to report the run, which stays
  STARTED (a run worker killed alone is reported failed by its code server within a second). A new daemon's run
  monitoring finds the worker's pid gone and fails the run, the run is retried, and the retrain succeeds: no
  person involved.
"""

from __future__ import annotations

import time

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

from retrain_platform.keys import ModelKeys
from retrain_platform.orchestration.run_launcher import process_state, run_worker
from retrain_platform_tests.conftest import credit_frame
from retrain_platform_tests.integration.regimes import drifted_frame
from retrain_platform_tests.integration.test_daemon import (
    ROWS,
    TERMINAL,
    Scenario,
    assert_no_tracebacks,
    daemon_setup,
    describe_runs,
    explain_failure,
    land,
    meta,
)

pytestmark = [pytest.mark.slow, pytest.mark.daemon]

TIMEOUT_SECONDS = 170  # each test; the brief's budget is about three minutes on two cores


def land_history(scenario: Scenario, setup, newest: int) -> None:
    """Land the two good days before D-``newest`` at once and wait for their features (nothing trains: fewer
    than ``min_partitions``); the test then lands D-``newest`` itself."""
    keys = ModelKeys(setup.spec.name)
    history = [setup.day(newest + 2), setup.day(newest + 1)]
    for d in history:
        land(setup.landing, d, credit_frame(d, rows=ROWS))
    scenario.until(
        f"features of D-{newest + 2}, D-{newest + 1} (2 ingest runs)",
        lambda: {d.isoformat() for d in history} <= scenario.partitions_since(keys.features, None),
    )


def retrain_runs(instance: DagsterInstance, keys: ModelKeys) -> list:
    """Runs that train a candidate, oldest first."""
    runs = [r for r in instance.get_runs() if keys.candidate_model in (r.asset_selection or ())]
    return list(reversed(runs))


def test_a_drifted_day_landing_two_days_late_is_retrained_on(tmp_path):
    setup = daemon_setup(tmp_path, name="credit_late", budget_seconds=TIMEOUT_SECONDS)
    keys = ModelKeys(setup.spec.name)
    with DagsterInstance.from_config(str(setup.dagster_home)) as instance:
        scenario = Scenario(instance, setup.start_daemon(), TIMEOUT_SECONDS)
        try:
            # the first model: D-6, D-5, then D-4 (the volume check fails on the newest landed partition)
            land_history(scenario, setup, newest=4)
            land(setup.landing, setup.day(4), credit_frame(setup.day(4), rows=ROWS))
            first = scenario.until("first model decided", lambda: scenario.gate_events(keys.production_model))
            assert meta(first[0], "decision") == "promoted", meta(first[0], "reason")

            # D-3 lands drifted; D-2 and D-1 never land, so D-3 is the newest landed but not the latest partition
            before = scenario.mark()
            late = setup.day(3)
            land(setup.landing, late, drifted_frame(late))
            decided = scenario.until(
                "late drifted day ingested, retrained and gated",
                lambda: scenario.gate_events(keys.production_model, before),
            )
            [candidate] = scenario.materializations(keys.candidate_model, before)
            assert "drift" in meta(candidate, "reason"), meta(candidate, "reason")
            assert meta(candidate, "window_end") == late.isoformat()
            assert meta(decided[0], "candidate_version") == meta(candidate, "version")
            scenario.until("all runs finished", lambda: all(r.status in TERMINAL for r in instance.get_runs()), 0.5)
            assert all(r.status == DagsterRunStatus.SUCCESS for r in instance.get_runs()), describe_runs(instance)
            assert_no_tracebacks(scenario.daemon)
            print(scenario.report())
            print(describe_runs(instance))
        except BaseException:
            explain_failure(scenario, instance)
            raise
        finally:
            scenario.daemon.stop()


def test_a_retrain_killed_with_its_daemon_is_failed_by_run_monitoring_and_retried(tmp_path):
    setup = daemon_setup(tmp_path, name="credit_killed", budget_seconds=TIMEOUT_SECONDS)
    keys = ModelKeys(setup.spec.name)
    with DagsterInstance.from_config(str(setup.dagster_home)) as instance:
        first_daemon = setup.start_daemon("daemon-1.log")
        scenario = Scenario(instance, first_daemon, TIMEOUT_SECONDS)
        second_daemon = None
        try:
            # the first model's retrain starts; the moment its worker is executing, everything is killed
            land_history(scenario, setup, newest=3)
            land(setup.landing, setup.day(3), credit_frame(setup.day(3), rows=ROWS))

            def executing():
                for run in retrain_runs(instance, keys):
                    worker = run_worker(instance, run.run_id)
                    if run.status == DagsterRunStatus.STARTED and worker is not None:
                        return run, worker
                return None

            run, worker = scenario.until("retrain run executing in its worker", executing, poll=0.1)
            first_daemon.crash()
            # dead: gone, or a zombie nobody reaps (its parent, the code server, died with it)
            state = process_state(worker.pid)
            assert state is None or state[0] == "Z", f"run worker {worker.pid} survived the kill: {state}"
            assert not scenario.materializations(keys.candidate_model), "killed too late: the candidate was trained"
            time.sleep(3)
            assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED  # stalled: nobody reports it
            scenario.expected_failures.add(run.run_id)

            second_daemon = setup.start_daemon("daemon-2.log")
            scenario.daemon = second_daemon
            scenario.until(
                "run monitoring failed the dead run",
                lambda: instance.get_run_by_id(run.run_id).status == DagsterRunStatus.FAILURE,
                poll=0.5,
            )
            [failure] = instance.all_logs(run.run_id, of_type={DagsterEventType.RUN_FAILURE})
            assert f"run worker process {worker.pid} is gone" in failure.dagster_event.message, failure.message

            decided = scenario.until("retried retrain decided", lambda: scenario.gate_events(keys.production_model))
            assert meta(decided[0], "decision") == "promoted", meta(decided[0], "reason")
            assert setup.registry.champion(setup.spec.name) is not None
            scenario.until("all runs finished", lambda: all(r.status in TERMINAL for r in instance.get_runs()), 0.5)
            failed = [r.run_id for r in instance.get_runs() if r.status != DagsterRunStatus.SUCCESS]
            assert failed == [run.run_id], describe_runs(instance)
            retried = [r for r in retrain_runs(instance, keys) if r.run_id != run.run_id]
            assert retried and all(r.status == DagsterRunStatus.SUCCESS for r in retried), describe_runs(instance)
            print(scenario.report())
            print(describe_runs(instance))
        except BaseException:
            explain_failure(scenario, instance)
            raise
        finally:
            first_daemon.stop()
            if second_daemon is not None:
                second_daemon.stop()
