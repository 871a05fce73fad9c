"""The promotion gate: margin, paired-bootstrap significance, metric direction, degenerate holdouts, tags."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from retrain_platform.promotion.gate import GateDecision, decide_challenger, decide_first_model
from retrain_platform.promotion.metrics import METRICS, predict_for
from retrain_platform.spec.model_spec import GateSpec

ACCURACY = METRICS["accuracy"]
ROC_AUC = METRICS["roc_auc"]
RMSE = METRICS["rmse"]

# the smallest resample count the spec allows keeps these tests fast
GATE = GateSpec(bootstrap_samples=200, confidence=0.95, seed=0, mode="better")


def labels_with_accuracy(y: np.ndarray, correct: int, rng: np.random.Generator) -> np.ndarray:
    """Predictions that are right on exactly ``correct`` randomly chosen rows of ``y`` (binary labels)."""
    prediction = 1 - y
    right = rng.choice(len(y), size=correct, replace=False)
    prediction[right] = y[right]
    return prediction


# --------------------------------------------------------------------------------------------------
# the first model
# --------------------------------------------------------------------------------------------------


def test_first_model_without_floor_is_promoted() -> None:
    decision = decide_first_model(ACCURACY, 0.12, GateSpec(), holdout_rows=40)
    assert decision.promote
    assert decision.reason == "first model; no min_score configured"
    assert decision.candidate_score == 0.12
    assert decision.champion_score is None and decision.gain is None
    assert decision.ci_low is None and decision.ci_high is None
    assert decision.confidence == 0.95
    assert decision.holdout_rows == 40


def test_first_model_clearing_the_floor_is_promoted() -> None:
    decision = decide_first_model(ROC_AUC, 0.71, GateSpec(min_score=0.6), holdout_rows=100)
    assert decision.promote
    assert decision.reason == "first model; roc_auc 0.7100 clears min_score 0.6"


def test_first_model_exactly_at_the_floor_is_promoted() -> None:
    assert decide_first_model(ROC_AUC, 0.6, GateSpec(min_score=0.6), holdout_rows=100).promote


def test_first_model_below_the_floor_is_rejected() -> None:
    decision = decide_first_model(ROC_AUC, 0.55, GateSpec(min_score=0.6), holdout_rows=100)
    assert not decision.promote
    assert decision.reason == "first model; roc_auc 0.5500 does not clear min_score 0.6"


def test_first_model_floor_for_an_error_metric() -> None:
    gate = GateSpec(min_score=10.0)  # rmse must not exceed 10
    assert decide_first_model(RMSE, 8.0, gate, holdout_rows=50).promote
    rejected = decide_first_model(RMSE, 12.0, gate, holdout_rows=50)
    assert not rejected.promote
    assert "does not clear min_score 10.0" in rejected.reason


# --------------------------------------------------------------------------------------------------
# challengers
# --------------------------------------------------------------------------------------------------


def test_clearly_better_candidate_is_promoted() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    candidate = labels_with_accuracy(y, 270, rng)  # 90%
    champion = labels_with_accuracy(y, 180, rng)  # 60%
    decision = decide_challenger(ACCURACY, y, candidate, champion, GATE)

    assert decision.promote
    assert decision.candidate_score == pytest.approx(0.9)
    assert decision.champion_score == pytest.approx(0.6)
    assert decision.gain == pytest.approx(0.3)
    assert 0 < decision.ci_low < decision.gain < decision.ci_high
    assert decision.holdout_rows == 300
    assert decision.confidence == 0.95
    assert decision.reason.startswith("gain +0.3000 in accuracy, 95% CI [")
    assert decision.reason.endswith("] above 0")


def test_clearly_better_fitted_model_is_promoted_on_roc_auc() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 2))
    y = (x[:, 0] + 0.3 * rng.normal(size=400) > 0).astype(int)
    train, holdout = slice(0, 250), slice(250, None)
    candidate = LogisticRegression().fit(x[train], y[train])
    champion = DummyClassifier(strategy="prior").fit(x[train], y[train])  # AUC 0.5
    decision = decide_challenger(
        ROC_AUC,
        y[holdout],
        predict_for(ROC_AUC, candidate, x[holdout]),
        predict_for(ROC_AUC, champion, x[holdout]),
        GATE,
    )
    assert decision.promote, decision.reason
    assert decision.champion_score == pytest.approx(0.5)
    assert decision.candidate_score > 0.9
    assert decision.ci_low > 0.3


def test_identical_predictions_are_rejected_as_not_significant() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    prediction = labels_with_accuracy(y, 150, rng)
    decision = decide_challenger(ACCURACY, y, prediction.copy(), prediction, GATE)
    assert not decision.promote
    assert decision.gain == 0
    assert decision.ci_low <= 0 <= decision.ci_high
    assert "not significant" in decision.reason
    assert "includes 0" in decision.reason


def test_identical_probabilities_are_rejected_on_roc_auc() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 150)
    proba = np.clip(0.3 * y + rng.uniform(0, 0.7, 150), 0, 1)
    decision = decide_challenger(ROC_AUC, y, proba, proba.copy(), GATE)
    assert not decision.promote
    assert decision.gain == 0
    assert decision.ci_low <= 0 <= decision.ci_high


def test_identical_predictions_with_a_margin_are_rejected_for_the_margin() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    prediction = labels_with_accuracy(y, 150, rng)
    gate = GateSpec(bootstrap_samples=200, mode="better", min_improvement=0.002)
    decision = decide_challenger(ACCURACY, y, prediction, prediction, gate)
    assert not decision.promote
    assert decision.reason == "gain +0.0000 in accuracy is below the required margin 0.002"


def test_slightly_better_by_chance_on_a_small_noisy_holdout_is_rejected() -> None:
    rng = np.random.default_rng(4)
    n = 50
    y = rng.integers(0, 2, n)
    champion = labels_with_accuracy(y, 30, rng)  # 60%
    candidate = champion.copy()
    wrong = np.flatnonzero(champion != y)[:4]
    right = np.flatnonzero(champion == y)[:2]
    candidate[wrong] = y[wrong]  # 4 rows fixed ...
    candidate[right] = 1 - y[right]  # ... 2 rows broken: +2 rows out of 50, noise
    decision = decide_challenger(ACCURACY, y, candidate, champion, GATE)

    assert decision.gain == pytest.approx(0.04)
    assert decision.gain >= GATE.min_improvement  # the margin alone would let it through
    assert not decision.promote
    assert decision.ci_low < 0 < decision.ci_high
    assert decision.reason.startswith("gain +0.0400 is not significant: 95% CI [")
    assert decision.reason.endswith("] includes 0")


def test_not_worse_mode_promotes_a_tie_either_way_and_refuses_a_measurably_worse_candidate() -> None:
    rng = np.random.default_rng(4)
    n = 50
    y = rng.integers(0, 2, n)
    champion = labels_with_accuracy(y, 30, rng)
    candidate = champion.copy()
    wrong, right = np.flatnonzero(champion != y)[:4], np.flatnonzero(champion == y)[:2]
    candidate[wrong], candidate[right] = y[wrong], 1 - y[right]  # +2 rows of 50: not significant
    not_worse = GateSpec(bootstrap_samples=200, confidence=0.95, seed=0, mode="not_worse")
    assert not decide_challenger(ACCURACY, y, candidate, champion, GATE).promote
    decision = decide_challenger(ACCURACY, y, candidate, champion, not_worse)
    assert decision.promote and decision.ci_low < 0 < decision.ci_high
    assert "not measurably worse" in decision.reason and "fresher model wins a tie" in decision.reason
    # a small observed loss the holdout cannot confirm is a tie too: the fresher model is promoted
    reverse = decide_challenger(ACCURACY, y, champion, candidate, not_worse)
    assert reverse.promote and reverse.gain < 0 < reverse.ci_high

    y = rng.integers(0, 2, 300)
    worse = decide_challenger(
        ACCURACY, y, labels_with_accuracy(y, 200, rng), labels_with_accuracy(y, 260, rng), not_worse
    )
    assert not worse.promote and worse.ci_high < 0
    assert worse.reason.startswith("candidate is measurably worse: 95% CI [")


def test_a_margin_with_the_not_worse_mode_is_refused_with_how_to_fix_it() -> None:
    with pytest.raises(ValueError, match="min_improvement applies to mode 'better'.*set mode: better"):
        GateSpec(mode="not_worse", min_improvement=0.01)
    with pytest.raises(ValueError, match="tolerance applies to mode 'not_worse'.*set mode: not_worse"):
        GateSpec(mode="better", tolerance=0.01)
    assert GateSpec(mode="better").tolerance == 0.01  # the default is not a choice the user made: no error


def test_not_worse_tolerates_a_significant_but_negligible_loss_and_refuses_a_real_one() -> None:
    # Two models a day apart: nearly the same predictions, so the paired interval is narrow enough to call a loss
    # of a fraction of a percent of the RMSE significant.
    rng = np.random.default_rng(7)
    y = rng.normal(10, 1, 400)
    champion = y + rng.normal(0, 0.3, 400)
    slightly_worse = champion + rng.normal(0, 0.01, 400) + 0.002 * np.sign(champion - y)
    strict = GateSpec(bootstrap_samples=400, seed=0, tolerance=0.0)
    refused = decide_challenger(RMSE, y, slightly_worse, champion, strict)
    assert not refused.promote and refused.ci_high < 0
    assert refused.tolerated_loss == 0.0

    tolerant = GateSpec(bootstrap_samples=400, seed=0)  # the default tolerance: 1 % of the champion's score
    decision = decide_challenger(RMSE, y, slightly_worse, champion, tolerant)
    assert decision.tolerated_loss == pytest.approx(0.01 * decision.champion_score)
    assert -decision.tolerated_loss <= decision.ci_high < 0
    assert decision.promote and "no loss beyond the tolerated" in decision.reason

    clearly_worse = champion + 0.1 * np.sign(champion - y)  # a third more error: far beyond 1 %
    refused = decide_challenger(RMSE, y, clearly_worse, champion, tolerant)
    assert not refused.promote and refused.ci_high < -refused.tolerated_loss
    assert "gate.tolerance 0.01 of the champion's score" in refused.reason


def test_margin_larger_than_the_gain_is_rejected_with_the_margin_reason() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    candidate = labels_with_accuracy(y, 270, rng)
    champion = labels_with_accuracy(y, 240, rng)  # gain 0.1, clearly significant
    significant = decide_challenger(ACCURACY, y, candidate, champion, GATE)
    assert significant.promote and significant.ci_low > 0

    gate = GateSpec(bootstrap_samples=200, mode="better", min_improvement=0.15)
    decision = decide_challenger(ACCURACY, y, candidate, champion, gate)
    assert not decision.promote
    assert decision.gain == pytest.approx(0.1)
    assert decision.ci_low > 0  # significant, yet below the margin
    assert decision.reason == "gain +0.1000 in accuracy is below the required margin 0.15"


def test_worse_candidate_is_rejected() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    decision = decide_challenger(
        ACCURACY, y, labels_with_accuracy(y, 180, rng), labels_with_accuracy(y, 270, rng), GATE
    )
    assert not decision.promote
    assert decision.gain == pytest.approx(-0.3)
    assert decision.ci_high < 0


def test_error_metric_lower_rmse_is_a_positive_gain() -> None:
    rng = np.random.default_rng(5)
    y = rng.normal(100, 20, 200)
    accurate = y + rng.normal(0, 2, 200)
    sloppy = y + rng.normal(0, 10, 200)

    better = decide_challenger(RMSE, y, accurate, sloppy, GATE)
    assert better.candidate_score < better.champion_score
    assert better.gain == pytest.approx(better.champion_score - better.candidate_score)
    assert better.gain > 0
    assert better.ci_low > 0
    assert better.promote
    assert "in rmse" in better.reason

    worse = decide_challenger(RMSE, y, sloppy, accurate, GATE)
    assert worse.gain == pytest.approx(-better.gain)
    assert worse.ci_high < 0
    assert not worse.promote


@pytest.mark.filterwarnings("ignore")  # sklearn warns that roc_auc is undefined on single-class resamples
@pytest.mark.parametrize(
    "y",
    [
        np.array([0] * 19 + [1]),  # most resamples hold no positive at all
        np.array([0, 1] + [0] * 8),
        np.zeros(15, dtype=int),  # the holdout itself is single-class
        np.array([0, 1]),
    ],
    ids=["one_positive", "tiny", "single_class", "two_rows"],
)
def test_roc_auc_on_a_holdout_with_single_class_resamples_keeps_the_champion(y: np.ndarray) -> None:
    rng = np.random.default_rng(6)
    candidate = np.clip(y * 0.8 + rng.uniform(0, 0.2, len(y)), 0, 1)  # perfectly ranked
    champion = rng.uniform(0, 1, len(y))
    decision = decide_challenger(ROC_AUC, y, candidate, champion, GATE)
    assert not decision.promote
    assert decision.holdout_rows == len(y)
    assert math.isnan(decision.ci_low) and math.isnan(decision.ci_high)
    assert decision.reason == "holdout too small or too uniform for a bootstrap interval; champion kept"
    assert all(isinstance(v, str) for v in decision.as_tags().values())


def test_single_row_holdout_does_not_raise() -> None:
    decision = decide_challenger(RMSE, np.array([1.0]), np.array([1.0]), np.array([3.0]), GATE)
    assert not decision.promote
    assert decision.holdout_rows == 1


def test_deterministic_for_a_given_seed() -> None:
    rng = np.random.default_rng(7)
    y = rng.normal(0, 1, 120)
    candidate = y + rng.normal(0, 0.9, 120)
    champion = y + rng.normal(0, 1.0, 120)

    first = decide_challenger(RMSE, y, candidate, champion, GATE)
    second = decide_challenger(RMSE, y.copy(), candidate.copy(), champion.copy(), GATE)
    assert first == second
    assert first.as_tags() == second.as_tags()

    other_seed = decide_challenger(RMSE, y, candidate, champion, GateSpec(bootstrap_samples=200, seed=1))
    assert other_seed.gain == first.gain  # the point estimate does not depend on the seed ...
    assert (other_seed.ci_low, other_seed.ci_high) != (first.ci_low, first.ci_high)  # ... the interval does


def test_confidence_level_widens_the_interval() -> None:
    rng = np.random.default_rng(8)
    y = rng.normal(0, 1, 150)
    candidate = y + rng.normal(0, 0.8, 150)
    champion = y + rng.normal(0, 1.0, 150)
    narrow = decide_challenger(RMSE, y, candidate, champion, GateSpec(bootstrap_samples=500, confidence=0.8))
    wide = decide_challenger(RMSE, y, candidate, champion, GateSpec(bootstrap_samples=500, confidence=0.99))
    assert wide.ci_low < narrow.ci_low <= narrow.ci_high < wide.ci_high
    assert narrow.gain == wide.gain
    assert (narrow.confidence, wide.confidence) == (0.8, 0.99)


def test_accepts_lists_and_pandas_like_inputs() -> None:
    y = [0, 1] * 30
    decision = decide_challenger(ACCURACY, y, list(y), [1 - v for v in y], GATE)
    assert decision.promote
    assert decision.gain == 1.0
    assert decision.holdout_rows == 60


# --------------------------------------------------------------------------------------------------
# tags
# --------------------------------------------------------------------------------------------------


def test_as_tags_for_a_challenger() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 100)
    decision = decide_challenger(ACCURACY, y, labels_with_accuracy(y, 90, rng), labels_with_accuracy(y, 60, rng), GATE)
    tags = decision.as_tags()
    assert set(tags) == {f"gate.{f.name}" for f in dataclasses.fields(GateDecision)}
    assert all(isinstance(k, str) and k.startswith("gate.") for k in tags)
    assert all(isinstance(v, str) for v in tags.values())
    assert tags["gate.promote"] == "True"
    assert tags["gate.reason"] == decision.reason
    assert float(tags["gate.gain"]) == decision.gain
    assert float(tags["gate.ci_low"]) == decision.ci_low
    assert tags["gate.holdout_rows"] == "100"


def test_as_tags_for_a_first_model_render_none_as_empty() -> None:
    tags = decide_first_model(RMSE, 3.5, GateSpec(min_score=3.0), holdout_rows=20).as_tags()
    assert tags["gate.promote"] == "False"
    assert tags["gate.candidate_score"] == "3.5"
    for key in ("gate.champion_score", "gate.gain", "gate.ci_low", "gate.ci_high"):
        assert tags[key] == ""
    assert tags["gate.confidence"] == "0.95"


def test_multiclass_probabilities_bootstrap_by_row() -> None:
    """One probability column per class (multiclass roc_auc): rows are resampled, never the class columns."""

    metric = METRICS["roc_auc"].configured([0, 1, 2])
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    noise = rng.dirichlet([1, 1, 1], 300)
    sharp = 0.7 * np.eye(3)[y] + 0.3 * noise
    decision = decide_challenger(metric, y, sharp, noise, GateSpec(bootstrap_samples=200, confidence=0.9))
    assert decision.promote, decision.reason
    assert 0 < decision.ci_low <= decision.gain <= decision.ci_high
