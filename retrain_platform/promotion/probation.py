"""Probation: a candidate the holdout refused is judged again on the days that land after it.

The holdout verdict is about a proxy. The gate scores the candidate's *validation fit* (trained on the window
before the holdout) because the registered model is refit on the whole window, holdout included, and cannot be
scored on it. Two fits a day apart differ by the noise of a single fit, so the proxy can be measurably worse
while the refit, which has seen the newest days, is not: the elec_demand backtest in the README refused
candidates that a weekly refit, which never refuses, would have gained from.

With ``gate.probation_days`` set, a refused candidate becomes a challenger instead. Once that many days have
landed after its window, the registered challenger and the champion are scored on exactly those days, which
neither was fit on, and the gate's own rule decides again: that decision is final. The challenger is the
model that would be promoted, so the second verdict is about the right model, at the price of the champion
serving ``probation_days`` longer when the challenger does win.

The state is one tag on the candidate's MLflow version (the last day its window covers), so it survives
restarts and is visible in the MLflow UI; each day of waiting is an observation on ``production_model``.
"""

from __future__ import annotations

import dataclasses
import math
from statistics import fmean
from typing import NamedTuple

from dagster import DagsterInstance, Failure

from retrain_platform.check_history import (
    SHADOW_LABELLED,
    SHADOW_VERSION,
    champion_on_shadow_rows_key,
    latest_results,
    shadow_metric_key,
)
from retrain_platform.keys import ModelKeys
from retrain_platform.promotion.gate import GateDecision, decide_challenger
from retrain_platform.promotion.metrics import METRICS, metric_for, predict_for
from retrain_platform.registry import FITTED_THROUGH_TAG, WINDOW_END_TAG, ModelRegistry, VersionInfo
from retrain_platform.spec.estimator import model_input
from retrain_platform.spec.model_spec import ModelSpec
from retrain_platform.storage.lake import Lake

# The last partition of a challenger's window; days after it are the ones its probation is judged on.
PROBATION_TAG = "gate.probation_since"
# The holdout verdict that started the probation, kept beside the final decision's own gate.* tags.
PROBATION_REASON_TAG = "gate.probation_reason"


class Probation(NamedTuple):
    """Where a challenger's probation stands: the days landed after its window (at most ``probation_days``),
    its judged live shadow days (with ``gate.shadow_days``), and the final decision once there are enough of both
    (None while it waits)."""

    days: list[str]
    needed: int
    decision: GateDecision | None
    shadow: list[tuple[str, float, float]] = []
    shadow_needed: int = 0


def shadow_days(instance: DagsterInstance, spec: ModelSpec, candidate: VersionInfo) -> list[tuple[str, float, float]]:
    """``(day, challenger's live metric, champion's on the same rows)`` for the newest ``gate.shadow_days`` live
    days on which ``candidate`` was scored in shadow on at least ``feedback.min_labels`` labelled rows."""
    name = spec.metric.name
    found = []
    for result in latest_results(instance, ModelKeys(spec.name).live_performance_check, limit=90):
        meta = result.metadata
        if (
            str(meta.get(SHADOW_VERSION)) != candidate.version
            or meta.get(SHADOW_LABELLED, 0) < spec.feedback.min_labels
        ):
            continue
        mine, theirs = meta.get(shadow_metric_key(name)), meta.get(champion_on_shadow_rows_key(name))
        if all(isinstance(v, (int, float)) and math.isfinite(v) for v in (mine, theirs)):
            found.append((result.partition, float(mine), float(theirs)))
    return found[: spec.gate.shadow_days]


def _with_shadow(spec: ModelSpec, decision: GateDecision, evidence: list[tuple[str, float, float]]) -> GateDecision:
    """The landed days' decision, refused if the challenger's live shadow metric is worse than the champion's on
    the same rows by more than the gate's tolerance."""
    metric = METRICS[spec.metric.name]
    mine, theirs = fmean(e[1] for e in evidence), fmean(e[2] for e in evidence)
    tolerated = spec.gate.tolerance * abs(theirs) if spec.gate.mode == "not_worse" else 0.0
    loss = metric.gain(theirs, mine)
    live = (
        f"live shadow on {len(evidence)} day(s): {metric.name} {mine:.4f} against the champion's {theirs:.4f} on the "
        f"same rows"
    )
    if decision.promote and loss > tolerated:
        return dataclasses.replace(
            decision,
            promote=False,
            reason=f"{decision.reason}; but {live}, a loss beyond the tolerated {tolerated:.4f}",
        )
    return dataclasses.replace(decision, reason=f"{decision.reason}; {live}")


def on_probation(candidate: VersionInfo) -> bool:
    """Whether ``candidate`` was refused on its holdout and is waiting for the days that land after it."""
    return PROBATION_TAG in candidate.tags


def probation_tags(candidate: VersionInfo, holdout_decision: GateDecision) -> dict[str, str]:
    """The tags that put ``candidate`` on probation after ``holdout_decision`` refused it."""
    since = candidate.tags.get(WINDOW_END_TAG) or candidate.tags.get(FITTED_THROUGH_TAG)
    if not since:
        # Every candidate the platform trains carries its window; one registered by hand may not.
        raise Failure(
            description=f"v{candidate.version} has no {WINDOW_END_TAG} tag, so the days after its window are "
            "unknown; retrain it with the platform or set gate.probation_days: null",
            allow_retries=False,
        )
    return {PROBATION_TAG: since, PROBATION_REASON_TAG: holdout_decision.reason}


def probation_days(lake: Lake, spec: ModelSpec, candidate: VersionInfo) -> list[str]:
    """The valid partitions after ``candidate``'s window, oldest first, at most ``gate.probation_days`` of them.

    Quarantined days have no features and do not count; a day that lands late counts when it lands.
    """
    since = candidate.tags[PROBATION_TAG]
    later = [p for p in lake.feature_partitions(spec.name) if p > since]
    return later[: spec.gate.probation_days]


def judge_probation(
    lake: Lake,
    registry: ModelRegistry,
    spec: ModelSpec,
    candidate: VersionInfo,
    champion: VersionInfo,
    instance: DagsterInstance | None = None,
) -> Probation:
    """Score the registered challenger and the champion on the days after the challenger's window, once there
    are ``gate.probation_days`` of them, and apply the gate's rule to that comparison.

    The champion is older than the challenger (a newer champion would have superseded it), so it was not fit on
    those days either; were it (a version registered by hand), it would be judged in sample and favoured, so the
    error would be a kept champion, never a wrong promotion.
    """
    needed = spec.gate.probation_days or 0
    days = probation_days(lake, spec, candidate)
    shadow_needed = spec.gate.shadow_days or 0
    evidence = shadow_days(instance, spec, candidate) if shadow_needed and instance is not None else []
    if len(days) < needed or len(evidence) < shadow_needed:
        return Probation(days, needed, None, evidence, shadow_needed)
    frame = lake.read_features(spec.name, days)
    y_true = frame[spec.target.name].to_numpy()
    challenger_model, champion_model = registry.load(candidate), registry.load(champion)
    try:
        metric = metric_for(spec, challenger_model, champion_model, y=y_true)
    except ValueError as err:
        raise Failure(description=str(err), allow_retries=False) from None
    features = model_input(frame, spec)
    decision = decide_challenger(
        metric,
        y_true,
        predict_for(metric, challenger_model, features),
        predict_for(metric, champion_model, features),
        spec.gate,
    )
    span = days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}"
    reason = (
        f"after probation on the {len(days)} day(s) landed after its window ({span}), which neither model was "
        f"fit on: {decision.reason}"
    )
    decision = dataclasses.replace(decision, reason=reason)
    if shadow_needed:
        decision = _with_shadow(spec, decision, evidence)
    return Probation(days, needed, decision, evidence, shadow_needed)
