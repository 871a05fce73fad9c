"""``production_model``: the gate between a new candidate and production.

The asset *is* the champion: it materializes only when the ``champion`` alias moves (a promotion or a rollback),
so its freshness policy measures the champion's age. A rejected candidate is recorded as an observation on the
asset, with the same decision metadata, and as tags on the candidate's MLflow version. With
``gate.probation_days`` a refusal is not final: the candidate waits as a challenger and is judged again on the days
that land after it (:mod:`retrain_platform.promotion.probation`); each day of waiting is an observation too.

Promotion is a transaction per model. The candidate is scored against the champion without holding anything;
then, under the model's promotion lock, the alias is moved only if it still points at the champion the candidate
was compared with (else the candidate is re-gated against the new one), through the registry's crash-safe
:meth:`~retrain_platform.registry.ModelRegistry.move_champion`. Every run first repairs what a crashed run left
half done (a pending champion record, or a Dagster materialization that never followed an alias move), so
re-running the asset, which automation does after a failure, is always safe.
"""

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetObservation,
    AssetsDefinition,
    AutomationCondition,
    DataVersion,
    Failure,
    FreshnessPolicy,
    Output,
    asset,
)

from retrain_platform.failpoints import failpoint
from retrain_platform.keys import ModelKeys
from retrain_platform.orchestration.compute import step_pool, step_tags
from retrain_platform.promotion.gate import GateDecision, decide_challenger, decide_first_model
from retrain_platform.promotion.metrics import Metric, align_probabilities, metric_for, predict_for, sort_labels
from retrain_platform.promotion.probation import Probation, judge_probation, on_probation, probation_tags
from retrain_platform.registry import (
    DECIDED_AT_TAG,
    FITTED_THROUGH_TAG,
    WINDOW_END_TAG,
    ChampionChanged,
    ModelRegistry,
    VersionInfo,
)
from retrain_platform.registry.reference import build_reference
from retrain_platform.settings import service_retry_policy
from retrain_platform.spec.estimator import model_input
from retrain_platform.spec.model_spec import ModelSpec
from retrain_platform.storage.lake import PARTITION_COLUMN, Lake

# How often a candidate is re-gated when other writers keep moving the champion under it.
MAX_REGATES = 3


def _decision_metadata(decision: GateDecision, candidate: VersionInfo, champion: VersionInfo | None) -> dict:
    return {
        "decision": "promoted" if decision.promote else "rejected",
        "reason": decision.reason,
        "candidate_version": candidate.version,
        "champion_version": champion.version if champion else "none",
        "candidate_score": decision.candidate_score,
        "champion_score": decision.champion_score,
        "gain": decision.gain,
        "ci_low": decision.ci_low,
        "ci_high": decision.ci_high,
        "confidence": decision.confidence,
        "holdout_rows": decision.holdout_rows,
        "tolerated_loss": decision.tolerated_loss,
    }


def _unseen_by(champion: VersionInfo, holdout: pd.DataFrame) -> tuple[np.ndarray, str | None]:
    """Which holdout rows ``champion`` was not fit on, and the partition its training data ends with.

    A champion refit on its whole window has seen the older holdout days of a candidate trained soon after it;
    scored on them it would be judged in sample, and no honest candidate would beat it.
    """
    seen_through = champion.tags.get(FITTED_THROUGH_TAG) or champion.tags.get(WINDOW_END_TAG)
    if not seen_through or PARTITION_COLUMN not in holdout:
        return np.ones(len(holdout), dtype=bool), None
    return (holdout[PARTITION_COLUMN].astype(str) > seen_through).to_numpy(), seen_through


def _realigned(stored: np.ndarray, metric: Metric, candidate_model) -> np.ndarray:
    """Stored validation probabilities laid out in ``metric``'s label order.

    Training laid them out by the classes of its window, which are the registered refit's ``classes_``; a
    champion that knows a class the window lacked widens the gate's label set, and that class gets probability 0.
    """
    if not metric.uses_proba or metric.labels is None:
        return stored
    trained = sort_labels(candidate_model.classes_)
    return stored if trained == tuple(metric.labels) else align_probabilities(stored, trained, metric.labels)


def evaluate_candidate(
    lake: Lake, registry: ModelRegistry, spec: ModelSpec, candidate: VersionInfo, champion: VersionInfo | None
) -> GateDecision:
    """Score ``candidate`` and ``champion`` (None: there is none yet) on the candidate's holdout; apply the gate.

    The candidate is scored by its validation fit's stored predictions (the registered model may be a refit that
    has seen the holdout); the champion only on holdout rows newer than its own training data.
    """
    path = lake.holdout_path(spec.name, candidate.version)
    if not path.exists():
        raise Failure(
            description=f"holdout of {spec.name} v{candidate.version} is missing at {path}; retrain",
            allow_retries=False,
        )
    holdout, stored = lake.read_holdout(spec.name, candidate.version)
    y_true = holdout[spec.target.name].to_numpy()
    candidate_model = registry.load(candidate)
    champion_model = None if champion is None else registry.load(champion)
    # One metric, with one label order, for both models: their probability columns line up even when a class
    # was missing from one of their training windows.
    try:
        metric = metric_for(spec, *[m for m in (candidate_model, champion_model) if m is not None], y=y_true)
    except ValueError as err:
        raise Failure(description=str(err), allow_retries=False) from None
    if stored is None:  # stored before predictions were kept, when the registered model was the fit scored
        candidate_pred = predict_for(metric, candidate_model, model_input(holdout, spec))
    else:
        candidate_pred = _realigned(stored, metric, candidate_model)
    if champion is None:
        return decide_first_model(metric, metric.score(y_true, candidate_pred), spec.gate, len(holdout))
    unseen, seen_through = _unseen_by(champion, holdout)
    if unseen.all():
        note = ""
    elif unseen.any():
        note = f" (on the {int(unseen.sum())} holdout rows after {seen_through}, which v{champion.version} never saw)"
    else:
        # Every holdout partition is one the champion was fit on, yet it may hold new rows (a corrected or
        # re-landed day): compare on all of it. In sample the champion is favoured, so the error is a kept
        # champion, never a wrong promotion.
        unseen[:] = True
        note = f" (every holdout partition is in v{champion.version}'s training data, through {seen_through})"
    champion_pred = predict_for(metric, champion_model, model_input(holdout[unseen], spec))
    decision = decide_challenger(metric, y_true[unseen], candidate_pred[unseen], champion_pred, spec.gate)
    return dataclasses.replace(decision, reason=decision.reason + note) if note else decision


def _version(info: VersionInfo | None) -> str | None:
    return info.version if info else None


def _recorded_champion(context: AssetExecutionContext, keys: ModelKeys) -> str | None:
    """The version Dagster's latest ``production_model`` materialization says is champion (None if never)."""
    event = context.instance.get_latest_materialization_event(keys.production_model)
    if event is None or event.asset_materialization is None:
        return None
    tag = (event.asset_materialization.tags or {}).get("dagster/data_version", "")
    return tag.removeprefix("v") or None


def _repaired_output(champion: VersionInfo, recorded: str | None) -> Output:
    """The materialization a crashed promotion or rollback never emitted, so Dagster and MLflow agree again."""
    return Output(
        None,
        data_version=DataVersion(f"v{champion.version}"),
        metadata={
            "decision": "repaired",
            "reason": f"the champion alias points at v{champion.version} but Dagster last recorded "
            f"{'v' + recorded if recorded else 'no champion'}: a run stopped between the two writes",
            "champion_version": champion.version,
            "candidate_version": champion.version,
        },
    )


def _probation_metadata(
    decision: GateDecision, candidate: VersionInfo, champion: VersionInfo, days: int, shadow: int | None = None
) -> dict:
    """The observation recorded when a candidate's probation starts (the holdout refused it, or, with
    ``gate.shadow_days``, any candidate: it waits for live evidence)."""
    return {
        **_decision_metadata(decision, candidate, champion),
        "decision": "probation",
        "reason": f"{decision.reason}; on probation: compared with v{champion.version} again on the next {days} "
        "day(s) that land after its window"
        + (f" and {shadow} live shadow day(s)" if shadow else "")
        + ", then decided for good",
        "probation_days": days,
    }


def _waiting_metadata(probation: Probation, candidate: VersionInfo, champion: VersionInfo) -> dict:
    """The observation of a day on which a challenger on probation still waits for days to land."""
    return {
        "decision": "probation",
        "reason": f"v{candidate.version} is on probation: {len(probation.days)} of {probation.needed} day(s) after "
        f"its window have landed"
        + (
            f" and {len(probation.shadow)} of {probation.shadow_needed} live shadow day(s) are judged"
            if probation.shadow_needed
            else ""
        )
        + f"; it is compared with v{champion.version} once all have",
        "candidate_version": candidate.version,
        "champion_version": champion.version,
        "probation_days": probation.needed,
        "probation_days_landed": len(probation.days),
    }


class _Commit(NamedTuple):
    status: Literal["recorded", "decided elsewhere", "champion changed"]
    champion: VersionInfo | None = None


def _commit(
    registry: ModelRegistry,
    spec: ModelSpec,
    candidate: VersionInfo,
    champion: VersionInfo | None,
    decision: GateDecision,
    verdict: str,
) -> _Commit:
    """Record the decision, under the promotion lock, only if nothing changed since it was made.

    "decided elsewhere": a concurrent run already decided (or superseded) the candidate. "champion changed": the
    champion is no longer the one the candidate was compared with; the caller re-gates against the one returned.
    """
    if DECIDED_AT_TAG in registry.version(spec.name, candidate.version).tags:
        return _Commit("decided elsewhere")
    current = registry.champion(spec.name)
    if _version(current) != _version(champion):
        return _Commit("champion changed", current)
    now = dt.datetime.now(dt.UTC).isoformat()
    tags = {**decision.as_tags(), "gate.decision": verdict, DECIDED_AT_TAG: now}
    if decision.promote:
        try:
            registry.move_champion(
                spec.name, candidate.version, expected=_version(champion), reason=decision.reason, tags=tags, at=now
            )
        except ChampionChanged as changed:  # moved by a writer that bypasses the lock (e.g. the MLflow UI)
            return _Commit("champion changed", changed.current)
    else:
        registry.tag_version(spec.name, candidate.version, tags)
    registry.mark_superseded(spec.name, by=candidate.version)
    return _Commit("recorded")


def _start_probation(
    registry: ModelRegistry, spec: ModelSpec, candidate: VersionInfo, champion: VersionInfo, decision: GateDecision
) -> _Commit:
    """Put ``candidate`` on probation, under the promotion lock, only if nothing changed since the holdout verdict
    (the same statuses as :func:`_commit`)."""
    if DECIDED_AT_TAG in registry.version(spec.name, candidate.version).tags:
        return _Commit("decided elsewhere")
    current = registry.champion(spec.name)
    if _version(current) != _version(champion):
        return _Commit("champion changed", current)
    registry.tag_version(spec.name, candidate.version, probation_tags(candidate, decision))
    return _Commit("recorded")


def build_promotion_asset(spec: ModelSpec, automation_condition: AutomationCondition) -> AssetsDefinition:
    """The ``production_model`` asset of one model."""
    keys = ModelKeys(spec.name)
    max_age = spec.triggers.max_model_age_days
    freshness = FreshnessPolicy.time_window(fail_window=dt.timedelta(days=max_age)) if max_age else None

    @asset(
        key=keys.production_model,
        deps=[keys.candidate_model],
        group_name=spec.name,
        kinds={"mlflow"},
        output_required=False,
        automation_condition=automation_condition,
        freshness_policy=freshness,
        retry_policy=service_retry_policy(),
        # One gate per model at a time in Dagster's own accounting too (a pool limit of 1, set by dagster.yaml's
        # default and by `retrain pools --apply`); the registry's lock is what also serialises CLI rollbacks.
        pool=step_pool(spec, "gate"),
        op_tags=step_tags(spec, "gate"),
        description=f"The champion: the MLflow version of '{spec.name}' behind the `champion` alias. "
        "Materializes when the alias moves; rejected candidates are observations.",
    )
    def production_model(
        context: AssetExecutionContext, lake: Lake, registry: ModelRegistry
    ) -> Iterator[Output | AssetObservation]:
        """Gate the newest candidate: promote it (move the alias) if the gate's rule allows, else record the
        rejection, or, with ``gate.probation_days``, put it on probation and judge it again on later days."""
        event = context.instance.get_latest_materialization_event(keys.candidate_model)
        if event is None:
            raise Failure(
                description=f"no candidate of {spec.name} has been trained yet; materialize candidate_model",
                allow_retries=False,
            )
        version = str(event.asset_materialization.metadata["version"].value)
        with registry.promotion_lock(spec.name):
            for note in registry.repair(spec.name):
                context.log.warning(note)
            champion = registry.champion(spec.name)
        candidate = registry.version(spec.name, version)
        recorded = _recorded_champion(context, keys)
        out_of_step = champion is not None and recorded != champion.version
        if DECIDED_AT_TAG in candidate.tags:
            context.log.info(f"{spec.name} v{candidate.version} was already decided; nothing to do")
            if out_of_step:
                yield _repaired_output(champion, recorded)
            return
        for _ in range(MAX_REGATES):
            if champion is not None and on_probation(candidate):
                probation = judge_probation(lake, registry, spec, candidate, champion, context.instance)
                if probation.decision is None:
                    # The repair first: the probation observation must stay the asset's newest event, or
                    # automation would no longer see the challenger waiting (ProbationPending).
                    if out_of_step:
                        yield _repaired_output(champion, recorded)
                    yield AssetObservation(
                        asset_key=keys.production_model, metadata=_waiting_metadata(probation, candidate, champion)
                    )
                    return
                decision = probation.decision
            else:
                decision = evaluate_candidate(lake, registry, spec, candidate, champion)
                # With shadow_days every candidate waits for live evidence, not only those the holdout refused.
                waits = not decision.promote or spec.gate.shadow_days is not None
                if waits and champion is not None and spec.gate.probation_days:
                    with registry.promotion_lock(spec.name):
                        outcome = _start_probation(registry, spec, candidate, champion, decision)
                    if outcome.status == "recorded":
                        context.log.info(f"{spec.name} v{candidate.version}: on probation ({decision.reason})")
                        if out_of_step:
                            yield _repaired_output(champion, recorded)
                        yield AssetObservation(
                            asset_key=keys.production_model,
                            metadata=_probation_metadata(
                                decision, candidate, champion, spec.gate.probation_days, spec.gate.shadow_days
                            ),
                        )
                        return
                    if outcome.status == "decided elsewhere":
                        context.log.info(f"{spec.name} v{candidate.version} was decided by a concurrent run")
                        return
                    champion, recorded = outcome.champion, _recorded_champion(context, keys)
                    out_of_step = champion is not None and recorded != champion.version
                    continue
            failpoint("gate.decided")
            metadata = _decision_metadata(decision, candidate, champion)
            if decision.promote:
                # The reference sketch must exist before the alias moves, so no drift check ever sees a champion
                # without one; building it twice (a re-gate, a rerun) rewrites the same files.
                build_reference(lake, registry, spec, candidate)
                failpoint("gate.reference_built")
            with registry.promotion_lock(spec.name):
                outcome = _commit(registry, spec, candidate, champion, decision, metadata["decision"])
            if outcome.status == "champion changed":
                context.log.warning(
                    f"the champion of {spec.name} changed to v{_version(outcome.champion) or 'none'} while "
                    f"v{candidate.version} was gated; re-gating against it"
                )
                champion, recorded = outcome.champion, _recorded_champion(context, keys)
                out_of_step = champion is not None and recorded != champion.version
                continue
            if outcome.status == "decided elsewhere":
                context.log.info(f"{spec.name} v{candidate.version} was decided by a concurrent run; its record stands")
                return
            context.log.info(f"{spec.name} v{candidate.version}: {metadata['decision']} ({decision.reason})")
            if decision.promote:
                yield Output(None, data_version=DataVersion(f"v{candidate.version}"), metadata=metadata)
                return
            yield AssetObservation(asset_key=keys.production_model, metadata=metadata)
            if out_of_step:
                yield _repaired_output(champion, recorded)
            return
        raise Failure(
            description=f"the champion of {spec.name} kept changing while v{candidate.version} was gated "
            f"({MAX_REGATES} times); the next run decides it again"
        )

    return production_model
