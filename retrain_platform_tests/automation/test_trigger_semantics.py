"""Triggers that mean something: one retrain per drift episode, a volume trigger that re-arms with every
training, and a retrain that names the trigger that fired (as its reason and as a run tag)."""

from __future__ import annotations

from retrain_platform.automation.reasons import TRIGGER_TAG, retrain_reason
from retrain_platform_tests.automation.helpers import (
    FAILED,
    NOTHING,
    PASSED,
    RETRAIN,
    SEEDED_NEXT,
    SHIFT,
    check_status,
    day,
    fired_triggers,
    requested,
)
from retrain_platform_tests.conftest import credit_frame


def land_drift(platform, i: int, columns: tuple[str, ...]) -> None:
    """Land and ingest day ``i`` with only ``columns`` taken from the shifted distribution."""
    frame = credit_frame(day(i))
    shifted = credit_frame(day(i), shift=SHIFT)
    for column in columns:
        frame[column] = shifted[column]
    platform.land(day(i), frame)
    assert platform.ingest(day(i)).success


def drift_meta(platform, i: int) -> dict:
    records = platform.instance.event_log_storage.get_asset_check_execution_history(platform.keys.drift_check, 50)
    [record] = [r for r in records if r.partition == day(i).isoformat()][:1]
    return {k: v.value for k, v in record.evaluation.metadata.items()}


def test_a_share_swinging_around_its_threshold_is_one_drift_episode_and_one_retrain(seeded):
    # 2 of 5 columns is the 40% threshold; the episode clears below 40% * clear_ratio 0.5 = 20% (1 column stays)
    platform = seeded(triggers={"drift": True})
    first = SEEDED_NEXT
    land_drift(platform, first, ("income", "debt_ratio"))
    evaluation = platform.evaluate(day(first))
    assert fired_triggers(platform, evaluation) == {"drift check failed"}
    assert requested(platform, evaluation) == RETRAIN

    land_drift(platform, first + 1, ("income",))  # 20%: below the threshold, not below the clearing level
    assert check_status(platform, platform.keys.drift_check, day(first + 1).isoformat()) == FAILED
    assert drift_meta(platform, first + 1)["failing_since"] == day(first).isoformat()
    assert requested(platform, platform.evaluate(day(first + 1))) == NOTHING
    land_drift(platform, first + 2, ("income", "debt_ratio"))  # back above: the same episode, no second retrain
    assert requested(platform, platform.evaluate(day(first + 2))) == NOTHING

    land_drift(platform, first + 3, ())  # cleared
    assert check_status(platform, platform.keys.drift_check, day(first + 3).isoformat()) == PASSED
    assert requested(platform, platform.evaluate(day(first + 3))) == NOTHING
    land_drift(platform, first + 4, ("income", "debt_ratio"))  # a new episode
    assert drift_meta(platform, first + 4)["failing_since"] == day(first + 4).isoformat()
    assert requested(platform, platform.evaluate(day(first + 4))) == RETRAIN


def test_the_volume_trigger_re_arms_after_each_training_when_every_day_reaches_the_limit(seeded):
    platform = seeded(triggers={"drift": False, "new_rows": 250})  # every 300-row day reaches it
    for i in range(SEEDED_NEXT, SEEDED_NEXT + 3):
        land_drift(platform, i, ())
        assert check_status(platform, platform.keys.volume_check, day(i).isoformat()) == FAILED
        evaluation = platform.evaluate(day(i))
        assert fired_triggers(platform, evaluation) == {"training_volume check failed"}, i
        assert requested(platform, evaluation) == RETRAIN, i
        assert platform.retrain().success
        # trained: the failing result is older than the candidate now, so nothing more until new rows land
        assert requested(platform, platform.evaluate(day(i))) == NOTHING, i


def test_the_volume_trigger_is_a_state_until_a_training_answers_it(seeded):
    platform = seeded(triggers={"drift": False, "new_rows": 250})
    land_drift(platform, SEEDED_NEXT, ())
    assert requested(platform, platform.evaluate(day(SEEDED_NEXT))) == RETRAIN
    assert requested(platform, platform.evaluate(day(SEEDED_NEXT))) == NOTHING  # not twice in a row
    # the request never ran (a lost launch): it is requested again rather than forgotten
    assert requested(platform, platform.evaluate(day(SEEDED_NEXT))) == RETRAIN


def test_the_first_model_trains_when_the_very_first_evaluation_already_has_enough_data(platform_factory):
    from retrain_platform_tests.conftest import make_spec

    platform = platform_factory(make_spec(training={"window_days": 10, "min_partitions": 1, "min_rows": 100}))
    land_drift(platform, 0, ())  # one day is enough: the volume check fails before anything was evaluated
    assert check_status(platform, platform.keys.volume_check, day(0).isoformat()) == FAILED
    evaluation = platform.evaluate(day(0))
    assert fired_triggers(platform, evaluation) == {"training_volume check failed"}
    # the gate follows once the candidate exists (eager() waits for a missing dependency)
    assert requested(platform, evaluation) == {**NOTHING, "candidate_model": 1}
    assert platform.retrain(asset_selection=[platform.keys.candidate_model]).success
    assert requested(platform, platform.evaluate(day(0))) == {**NOTHING, "production_model": 1}


def test_the_candidate_names_the_trigger_that_fired_as_reason_and_run_tag(seeded):
    platform = seeded(triggers={"drift": True})
    land_drift(platform, SEEDED_NEXT, ("income", "debt_ratio"))
    assert requested(platform, platform.evaluate(day(SEEDED_NEXT))) == RETRAIN
    run = platform.retrain()
    assert run.success
    assert platform.instance.get_run_by_id(run.run_id).tags[TRIGGER_TAG] == "drift"
    candidate = platform.registry.client.get_model_version(platform.spec.name, "2")
    assert candidate.tags[TRIGGER_TAG] == "drift"
    assert candidate.tags["reason"].startswith("drift: ") and "income" in candidate.tags["reason"]

    # drift is still failing, but the previous candidate answered that episode: a second launch is a person's
    again = platform.retrain()
    assert again.success
    assert platform.instance.get_run_by_id(again.run_id).tags[TRIGGER_TAG] == "manual"
    reason = platform.registry.client.get_model_version(platform.spec.name, "3").tags["reason"]
    assert reason.startswith("manual launch; also failing, drift: ")


def test_an_automated_run_with_no_fresh_trigger_came_from_the_schedule(seeded):
    platform = seeded(triggers={"drift": True, "cron": "0 4 * * 1"})
    previous = platform.instance.get_latest_materialization_event(platform.keys.candidate_model)
    answered = previous.asset_materialization.metadata["window_end"].value
    why = retrain_reason(platform.instance, platform.spec, answered, automated=True)
    assert why.fired == ("schedule",) and why.reasons[0] == "schedule (0 4 * * 1)"
    assert retrain_reason(platform.instance, platform.spec, answered, automated=False).fired == ("manual",)
    # before any candidate, the seeding day's volume failure is fresh: it is what trained the first model
    assert retrain_reason(platform.instance, platform.spec, None, automated=True).fired == ("volume",)


def test_a_stale_champion_whose_retrain_was_rejected_is_tried_again_after_max_age_not_never(seeded):
    gate = {
        "mode": "better",
        "min_improvement": 0.5,
        "confidence": 0.9,
        "bootstrap_samples": 200,
    }  # nothing can pass it
    platform = seeded(triggers={"drift": False, "max_model_age_days": 2}, gate=gate)
    first, age = SEEDED_NEXT, platform.keys.age_check
    for i in range(first, first + 2):
        land_drift(platform, i, ())
    assert check_status(platform, age, day(first).isoformat()) == PASSED  # the next day is 2 past the window
    assert check_status(platform, age, day(first + 1).isoformat()) == FAILED  # the next day would be 3
    assert requested(platform, platform.evaluate(day(first + 1))) == RETRAIN
    assert platform.retrain().success
    assert platform.registry.champion(platform.spec.name).version == "1"  # rejected: the champion stays stale

    land_drift(platform, first + 2, ())  # tried 1 day ago: not due yet
    assert check_status(platform, age, day(first + 2).isoformat()) == PASSED
    assert requested(platform, platform.evaluate(day(first + 2))) == NOTHING
    land_drift(platform, first + 3, ())  # the day after would be 3 days since that attempt: due again
    assert check_status(platform, age, day(first + 3).isoformat()) == FAILED
    evaluation = platform.evaluate(day(first + 3))
    assert fired_triggers(platform, evaluation) == {"champion_age check failed"}
    assert requested(platform, evaluation) == RETRAIN
