"""Nothing stalls: a failed training or gate is requested again on the retry cadence, and only then.

A trigger fires once per failure episode, so before retries a first training that failed was never attempted
again (its volume check kept failing; ``newly_true`` never held again). Failures here are real failed runs on a
real instance: the estimator's ``fit`` raises (training) or scoring the candidate raises (a crash mid-gate),
patched into the platform's own modules for in-process runs. Evaluations happen at exact simulated times on the
default cadence, every ten minutes (``*/10 * * * *``).
"""

from __future__ import annotations

import datetime as dt

import pytest
from dagster import DagsterRunStatus

import retrain_platform.promotion.assets as promotion_assets
import retrain_platform.training.fit as training_fit
from retrain_platform.automation.conditions import DEFAULT_RETRY_CRON, retry_cron
from retrain_platform.pipeline import retrain_job_name
from retrain_platform.registry import DECIDED_AT_TAG
from retrain_platform_tests.automation.helpers import (
    GATE,
    NOTHING,
    RETRAIN,
    SEEDED_NEXT,
    SHIFT,
    day,
    evaluate_at,
    morning,
    requested,
    true_labels,
)
from retrain_platform_tests.conftest import credit_frame

DRIFTED = day(SEEDED_NEXT)
MORNING = DRIFTED + dt.timedelta(days=1)  # the first evaluation after the drifted day has landed


class _BrokenEstimator:
    """An estimator whose training always fails, as a bug in a custom estimator would."""

    def fit(self, *args, **kwargs):
        raise RuntimeError("estimator exploded")


@pytest.fixture
def failing_training(monkeypatch):
    """Between ``start()`` and ``stop()`` every training raises (started explicitly: the seeded champion is
    trained on first use of the ``seeded`` fixture, which must not fail)."""

    class Switch:
        def start(self):
            monkeypatch.setattr(training_fit, "build_estimator", lambda spec: _BrokenEstimator())

        def stop(self):
            monkeypatch.undo()

    return Switch()


def drifted_and_requested(seeded):
    """A seeded model whose newest day drifted; the retrain was requested at 06:01 and not launched yet.

    The daemon's next tick (06:01:30) is evaluated too, as the daemon would, before the test runs the retrain.
    """
    platform = seeded(triggers={"drift": True})
    platform.land_and_ingest(1, start=DRIFTED, shift=SHIFT)
    assert requested(platform, evaluate_at(platform, morning(MORNING, minute=1))) == RETRAIN
    assert requested(platform, evaluate_at(platform, morning(MORNING, minute=1, second=30))) == NOTHING
    return platform


def failed_on(run, step: str) -> bool:
    """Whether ``run`` failed in the step of the asset named ``step``."""
    return not run.success and any(e.step_key and e.step_key.endswith(step) for e in run.get_step_failure_events())


def test_the_default_retry_cadence_is_every_ten_minutes():
    assert retry_cron() == DEFAULT_RETRY_CRON == "*/10 * * * *"


def test_a_failed_training_is_requested_again_on_the_next_retry_tick_and_not_before(seeded, failing_training):
    platform = drifted_and_requested(seeded)
    failing_training.start()
    assert failed_on(platform.retrain(), "candidate_model")

    assert requested(platform, evaluate_at(platform, morning(MORNING, minute=5))) == NOTHING
    assert requested(platform, evaluate_at(platform, morning(MORNING, minute=9, second=59))) == NOTHING
    evaluation = evaluate_at(platform, morning(MORNING, minute=10, second=30))
    assert requested(platform, evaluation) == RETRAIN  # the gate comes along with the candidate
    labels = true_labels(evaluation, platform.keys.candidate_model)
    assert {"retry the failed training", "last training failed", "retry tick (*/10 * * * *)"} <= labels
    assert "trigger fired since last request" not in labels  # the drift trigger was handled by the first request

    failing_training.stop()
    assert platform.retrain().success
    assert platform.registry.version(platform.spec.name, "2") is not None
    for minute in (15, 20, 30):  # succeeded: nothing more to retry
        assert requested(platform, evaluate_at(platform, morning(MORNING, minute=minute))) == NOTHING


def test_a_training_that_always_fails_is_requested_once_per_retry_tick(seeded, failing_training):
    platform = drifted_and_requested(seeded)
    failing_training.start()
    assert failed_on(platform.retrain(), "candidate_model")
    requested_at = []
    start = morning(MORNING, minute=2)
    for minute in range(0, 40):  # evaluated every minute, as a daemon ticking often would
        when = start + dt.timedelta(minutes=minute)
        if requested(platform, evaluate_at(platform, when))["candidate_model"]:
            requested_at.append(when.strftime("%H:%M"))
            assert failed_on(platform.retrain(), "candidate_model")
    assert requested_at == ["06:10", "06:20", "06:30", "06:40"]


def test_a_failed_training_is_retried_when_the_newest_landed_features_update(seeded, failing_training):
    platform = drifted_and_requested(seeded)
    failing_training.start()
    assert failed_on(platform.retrain(), "candidate_model")
    assert requested(platform, evaluate_at(platform, morning(MORNING, minute=2))) == NOTHING

    # re-ingesting an older day updates its features, but it is not the newest landed partition
    assert platform.ingest(day(SEEDED_NEXT - 1)).success
    assert requested(platform, evaluate_at(platform, morning(MORNING, minute=3))) == NOTHING

    # a corrected file for the newest day: its features update, and the failed training is retried at once
    platform.land(DRIFTED, credit_frame(DRIFTED, shift=SHIFT, seed=1))
    assert platform.ingest(DRIFTED).success
    evaluation = evaluate_at(platform, morning(MORNING, minute=4))
    assert requested(platform, evaluation) == RETRAIN
    assert "newest landed partition's features updated" in true_labels(evaluation, platform.keys.candidate_model)


def test_no_retry_is_requested_while_a_candidate_is_in_progress(seeded, failing_training):
    platform = drifted_and_requested(seeded)
    failing_training.start()
    assert failed_on(platform.retrain(), "candidate_model")

    # a retrain launched by someone else is still running at the retry tick
    job = platform.defs.resolve_job_def(retrain_job_name(platform.spec.name))
    running = platform.instance.create_run_for_job(
        job, asset_selection={platform.keys.candidate_model}, status=DagsterRunStatus.STARTED
    )
    evaluation = evaluate_at(platform, morning(MORNING, minute=10, second=30))
    assert requested(platform, evaluation) == NOTHING
    assert "no candidate running" not in true_labels(evaluation, platform.keys.candidate_model)

    # it fails too: the next tick retries
    platform.instance.report_run_failed(running)
    assert requested(platform, evaluate_at(platform, morning(MORNING, minute=20, second=30))) == RETRAIN


def test_a_gate_that_crashed_is_requested_again_on_the_retry_tick(seeded, monkeypatch):
    platform = drifted_and_requested(seeded)  # before patching: the seeded champion's gate must work

    def crash(*args, **kwargs):
        raise RuntimeError("process lost mid-gate")

    monkeypatch.setattr(promotion_assets, "evaluate_candidate", crash)
    run = platform.retrain()
    assert failed_on(run, "production_model") and not failed_on(run, "candidate_model")

    # the candidate's update was never consumed by a gate: eager() itself asks for the gate once more
    evaluation = evaluate_at(platform, morning(MORNING, minute=5))
    assert requested(platform, evaluation) == GATE
    assert "new candidate" in true_labels(evaluation, platform.keys.production_model)
    assert failed_on(platform.retrain(asset_selection=[platform.keys.production_model]), "production_model")

    # it crashed again: from now on only the retry cadence asks
    assert requested(platform, evaluate_at(platform, morning(MORNING, minute=7))) == NOTHING
    evaluation = evaluate_at(platform, morning(MORNING, minute=10, second=30))
    assert requested(platform, evaluation) == GATE  # the candidate succeeded: only the gate again
    assert {"retry the failed gate", "last gate failed", "candidate did not fail"} <= true_labels(
        evaluation, platform.keys.production_model
    )

    monkeypatch.undo()
    assert platform.retrain(asset_selection=[platform.keys.production_model]).success
    assert DECIDED_AT_TAG in platform.registry.version(platform.spec.name, "2").tags  # decided now
    assert requested(platform, evaluate_at(platform, morning(MORNING, minute=20, second=30))) == NOTHING


def test_a_failed_training_does_not_retry_the_gate_on_its_own(seeded, failing_training):
    # the failed candidate run skipped the gate; at the retry tick the gate comes only with the candidate
    platform = drifted_and_requested(seeded)
    failing_training.start()
    assert failed_on(platform.retrain(), "candidate_model")
    evaluation = evaluate_at(platform, morning(MORNING, minute=10, second=30))
    labels = true_labels(evaluation, platform.keys.production_model)
    assert "retry the failed gate" not in labels and "new candidate" in labels
