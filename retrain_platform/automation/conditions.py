"""The automation conditions that run the loop without a person.

Each retrain trigger is a labelled condition, so the Dagster UI's automation view shows which one fired:

- a trigger *check* newly fails (drift, champion performance, champion age in data time, new-row volume);
- the optional cron ticks;
- ``production_model``'s freshness policy fails (champion older than ``max_model_age_days`` in wall-clock time).

A fired trigger is remembered until the candidate is requested (``since_last_handled``), so a trigger that
fires while a candidate is still running is not lost. ``production_model`` follows every new candidate.
"""

from __future__ import annotations

from dagster import AssetCheckKey, AutomationCondition
from dagster._core.definitions.declarative_automation.operators import EntityMatchesCondition

from retrain_platform.automation.reasons import trigger_checks
from retrain_platform.keys import ModelKeys
from retrain_platform.spec.model_spec import ModelSpec


def check_newly_failed(check: AssetCheckKey) -> AutomationCondition:
    """True on the evaluation where ``check`` starts failing on its asset's latest partition.

    Only the latest partition counts, so backfilling history never starts a retrain, and ``newly_true`` fires
    once per failure episode of *this* check rather than on every failing day. The condition targets the check
    key itself: ``any_checks_match(...).allow(...)`` would be the public spelling, but in dagster 1.13 ``allow``
    intersects the asset graph's own check-key set in place, so every evaluation strips the other checks
    (including the blocking ``schema`` check) from the graph (pinned by the automation tests).
    """
    latest_failed = AutomationCondition.check_failed() & AutomationCondition.in_latest_time_window()
    return (
        EntityMatchesCondition(key=check, operand=latest_failed).newly_true().with_label(f"{check.name} check failed")
    )


def retrain_condition(spec: ModelSpec) -> AutomationCondition:
    """When ``candidate_model`` is trained: any configured trigger fired and no candidate is running."""
    checks = trigger_checks(spec)
    fired = check_newly_failed(checks[0])
    for check in checks[1:]:
        fired = fired | check_newly_failed(check)
    if spec.triggers.cron:
        # Not before a first model exists: the volume trigger trains it once there is enough data.
        scheduled = AutomationCondition.cron_tick_passed(spec.triggers.cron) & ~AutomationCondition.missing()
        fired = fired | scheduled.with_label(f"cron {spec.triggers.cron}")
    if spec.triggers.max_model_age_days is not None:
        stale = AutomationCondition.asset_matches(
            ModelKeys(spec.name).production_model, AutomationCondition.freshness_failed()
        )
        fired = fired | stale.newly_true().with_label("champion freshness failed")
    # No all_deps_blocking_checks_passed() here: on an unpartitioned asset over daily deps it never holds in
    # dagster 1.13 (it wants every dep partition, including never-landed ones). Quarantine still cannot leak
    # into training: a quarantined partition has no features, and training reads features only.
    return (fired.since_last_handled() & ~AutomationCondition.in_progress()).with_label("retrain")


def monitoring_condition() -> AutomationCondition:
    """Drift and performance follow new valid features of the latest partition, never quarantined ones."""
    return AutomationCondition.eager() & AutomationCondition.all_deps_blocking_checks_passed()


def promotion_condition() -> AutomationCondition:
    """The gate runs after every new candidate (in the same run when both are requested together)."""
    return AutomationCondition.eager()
