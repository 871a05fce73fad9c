"""A challenger on probation waits for days to land: the gate is asked again after each one.

Probation (:mod:`retrain_platform.promotion.probation`) is a state the gate records as an observation on
``production_model`` (``decision: probation``). The gate has to run again when a new day lands, although no new
candidate came: Dagster's ``eager()`` only follows the gate's own dependency, the candidate. This condition is
the missing edge; it reads the state from Dagster's storage, not from MLflow, so an automation tick never calls
the registry.
"""

from __future__ import annotations

from dagster import AutomationContext, AutomationResult

from retrain_platform.automation.landed import StatelessCondition

PROBATION = "probation"


class ProbationPending(StatelessCondition):
    """True for ``production_model`` when its latest event is a probation observation: the newest candidate was
    refused on its holdout and waits for later days, and neither the alias nor a newer decision has moved since.

    Two storage reads, and none when the candidate subset is already empty (put it after a cheaper condition).
    """

    def __init__(self, label: str | None = "a challenger is on probation"):
        self._label = label

    @property
    def name(self) -> str:
        """The node's name in the UI when it has no label."""
        return "probation_pending"

    @property
    def description(self) -> str:
        """What the UI shows for the node."""
        return "The latest decision of the gate put a challenger on probation"

    async def evaluate(self, context: AutomationContext) -> AutomationResult:
        """All of the (unpartitioned) candidate subset when the gate's latest record is a probation."""
        if context.candidate_subset.is_empty:
            return AutomationResult(context, context.get_empty_subset())
        instance = context.asset_graph_view.instance
        observations = instance.fetch_observations(context.key, limit=1).records
        if not observations:
            return AutomationResult(context, context.get_empty_subset())
        latest = observations[0]
        decision = latest.asset_observation.metadata.get("decision")
        materialized = instance.get_latest_materialization_event(context.key)
        pending = (
            decision is not None
            and decision.value == PROBATION
            and (materialized is None or materialized.timestamp < latest.timestamp)
        )
        # A rejection after the probation is an observation too, and the newest one: pending ends with it.
        return AutomationResult(context, context.candidate_subset if pending else context.get_empty_subset())
