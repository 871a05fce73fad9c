"""The automation conditions that run the loop without a person.

Each retrain trigger is a labelled condition, so the Dagster UI's automation view shows which one fired (and,
when nothing was requested, which part held it back):

- a trigger *check* newly fails on the model's newest landed partition (drift, champion performance, champion
  age in data time; see :mod:`retrain_platform.automation.landed` for why "newest landed" and not the wall
  clock's latest day), or the volume check fails there after the last training (it re-arms with every
  training, :mod:`retrain_platform.automation.rearm`);
- the optional cron ticks;
- ``production_model``'s freshness policy fails (champion older than ``max_model_age_days`` in wall-clock time);
- the last training *failed*: it is requested again on the retry cadence (:func:`retry_cron`) and whenever the
  newest landed partition's features update, so a failure is never the end of a trigger, and a training that
  fails every time costs one run per retry tick, no more. Failed gates and failed monitoring of the newest
  partition are retried on the same cadence.

A fired trigger is remembered until the candidate is requested (``since_last_handled``), so a trigger that
fires while a candidate is still running is not lost. ``production_model`` follows every new candidate, and a
failed gate is retried on the same cadence (the gate is idempotent and finishes a half-done promotion).
"""

from __future__ import annotations

import os

from dagster import AssetCheckKey, AutomationCondition
from dagster._core.definitions.declarative_automation.operators import EntityMatchesCondition, OrAutomationCondition

from retrain_platform.automation.landed import LABEL as NEWEST_LANDED
from retrain_platform.automation.landed import NewestLandedPartition
from retrain_platform.automation.probation import ProbationPending
from retrain_platform.automation.rearm import CheckFailedSinceTargetUpdated
from retrain_platform.automation.reasons import trigger_checks
from retrain_platform.keys import ModelKeys
from retrain_platform.spec.model_spec import ModelSpec

RETRY_CRON_ENV = "RETRAIN_RETRY_CRON"
# Every ten minutes: soon enough that a transient failure (a locked store, a killed worker) costs minutes, rare
# enough that a training failing for good (too little valid data, a broken estimator) cannot flood the queue.
DEFAULT_RETRY_CRON = "*/10 * * * *"


def retry_cron() -> str:
    """The cron schedule (UTC) on which failed trainings and gates are retried (``RETRAIN_RETRY_CRON``)."""
    return os.environ.get(RETRY_CRON_ENV, DEFAULT_RETRY_CRON)


def retry_tick() -> AutomationCondition:
    """True on the evaluation right after a tick of :func:`retry_cron`: the bound on how often a retry runs.

    ``cron_tick_passed`` also holds on the evaluation after one that fell exactly on the tick, so a retry that
    failed within one sensor interval would run twice per tick; not having been requested on the previous
    evaluation closes that gap.
    """
    cron = retry_cron()
    ticked = AutomationCondition.cron_tick_passed(cron).with_label(f"retry tick ({cron})")
    not_just_requested = (~AutomationCondition.newly_requested()).with_label("not requested on the previous tick")
    return (ticked & not_just_requested).with_label(f"retry due by the clock ({cron})")


def no_run_in_progress(what: str) -> AutomationCondition:
    """Nothing is requested while a run of the same asset is still going (one candidate, one gate at a time)."""
    return (~AutomationCondition.in_progress()).with_label(f"no {what} running")


def check_newly_failed(check: AssetCheckKey) -> AutomationCondition:
    """True on the evaluation where ``check`` starts failing on its model's newest landed partition.

    Only the newest landed partition counts, so re-ingesting history never starts a retrain while a day that
    lands late does, and ``newly_true`` fires once per failure episode of *this* check rather than on every
    failing day. The condition targets the check key itself: ``any_checks_match(...).allow(...)`` would be the
    public spelling, but in dagster 1.13 ``allow`` intersects the asset graph's own check-key set in place, so
    every evaluation strips the other checks (including the blocking ``schema`` check) from the graph (pinned
    by the automation tests).
    """
    # Newest first: the And narrows the check's candidates to one partition before any status is read.
    on_newest = (
        NewestLandedPartition() & AutomationCondition.check_failed().with_label(f"{check.name} failing")
    ).with_label(f"{check.name} failing on the {NEWEST_LANDED}")
    matches = EntityMatchesCondition(key=check, operand=on_newest).with_label(
        f"{check.name} check failing on the {NEWEST_LANDED}"
    )
    return matches.newly_true().with_label(f"{check.name} check failed")


def volume_due(check: AssetCheckKey) -> AutomationCondition:
    """The volume trigger: ``check`` failed on the newest landed partition after the last training, and the last
    training did not fail (a failed one is retried on the retry cadence instead).

    A state, not an event (see :mod:`retrain_platform.automation.rearm`): it holds until a candidate trains, so
    it is not wrapped in ``since_last_handled`` like the episode triggers. That also trains the *first* model when
    the very first evaluation already finds enough data (a deployment started on a filled landing folder, a
    backtest with ``min_partitions: 1``), which ``since_last_handled`` counts as handled and so would never fire.
    """
    fresh = CheckFailedSinceTargetUpdated(check, f"{check.name} failing on the {NEWEST_LANDED} since the last training")
    not_failed = (~AutomationCondition.execution_failed()).with_label("last training did not fail")
    not_just_requested = (~AutomationCondition.newly_requested()).with_label("not requested on the previous tick")
    return (fresh & not_failed & not_just_requested).with_label(f"{check.name} check failed")


def newest_features_updated(spec: ModelSpec) -> AutomationCondition:
    """True when the features of the newest landed partition were (re)materialized since the previous tick."""
    updated = (NewestLandedPartition() & AutomationCondition.newly_updated().with_label("features updated")).with_label(
        f"features updated on the {NEWEST_LANDED}"
    )
    return EntityMatchesCondition(key=ModelKeys(spec.name).features, operand=updated).with_label(
        f"{NEWEST_LANDED}'s features updated"
    )


def retrain_condition(spec: ModelSpec) -> AutomationCondition:
    """When ``candidate_model`` is trained: a trigger fired, or the last training failed and a retry is due;
    never while a candidate is running."""
    volume = ModelKeys(spec.name).volume_check
    triggers = [check_newly_failed(check) for check in trigger_checks(spec) if check != volume]
    if spec.triggers.cron:
        # Not before a first model exists: the volume trigger trains it once there is enough data.
        ticked = AutomationCondition.cron_tick_passed(spec.triggers.cron).with_label("schedule ticked")
        trained_before = (~AutomationCondition.missing()).with_label("a candidate was trained before")
        triggers.append((ticked & trained_before).with_label(f"cron {spec.triggers.cron}"))
    if spec.triggers.max_model_age_days is not None:
        stale = AutomationCondition.asset_matches(
            ModelKeys(spec.name).production_model,
            AutomationCondition.freshness_failed().with_label("champion freshness failing"),
        )
        triggers.append(stale.newly_true().with_label("champion freshness failed"))
    # Built as one Or even for a single trigger (or none), so relabelling it never hides a trigger's own label.
    fired = OrAutomationCondition(operands=triggers, label="a trigger fired")
    triggered = fired.since_last_handled().with_label("trigger fired since last request")
    # A failed run does not make any trigger newly true again (a failing check keeps failing), so without this
    # a failed training would never be attempted again.
    retry_due = (retry_tick() | newest_features_updated(spec)).with_label("retry due")
    # The cheap side first (the clock, a day's features updated since the last tick): while neither holds, the
    # failed-run lookup is skipped.
    retry = (retry_due & AutomationCondition.execution_failed().with_label("last training failed")).with_label(
        "retry the failed training"
    )
    # No all_deps_blocking_checks_passed() here: on an unpartitioned asset over daily deps it never holds in
    # dagster 1.13 (it wants every dep partition, including never-landed ones). Quarantine still cannot leak
    # into training: a quarantined partition has no features, and training reads features only.
    wanted = (triggered | volume_due(volume) | retry).with_label("trigger fired or retry due")
    return (wanted & no_run_in_progress("candidate")).with_label("retrain")


def monitoring_condition() -> AutomationCondition:
    """Drift and performance follow new valid features of the newest landed partition, never quarantined ones.

    Dagster's ``eager()`` with its wall-clock ``in_latest_time_window`` replaced by the newest landed partition,
    so a day that lands late is monitored like any other (older days are monitored by their ingest run).
    """
    eager = AutomationCondition.eager().replace("in_latest_time_window", NewestLandedPartition())
    # A monitoring step that failed (the registry was down, say) passed no check; it is run again on the retry
    # cadence, so the newest day's triggers are evaluated once the cause is gone.
    failed = AutomationCondition.execution_failed().with_label("last monitoring run failed")
    # The clock first: it reads no storage, and while it is false (all but one tick in ten minutes) the storage
    # reads after it are skipped (Dagster evaluates an And's operands on what the earlier ones left true).
    retry = (retry_tick() & NewestLandedPartition() & failed & no_run_in_progress("monitoring")).with_label(
        "retry failed monitoring"
    )
    wanted = (eager.with_label(f"features updated on the {NEWEST_LANDED}") | retry).with_label(
        "new features or retry due"
    )
    return wanted & AutomationCondition.all_deps_blocking_checks_passed()


def promotion_condition(spec: ModelSpec) -> AutomationCondition:
    """The gate runs after every new candidate (in the same run when both are requested together), again on
    the retry cadence when its last run failed (a crash mid-gate) while the candidate itself did not, and after
    each newly landed day while a challenger is on probation (:mod:`retrain_platform.automation.probation`).

    Dagster's ``eager()`` already re-requests the gate once after a run in which the candidate materialized but
    the gate failed (that candidate update was never consumed); the retry covers every failure after that.
    """
    new_candidate = AutomationCondition.eager().with_label("new candidate")
    # A failed candidate run skips the gate too; the candidate's own retry brings the gate along (eager), and
    # gating the previous, already decided candidate again would be a wasted run.
    candidate_ok = (~AutomationCondition.any_deps_match(AutomationCondition.execution_failed())).with_label(
        "candidate did not fail"
    )
    candidate_idle = (~AutomationCondition.any_deps_in_progress()).with_label("no candidate running")
    retry = (
        retry_tick()  # first: no storage read, and the reads after it are skipped while it is false
        & AutomationCondition.execution_failed().with_label("last gate failed")
        & candidate_ok
        & candidate_idle
    ).with_label("retry the failed gate")
    # The cheap, cached condition first: the probation read happens only on a tick where a day's features landed.
    probation = (newest_features_updated(spec) & ProbationPending()).with_label("a day landed for the challenger")
    wanted = (new_candidate | retry | probation).with_label("new candidate, retry due or probation day")
    return (wanted & no_run_in_progress("gate")).with_label("promote")
