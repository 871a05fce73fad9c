"""The automation conditions, evaluated the way the daemon does (``evaluate_automation_conditions``, cursor kept).

Every test drives real runs on a real instance and asserts exactly what an evaluation requests. ``evaluate(day)``
evaluates the morning after ``day``, so ``day`` is the wall-clock latest partition and, in these tests, also the
newest landed one (``test_newest_landed.py`` pulls the two apart). After an evaluation that requests a retrain the
tests evaluate once more (as the daemon's next tick would, and as the demo replay does) before moving to the next
day.
"""

from __future__ import annotations

import datetime as dt

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
from retrain_platform_tests.conftest import credit_frame, make_spec
from retrain_platform_tests.training.seeded import LAST_SEEDED_DAY

# --------------------------------------------------------------------------------------------------
# the first model
# --------------------------------------------------------------------------------------------------


def test_no_retrain_until_enough_data_then_candidate_and_gate_in_one_evaluation(platform):
    assert requested(platform, platform.evaluate(day(-1))) == NOTHING
    for i in range(2):  # min_partitions is 3
        assert platform.land_and_ingest(1, start=day(i))[0].success
        assert requested(platform, platform.evaluate(day(i))) == NOTHING
    assert check_status(platform, platform.keys.volume_check, day(1).isoformat()) == PASSED

    assert platform.land_and_ingest(1, start=day(2))[0].success
    assert check_status(platform, platform.keys.volume_check, day(2).isoformat()) == FAILED
    evaluation = platform.evaluate(day(2))
    assert requested(platform, evaluation) == RETRAIN
    assert fired_triggers(platform, evaluation) == {"training_volume check failed"}
    # the request was handled: the still-failing check does not request again
    assert requested(platform, platform.evaluate(day(2))) == NOTHING


def test_production_model_is_requested_after_a_new_candidate(seeded):
    platform = seeded()
    assert platform.retrain(asset_selection=[platform.keys.candidate_model]).success

    evaluation = platform.evaluate(LAST_SEEDED_DAY)
    assert requested(platform, evaluation) == {**NOTHING, "production_model": 1}
    assert platform.retrain(asset_selection=[platform.keys.production_model]).success
    assert requested(platform, platform.evaluate(LAST_SEEDED_DAY)) == NOTHING


# --------------------------------------------------------------------------------------------------
# trigger checks on the newest landed partition
# --------------------------------------------------------------------------------------------------


def test_drift_requests_a_retrain_once_per_failure_episode(seeded):
    platform = seeded(triggers={"drift": True})
    drift = platform.keys.drift_check
    first = SEEDED_NEXT

    platform.land_and_ingest(1, start=day(first), shift=SHIFT)
    assert check_status(platform, drift, day(first).isoformat()) == FAILED
    evaluation = platform.evaluate(day(first))
    assert requested(platform, evaluation) == RETRAIN
    assert fired_triggers(platform, evaluation) == {"drift check failed"}
    assert requested(platform, platform.evaluate(day(first))) == NOTHING  # no new data: nothing

    # a further drifted day while the check keeps failing: same episode, no second retrain
    platform.land_and_ingest(1, start=day(first + 1), shift=SHIFT)
    assert check_status(platform, drift, day(first + 1).isoformat()) == FAILED
    assert requested(platform, platform.evaluate(day(first + 1))) == NOTHING

    # the check passes again, then fails again: a new episode, a new retrain
    platform.land_and_ingest(1, start=day(first + 2))
    assert check_status(platform, drift, day(first + 2).isoformat()) == PASSED
    assert requested(platform, platform.evaluate(day(first + 2))) == NOTHING
    platform.land_and_ingest(1, start=day(first + 3), shift=SHIFT)
    evaluation = platform.evaluate(day(first + 3))
    assert requested(platform, evaluation) == RETRAIN
    assert fired_triggers(platform, evaluation) == {"drift check failed"}


def test_performance_floor_failure_requests_a_retrain(seeded):
    platform = seeded(triggers={"drift": False, "performance_floor": 0.99})

    platform.land_and_ingest(1, start=day(SEEDED_NEXT))
    evaluation = platform.evaluate(day(SEEDED_NEXT))
    assert requested(platform, evaluation) == RETRAIN
    assert fired_triggers(platform, evaluation) == {"performance_floor check failed"}


def test_champion_age_failure_requests_a_retrain(seeded):
    # the champion's window ends on LAST_SEEDED_DAY: it may serve the next two days; once the second has landed,
    # the third would be 3 days past its window, so a retrain is due
    platform = seeded(triggers={"drift": False, "max_model_age_days": 2})
    platform.land_and_ingest(1, start=LAST_SEEDED_DAY + dt.timedelta(days=1))
    assert requested(platform, platform.evaluate(LAST_SEEDED_DAY + dt.timedelta(days=1))) == NOTHING

    platform.land_and_ingest(1, start=LAST_SEEDED_DAY + dt.timedelta(days=2))
    evaluation = platform.evaluate(LAST_SEEDED_DAY + dt.timedelta(days=2))
    assert requested(platform, evaluation) == RETRAIN
    assert fired_triggers(platform, evaluation) == {"champion_age check failed"}


def test_champion_age_fires_when_a_performance_floor_is_also_configured(seeded):
    # a floor of 0 never fails for roc_auc, so only the age check can trigger here
    platform = seeded(triggers={"drift": False, "performance_floor": 0.0, "max_model_age_days": 2})
    platform.land_and_ingest(1, start=LAST_SEEDED_DAY + dt.timedelta(days=3))
    age = check_status(platform, platform.keys.age_check, (LAST_SEEDED_DAY + dt.timedelta(days=3)).isoformat())
    assert age == FAILED
    evaluation = platform.evaluate(LAST_SEEDED_DAY + dt.timedelta(days=3))
    assert fired_triggers(platform, evaluation) == {"champion_age check failed"}
    assert requested(platform, evaluation) == RETRAIN


def test_persistent_failures_do_not_mask_later_triggers(seeded):
    # pins a real bug: OR-ed any_deps_match(...).newly_true() branches let one failing check hide the others
    platform = seeded(triggers={"drift": True, "new_rows": 500, "max_model_age_days": 3})
    keys, first = platform.keys, SEEDED_NEXT
    platform.land_and_ingest(1, start=day(first), shift=SHIFT)  # 300 new rows: drift fails, volume passes
    assert check_status(platform, keys.volume_check, day(first).isoformat()) == PASSED
    evaluation = platform.evaluate(day(first))
    assert fired_triggers(platform, evaluation) == {"drift check failed"}
    assert requested(platform, evaluation) == RETRAIN
    assert requested(platform, platform.evaluate(day(first))) == NOTHING

    platform.land_and_ingest(1, start=day(first + 1), shift=SHIFT)  # 600 new rows: volume fails, drift still fails
    assert check_status(platform, keys.drift_check, day(first + 1).isoformat()) == FAILED
    assert check_status(platform, keys.volume_check, day(first + 1).isoformat()) == FAILED
    evaluation = platform.evaluate(day(first + 1))
    assert fired_triggers(platform, evaluation) == {"training_volume check failed"}
    assert requested(platform, evaluation) == RETRAIN
    assert requested(platform, platform.evaluate(day(first + 1))) == NOTHING

    # two days later the champion's data is 4 days old (max 3): age fails while drift and volume keep failing
    platform.land_and_ingest(1, start=day(first + 3), shift=SHIFT)
    for check in (keys.drift_check, keys.volume_check, keys.age_check):
        assert check_status(platform, check, day(first + 3).isoformat()) == FAILED
    evaluation = platform.evaluate(day(first + 3))
    # the volume request of day first+1 never ran here (nothing executes it), so volume is still due too
    assert fired_triggers(platform, evaluation) == {"champion_age check failed", "training_volume check failed"}
    assert requested(platform, evaluation) == RETRAIN


def test_failing_checks_on_backfilled_partitions_never_request_a_retrain(seeded):
    platform = seeded(triggers={"drift": True})
    latest = SEEDED_NEXT + 3
    platform.land_and_ingest(1, start=day(latest))
    assert requested(platform, platform.evaluate(day(latest))) == NOTHING

    # backfill two older, drifted days (drift check fails on both)
    platform.land_and_ingest(2, start=day(SEEDED_NEXT), shift=SHIFT)
    for i in (SEEDED_NEXT, SEEDED_NEXT + 1):
        assert check_status(platform, platform.keys.drift_check, day(i).isoformat()) == FAILED
    assert requested(platform, platform.evaluate(day(latest))) == NOTHING

    # the same for the performance floor: the latest day passed it, a backfilled day fails it
    strict = type(platform)(
        make_spec(platform.spec.name, triggers={"drift": True, "performance_floor": 0.99}),
        platform.home,
        platform.instance,
        platform.registry,
    )
    assert requested(strict, strict.evaluate(day(latest))) == NOTHING
    strict.land_and_ingest(1, start=day(SEEDED_NEXT + 2))
    assert check_status(strict, strict.keys.performance_check, day(SEEDED_NEXT + 2).isoformat()) == FAILED
    assert requested(strict, strict.evaluate(day(latest))) == NOTHING


# --------------------------------------------------------------------------------------------------
# cron
# --------------------------------------------------------------------------------------------------


def test_cron_requests_a_retrain_at_its_tick(seeded):
    platform = seeded(triggers={"drift": False, "cron": "0 4 * * 1"})  # Mondays 04:00 UTC
    saturday, sunday = dt.date(2026, 3, 7), dt.date(2026, 3, 8)
    assert saturday.weekday() == 5 and saturday > LAST_SEEDED_DAY
    assert requested(platform, platform.evaluate(saturday - dt.timedelta(days=1))) == NOTHING  # Sat 06:00
    assert requested(platform, platform.evaluate(saturday)) == NOTHING  # Sun 06:00: no tick since
    evaluation = platform.evaluate(sunday)  # Mon 06:00: the Monday 04:00 tick has passed
    assert requested(platform, evaluation) == RETRAIN
    assert fired_triggers(platform, evaluation) == {"cron 0 4 * * 1"}
    assert requested(platform, platform.evaluate(sunday)) == NOTHING  # handled
    assert requested(platform, platform.evaluate(sunday + dt.timedelta(days=1))) == NOTHING  # Tue 06:00


def test_a_cron_tick_before_the_first_model_requests_nothing(platform_factory):
    platform = platform_factory(make_spec(triggers={"drift": False, "cron": "0 4 * * 1"}))
    assert requested(platform, platform.evaluate(dt.date(2026, 3, 7))) == NOTHING  # Sun 06:00
    assert requested(platform, platform.evaluate(dt.date(2026, 3, 8))) == NOTHING  # Mon 06:00, no data landed


# --------------------------------------------------------------------------------------------------
# monitoring follows valid features of the newest landed partition only
# --------------------------------------------------------------------------------------------------


def test_new_valid_features_of_the_latest_partition_request_monitoring(platform):
    keys = platform.keys
    assert requested(platform, platform.evaluate(day(-1))) == NOTHING
    platform.land(day(0), credit_frame(day(0)))
    assert platform.ingest(day(0), asset_selection=[keys.raw_batch, keys.features]).success

    evaluation = platform.evaluate(day(0))
    assert evaluation.get_requested_partitions(keys.drift_report) == {day(0).isoformat()}
    assert evaluation.get_requested_partitions(keys.champion_performance) == {day(0).isoformat()}
    assert evaluation.get_num_requested(keys.candidate_model) == 0


def test_a_quarantined_latest_partition_gets_no_monitoring_requests(platform):
    keys = platform.keys
    assert requested(platform, platform.evaluate(day(-1))) == NOTHING  # the daemon has been ticking already
    platform.land(day(0), credit_frame(day(0)).drop(columns=["age"]))
    run = platform.ingest(day(0))
    assert not run.success
    assert platform.lake.is_quarantined(platform.spec.name, day(0).isoformat())

    assert requested(platform, platform.evaluate(day(0))) == NOTHING

    # the corrected file recovers the partition, and monitoring follows it
    platform.land(day(0), credit_frame(day(0)))
    assert platform.ingest(day(0), asset_selection=[keys.raw_batch, keys.features]).success
    evaluation = platform.evaluate(day(0))
    assert evaluation.get_requested_partitions(keys.drift_report) == {day(0).isoformat()}
