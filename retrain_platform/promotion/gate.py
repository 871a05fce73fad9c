"""The promotion gate: is a candidate measurably better than the champion, or only lucky on this holdout?

Both models are scored on the same holdout rows, so their errors are paired; a paired percentile bootstrap of the
metric difference gives a confidence interval that accounts for that pairing
(:func:`~retrain_platform.promotion.bootstrap.gain_interval`: scipy's ``bootstrap(method="percentile")`` statistic,
computed from per-row draw counts instead of re-scoring every resample with scikit-learn).
In mode ``better`` the candidate wins only when the observed gain reaches the spec's margin *and* the interval lies
above zero; in mode ``not_worse`` it wins unless the interval lies below the tolerated loss (``gate.tolerance``
times the champion's score).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from retrain_platform.promotion.bootstrap import gain_interval
from retrain_platform.promotion.metrics import Metric
from retrain_platform.spec.model_spec import GateSpec


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict with everything needed to audit it later (stored as metadata and registry tags)."""

    promote: bool
    reason: str
    candidate_score: float
    champion_score: float | None
    gain: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    holdout_rows: int
    tolerated_loss: float | None = None  # mode not_worse: the loss of the gain that still counts as a tie

    def as_tags(self) -> dict[str, str]:
        """The decision as flat string tags, e.g. for MLflow model-version tags."""
        return {f"gate.{k}": "" if v is None else str(v) for k, v in asdict(self).items()}


def decide_first_model(metric: Metric, candidate_score: float, gate: GateSpec, holdout_rows: int) -> GateDecision:
    """There is no champion yet: promote when the candidate clears the absolute floor (if one is set)."""
    floor = gate.min_score
    ok = floor is None or not metric.below_floor(candidate_score, floor)
    if floor is None:
        reason = "first model; no min_score configured"
    elif ok:
        reason = f"first model; {metric.name} {candidate_score:.4f} clears min_score {floor}"
    else:
        reason = f"first model; {metric.name} {candidate_score:.4f} does not clear min_score {floor}"
    return GateDecision(ok, reason, candidate_score, None, None, None, None, gate.confidence, holdout_rows)


def decide_challenger(
    metric: Metric,
    y_true: np.ndarray,
    candidate_pred: np.ndarray,
    champion_pred: np.ndarray,
    gate: GateSpec,
) -> GateDecision:
    """Compare a candidate with the champion on the same holdout using a paired bootstrap of the gain."""
    y_true = np.asarray(y_true)
    candidate_score = metric.score(y_true, candidate_pred)
    champion_score = metric.score(y_true, champion_pred)
    gain = metric.gain(candidate_score, champion_score)

    ci_low, ci_high = gain_interval(
        metric,
        y_true,
        candidate_pred,
        champion_pred,
        n_resamples=gate.bootstrap_samples,
        confidence=gate.confidence,
        seed=gate.seed,
        scores=(candidate_score, champion_score),
    )

    level = f"{gate.confidence:.0%}"
    interval = f"{level} CI [{ci_low:+.4f}, {ci_high:+.4f}]"
    tolerated = gate.tolerance * abs(champion_score) if gate.mode == "not_worse" else None
    if np.isnan(ci_low):
        promote, reason = False, "holdout too small or too uniform for a bootstrap interval; champion kept"
    elif gate.mode == "not_worse":
        # A fresher model that the holdout cannot tell apart from the champion is the better bet on drifting
        # data (the backtests in the README measure it); only a measurably, and more than negligibly, worse
        # one is refused.
        promote = ci_high >= -tolerated
        if ci_low > 0:
            reason = f"gain {gain:+.4f} in {metric.name}, {interval} above 0"  # measurably better
        elif ci_high >= 0:
            reason = (
                f"gain {gain:+.4f} in {metric.name}, not measurably worse: {interval}; the fresher model wins a tie"
            )
        elif promote:
            reason = (
                f"gain {gain:+.4f} in {metric.name}, {interval}: no loss beyond the tolerated {tolerated:.4f} "
                f"(gate.tolerance {gate.tolerance:g} of the champion's score) is shown; the fresher model wins a tie"
            )
        else:
            reason = (
                f"candidate is measurably worse: {interval} of the gain lies below -{tolerated:.4f} "
                f"(gate.tolerance {gate.tolerance:g} of the champion's score)"
            )
    elif gain < gate.min_improvement:
        promote = False
        reason = f"gain {gain:+.4f} in {metric.name} is below the required margin {gate.min_improvement}"
    elif ci_low <= 0:
        promote = False
        reason = f"gain {gain:+.4f} is not significant: {interval} includes 0"
    else:
        promote = True
        reason = f"gain {gain:+.4f} in {metric.name}, {interval} above 0"
    return GateDecision(
        promote,
        reason,
        candidate_score,
        champion_score,
        gain,
        ci_low,
        ci_high,
        gate.confidence,
        len(y_true),
        tolerated,
    )
