"""Late data is data: triggers follow the model's newest landed partition, not the wall clock's latest day.

``evaluate(d)`` evaluates at 06:00 the morning after ``d``, so the daily partitions end at ``d`` there; landing a
day and evaluating two days later makes the landed day the newest landed partition but *not* the partitions
definition's latest window, which is what a late file (or the end of a backlog) looks like to the daemon.
"""

from __future__ import annotations

import datetime as dt

from dagster import DailyPartitionsDefinition
from dagster._core.definitions.partitions.context import partition_loading_context

from retrain_platform.automation.landed import newest_landed_partition
from retrain_platform.automation.reasons import failing_triggers
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
    true_labels,
)
from retrain_platform_tests.conftest import START, credit_frame

LATE = dt.timedelta(days=2)


def wall_clock_latest(evaluated_day: dt.date) -> str:
    """The daily partitions' latest key when evaluating the morning after ``evaluated_day``."""
    now = dt.datetime.combine(evaluated_day + dt.timedelta(days=1), dt.time(6), tzinfo=dt.UTC)
    with partition_loading_context(effective_dt=now):
        return DailyPartitionsDefinition(start_date=START.isoformat()).get_last_partition_key()


def test_a_drifted_day_landing_two_days_late_requests_a_retrain(seeded):
    platform = seeded(triggers={"drift": True})
    platform.land_and_ingest(1, start=day(SEEDED_NEXT))
    assert requested(platform, platform.evaluate(day(SEEDED_NEXT))) == NOTHING

    # day(SEEDED_NEXT + 1) lands on the morning of its third day after; the two days after it never land
    late = day(SEEDED_NEXT + 1)
    platform.land_and_ingest(1, start=late, shift=SHIFT)
    assert check_status(platform, platform.keys.drift_check, late.isoformat()) == FAILED
    assert wall_clock_latest(late + LATE) == (late + LATE).isoformat() != late.isoformat()
    assert newest_landed_partition(platform.instance, platform.spec.name) == late.isoformat()

    evaluation = platform.evaluate(late + LATE)
    assert requested(platform, evaluation) == RETRAIN
    assert fired_triggers(platform, evaluation) == {"drift check failed"}
    assert "newest landed partition" in true_labels(evaluation, platform.keys.candidate_model)
    assert requested(platform, platform.evaluate(late + LATE)) == NOTHING  # handled

    # the candidate names the late day's drift as its reason
    assert failing_triggers(platform.instance, platform.spec)[0].trigger == "drift"


def test_a_backfilled_drifted_day_requests_nothing_and_is_no_reason(seeded):
    platform = seeded(triggers={"drift": True})
    newest = day(SEEDED_NEXT + 4)
    platform.land_and_ingest(1, start=newest)
    assert check_status(platform, platform.keys.drift_check, newest.isoformat()) == PASSED
    assert requested(platform, platform.evaluate(newest + LATE)) == NOTHING  # late, newest, and passing

    # an older day is backfilled, drifted: its check fails, but it is not the newest landed partition
    old = day(SEEDED_NEXT + 1)
    platform.land_and_ingest(1, start=old, shift=SHIFT)
    assert check_status(platform, platform.keys.drift_check, old.isoformat()) == FAILED
    assert newest_landed_partition(platform.instance, platform.spec.name) == newest.isoformat()
    evaluation = platform.evaluate(newest + LATE)
    assert requested(platform, evaluation) == NOTHING
    assert fired_triggers(platform, evaluation) == set()
    # and the backfill's failure does not leak into a candidate's reason (the latest drift result by key is it)
    assert failing_triggers(platform.instance, platform.spec) == []


def test_the_reason_reports_only_checks_that_failed_on_the_newest_landed_partition(seeded):
    platform = seeded(triggers={"drift": True, "performance_floor": 0.99})
    newest = day(SEEDED_NEXT + 2)
    platform.land_and_ingest(1, start=newest)  # drift passes; the 0.99 floor fails
    platform.land_and_ingest(1, start=day(SEEDED_NEXT), shift=SHIFT)  # a backfilled day: drift fails there
    reasons = failing_triggers(platform.instance, platform.spec)
    assert [r.trigger for r in reasons] == ["performance"], reasons


def test_monitoring_follows_features_of_a_day_that_lands_late(platform):
    keys = platform.keys
    assert requested(platform, platform.evaluate(day(-1))) == NOTHING
    platform.land(day(0), credit_frame(day(0)))
    assert platform.ingest(day(0), asset_selection=[keys.raw_batch, keys.features]).success

    evaluation = platform.evaluate(day(0) + LATE)
    assert evaluation.get_requested_partitions(keys.drift_report) == {day(0).isoformat()}
    assert evaluation.get_requested_partitions(keys.champion_performance) == {day(0).isoformat()}


def test_nothing_is_newest_before_anything_lands(platform):
    assert newest_landed_partition(platform.instance, platform.spec.name) is None
    assert failing_triggers(platform.instance, platform.spec) == []
    assert requested(platform, platform.evaluate(day(3))) == NOTHING
