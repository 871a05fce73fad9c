"""A trigger that re-arms with every training: a failing check result newer than the target's last update.

Dagster's ``newly_true`` fires once per episode of a condition, which is right for drift (one drifted episode,
one retrain) and wrong for a trigger whose check resets itself when the target is trained: the volume check
counts rows since the last training, and with days big enough to reach the limit every day it fails on every
day, so "the check is failing" never becomes false and a second volume retrain never comes. Judged against
the target instead, the condition is false right after each training (the failing result is older than the new
candidate) and true again once a new failing result lands: each ``newly_true`` is one new batch of rows.
"""

from __future__ import annotations

from dagster import AssetCheckKey, AutomationContext, AutomationResult
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from retrain_platform.automation.landed import StatelessCondition, newest_landed_partition


class CheckFailedSinceTargetUpdated(StatelessCondition):
    """True for an unpartitioned target when ``check``'s result on its model's newest landed partition failed
    after the target's latest materialization (or the target was never materialized).

    Three storage reads per evaluation (the check's latest result, the run that wrote it, the target's latest
    materialization); a result whose run is still going counts once that run has finished. Like
    :class:`~retrain_platform.automation.landed.NewestLandedPartition` it is arbitrary Python, so it needs the
    automation sensor to run in the code server (``use_user_code_server=True``).
    """

    def __init__(self, check: AssetCheckKey, label: str | None = None):
        self._check = check
        self._label = label

    @property
    def name(self) -> str:
        """The node's name in the UI when it has no label."""
        return "check_failed_since_target_updated"

    @property
    def description(self) -> str:
        """What the UI shows for the node."""
        return f"{self._check.name} failed on the newest landed partition after this asset last materialized"

    async def evaluate(self, context: AutomationContext) -> AutomationResult:
        """All of the (unpartitioned) candidate subset when the check failed since the target's last update."""
        instance = context.asset_graph_view.instance
        model = self._check.asset_key.path[0]
        newest = newest_landed_partition(instance, model)
        if newest is None or context.candidate_subset.is_empty:
            return AutomationResult(context, context.get_empty_subset())
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [self._check], partition_filter=PartitionKeyFilter(key=newest)
        ).get(self._check)
        if record is None or record.status != AssetCheckExecutionRecordStatus.FAILED or record.event is None:
            return AutomationResult(context, context.get_empty_subset())
        run = instance.get_run_by_id(record.run_id)
        if run is not None and not run.is_finished:
            # The result is read straight from storage, before the ingest run that wrote it has finished; wait for
            # the run, as Dagster's own conditions do, so the training starts on the same tick as the day's
            # monitoring instead of racing ahead of it.
            return AutomationResult(context, context.get_empty_subset())
        target = instance.get_latest_materialization_event(context.key)
        fresh = target is None or record.event.timestamp > target.timestamp
        return AutomationResult(context, context.candidate_subset if fresh else context.get_empty_subset())
