"""``production_model``: the gate between a new candidate and production.

The asset *is* the champion: it materializes only when the ``champion`` alias moves (a promotion or a rollback),
so its freshness policy measures the champion's age. A rejected candidate is recorded as an observation on the
asset, with the same decision metadata, and as tags on the candidate's MLflow version.
"""

import datetime as dt
from collections.abc import Iterator

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

from retrain_platform.keys import ModelKeys
from retrain_platform.monitoring.reference import build_reference
from retrain_platform.promotion.gate import GateDecision, decide_challenger, decide_first_model
from retrain_platform.promotion.metrics import METRICS, predict_for
from retrain_platform.registry import ModelRegistry, VersionInfo
from retrain_platform.spec.estimator import model_input
from retrain_platform.spec.model_spec import ModelSpec
from retrain_platform.storage.lake import Lake
from retrain_platform.training.assets import holdout_path

DECIDED_TAG = "gate.promote"


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
    }


def evaluate_candidate(
    lake: Lake, registry: ModelRegistry, spec: ModelSpec, candidate: VersionInfo
) -> tuple[GateDecision, VersionInfo | None]:
    """Score the candidate and the current champion on the candidate's holdout and apply the gate."""
    metric = METRICS[spec.metric.name]
    path = holdout_path(lake, spec.name, candidate.version)
    if not path.exists():
        raise Failure(description=f"holdout of {spec.name} v{candidate.version} is missing at {path}; retrain")
    holdout = pd.read_parquet(path)
    features, y_true = model_input(holdout, spec), holdout[spec.target.name].to_numpy()
    candidate_pred = predict_for(metric, registry.load(candidate), features)
    champion = registry.champion(spec.name)
    if champion is None:
        decision = decide_first_model(metric, metric.score(y_true, candidate_pred), spec.gate, len(holdout))
    else:
        champion_pred = predict_for(metric, registry.load(champion), features)
        decision = decide_challenger(metric, y_true, candidate_pred, champion_pred, spec.gate)
    return decision, champion


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
        description=f"The champion: the MLflow version of '{spec.name}' behind the `champion` alias. "
        "Materializes when the alias moves; rejected candidates are observations.",
    )
    def production_model(
        context: AssetExecutionContext, lake: Lake, registry: ModelRegistry
    ) -> Iterator[Output | AssetObservation]:
        """Gate the newest candidate: promote it (move the alias) only if it is measurably better."""
        event = context.instance.get_latest_materialization_event(keys.candidate_model)
        if event is None:
            raise Failure(description=f"no candidate of {spec.name} has been trained yet; materialize candidate_model")
        candidate = registry.version(spec.name, str(event.asset_materialization.metadata["version"].value))
        if DECIDED_TAG in candidate.tags:
            context.log.info(f"{spec.name} v{candidate.version} was already decided; nothing to do")
            return
        decision, champion = evaluate_candidate(lake, registry, spec, candidate)
        metadata = _decision_metadata(decision, candidate, champion)
        now = dt.datetime.now(dt.UTC).isoformat()
        registry.tag_version(spec.name, candidate.version, {**decision.as_tags(), "gate.decided_at": now})
        context.log.info(f"{spec.name} v{candidate.version}: {metadata['decision']} ({decision.reason})")
        if not decision.promote:
            yield AssetObservation(asset_key=keys.production_model, metadata=metadata)
            return
        # The reference sketch must exist before the alias moves, so no drift check ever sees a champion
        # without one.
        build_reference(lake, registry, spec, candidate)
        registry.set_champion(spec.name, candidate.version, reason=decision.reason)
        yield Output(None, data_version=DataVersion(f"v{candidate.version}"), metadata=metadata)

    return production_model
