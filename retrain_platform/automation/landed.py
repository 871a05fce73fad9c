"""The newest landed partition: what "latest" means for a model's triggers.

A day's partition exists by the calendar, but it *lands* when its file does: the newest landed partition is the
newest partition of the model's ``raw_batch`` that has a materialization. Triggers look at that partition, not
at the partitions definition's wall-clock latest window (``in_latest_time_window``, always yesterday for a daily
set). The difference matters under the daemon: a day that lands two days late, or the end of a backlog, is the
newest data there is, yet it is not yesterday. Older days re-ingested later (backfills, corrected files) are
not the newest landed partition, so they never trigger anything.

The fact is read in two places, from the same source (``raw_batch`` materializations): by
:class:`NewestLandedPartition` during an automation evaluation (through the tick's asset graph view, whose
partition status cache makes it one cached read per tick), and by :func:`newest_landed_partition` in a run (the
candidate reading which triggers were failing).
"""

from __future__ import annotations

import copy
from typing import Self

from dagster import AssetCheckKey, AssetKey, AutomationCondition, AutomationContext, AutomationResult, DagsterInstance
from dagster._core.definitions.partitions.subset import TimeWindowPartitionsSubset

from retrain_platform.keys import ModelKeys

LABEL = "newest landed partition"


def raw_batch_of(key: AssetKey | AssetCheckKey) -> AssetKey:
    """The ``raw_batch`` key of the model an asset or check key belongs to (keys are prefixed by the model)."""
    asset_key = key.asset_key if isinstance(key, AssetCheckKey) else key
    return ModelKeys(asset_key.path[0]).raw_batch


def newest_landed_partition(instance: DagsterInstance, model: str) -> str | None:
    """The newest partition of ``model``'s ``raw_batch`` that has a materialization, or None before any landed.

    Partition keys are ISO dates, so the newest is the largest.
    """
    return max(instance.get_materialized_partitions(ModelKeys(model).raw_batch), default=None)


class StatelessCondition(AutomationCondition):
    """Base of the platform's own conditions: stateless (no cursor), labelled like Dagster's built-in ones."""

    _label: str | None = None

    @property
    def requires_cursor(self) -> bool:
        """Stateless: the answer depends only on what storage holds now."""
        return False

    def get_label(self) -> str | None:
        """The label the UI's automation view shows."""
        return self._label

    def with_label(self, label: str | None) -> Self:
        """A copy with another label (the same spelling as Dagster's own conditions)."""
        labelled = copy.copy(self)
        labelled._label = label
        return labelled


class NewestLandedPartition(StatelessCondition):
    """True for the partition of the target that is its model's newest landed partition (see the module).

    Works on any daily-partitioned asset or check of a model (its ``raw_batch`` is found from the target's key).
    On an unpartitioned target it is true once anything has landed.

    This is arbitrary Python, not one of Dagster's serializable conditions: the automation sensor evaluating
    it must run in the code server (``use_user_code_server=True``, see ``retrain_platform.definitions``).
    """

    def __init__(self, label: str | None = LABEL):
        self._label = label

    @property
    def name(self) -> str:
        """The node's name in the UI when it has no label."""
        return "newest_landed_partition"

    @property
    def description(self) -> str:
        """What the UI shows for the node."""
        return "Partition is the newest partition of the model's raw_batch that has a materialization"

    async def evaluate(self, context: AutomationContext) -> AutomationResult:
        """Intersect the candidates with the newest landed partition (one cached status read per tick)."""
        view = context.asset_graph_view
        landed = await view.compute_materialized_asset_subset(raw_batch_of(context.key))
        candidates = context.candidate_subset
        if landed.is_empty or candidates.is_empty:
            return AutomationResult(context, context.get_empty_subset())
        if not candidates.is_partitioned:
            return AutomationResult(context, candidates)
        newest = _newest_key(landed.get_internal_subset_value())
        # The target's partitions are the same days as raw_batch's; a key outside the target's current range
        # (an evaluation at a simulated time before the day) gives an empty subset rather than an error.
        newest_subset = view.get_subset_from_partition_keys(context.key, candidates.partitions_def, {newest})
        return AutomationResult(context, candidates.compute_intersection(newest_subset))


def _newest_key(subset) -> str:
    """The newest key of a non-empty partitions subset: the last day of its last time window when it has windows
    (no key enumeration), else the largest key (ISO dates sort by time)."""
    if isinstance(subset, TimeWindowPartitionsSubset):
        last = max(subset.included_time_windows, key=lambda window: window.end.timestamp())
        return subset.partitions_def.get_partition_key_for_timestamp(last.end.timestamp(), end_closed=True)
    return max(subset.get_partition_keys())
