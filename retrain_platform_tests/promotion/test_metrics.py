"""The metric registry: directions, tasks, scoring, and what predictions each metric scores."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import f1_score, roc_auc_score

from retrain_platform.promotion.metrics import METRICS, predict_for

HIGHER_IS_BETTER = {"accuracy", "balanced_accuracy", "f1", "precision", "recall", "roc_auc", "r2"}
LOWER_IS_BETTER = {"log_loss", "rmse", "mae", "mape"}


def test_registry_contents() -> None:
    assert set(METRICS) == HIGHER_IS_BETTER | LOWER_IS_BETTER
    for name, metric in METRICS.items():
        assert metric.name == name
        assert metric.greater_is_better == (name in HIGHER_IS_BETTER)
    assert {n for n, m in METRICS.items() if m.task == "classification"} == {
        "accuracy",
        "balanced_accuracy",
        "f1",
        "precision",
        "recall",
        "roc_auc",
        "log_loss",
    }
    assert {n for n, m in METRICS.items() if m.task == "regression"} == {"rmse", "mae", "r2", "mape"}
    assert {n for n, m in METRICS.items() if m.uses_proba} == {"roc_auc", "log_loss"}


@pytest.mark.parametrize("name", sorted(HIGHER_IS_BETTER))
def test_gain_higher_is_better(name: str) -> None:
    metric = METRICS[name]
    assert metric.gain(0.9, 0.8) == pytest.approx(0.1)
    assert metric.gain(0.8, 0.9) == pytest.approx(-0.1)
    assert metric.gain(0.8, 0.8) == 0


@pytest.mark.parametrize("name", sorted(LOWER_IS_BETTER))
def test_gain_lower_is_better(name: str) -> None:
    metric = METRICS[name]
    assert metric.gain(1.0, 3.0) == pytest.approx(2.0)  # lower error: positive gain
    assert metric.gain(3.0, 1.0) == pytest.approx(-2.0)
    assert metric.gain(2.0, 2.0) == 0


@pytest.mark.parametrize("name", sorted(HIGHER_IS_BETTER))
def test_below_floor_higher_is_better(name: str) -> None:
    metric = METRICS[name]
    assert metric.below_floor(0.59, 0.6)
    assert not metric.below_floor(0.6, 0.6)  # exactly at the floor is fine
    assert not metric.below_floor(0.61, 0.6)


@pytest.mark.parametrize("name", sorted(LOWER_IS_BETTER))
def test_below_floor_lower_is_better(name: str) -> None:
    metric = METRICS[name]
    assert metric.below_floor(5.1, 5.0)  # an error above the floor is worse
    assert not metric.below_floor(5.0, 5.0)
    assert not metric.below_floor(4.9, 5.0)


def test_scores() -> None:
    y = np.array([0, 1, 1, 0])
    assert METRICS["accuracy"].score(y, np.array([0, 1, 0, 0])) == 0.75
    assert METRICS["roc_auc"].score(y, np.array([0.1, 0.9, 0.8, 0.2])) == 1.0
    assert METRICS["roc_auc"].score(y, np.array([0.9, 0.1, 0.2, 0.8])) == 0.0
    assert METRICS["rmse"].score(np.array([0.0, 0.0]), np.array([3.0, 4.0])) == pytest.approx(math.sqrt(12.5))
    assert METRICS["mae"].score(np.array([0.0, 0.0]), np.array([3.0, -4.0])) == pytest.approx(3.5)
    assert METRICS["r2"].score(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])) == 1.0
    assert isinstance(METRICS["rmse"].score(np.array([1.0]), np.array([2.0])), float)


@pytest.fixture(scope="module")
def binary_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    y = (x[:, 0] + 0.5 * rng.normal(size=120) > 0).astype(int)
    return x, y


def test_predict_for_roc_auc_returns_positive_class_probability(binary_data) -> None:
    x, y = binary_data
    model = LogisticRegression().fit(x, y)
    prediction = predict_for(METRICS["roc_auc"], model, x)
    assert prediction.shape == (len(y),)
    np.testing.assert_allclose(prediction, model.predict_proba(x)[:, 1])
    assert np.all((prediction >= 0) & (prediction <= 1))
    # scored as the positive class: a useful model has an AUC well above 0.5, not below it
    assert METRICS["roc_auc"].score(y, prediction) == pytest.approx(roc_auc_score(y, prediction))
    assert METRICS["roc_auc"].score(y, prediction) > 0.8


def test_predict_for_log_loss_uses_probabilities(binary_data) -> None:
    x, y = binary_data
    model = LogisticRegression().fit(x, y)
    prediction = predict_for(METRICS["log_loss"], model, x)
    np.testing.assert_allclose(prediction, model.predict_proba(x)[:, 1])
    assert METRICS["log_loss"].score(y, prediction) < 0.69  # better than a coin


def test_predict_for_label_metrics_returns_labels(binary_data) -> None:
    x, y = binary_data
    model = LogisticRegression().fit(x, y)
    prediction = predict_for(METRICS["accuracy"], model, x)
    assert isinstance(prediction, np.ndarray)
    np.testing.assert_array_equal(prediction, model.predict(x))
    assert set(np.unique(prediction)) <= {0, 1}


def test_predict_for_multiclass_probability_keeps_all_columns() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(90, 2))
    y = np.repeat([0, 1, 2], 30)
    model = LogisticRegression().fit(x, y)
    assert predict_for(METRICS["roc_auc"], model, x).shape == (90, 3)


def test_predict_for_regression(binary_data) -> None:
    x, _ = binary_data
    y = x[:, 0] * 2.0
    model = LinearRegression().fit(x, y)
    prediction = predict_for(METRICS["rmse"], model, x)
    np.testing.assert_allclose(prediction, y, atol=1e-9)
    baseline = predict_for(METRICS["rmse"], DummyRegressor().fit(x, y), x)
    rmse = METRICS["rmse"]
    assert rmse.gain(rmse.score(y, prediction), rmse.score(y, baseline)) > 0


# -- configured metrics: averaging and one label order (multiclass) ---------------------------------------------------


@pytest.fixture(scope="module")
def three_classes() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    y = np.repeat(["a", "b", "c"], 40)
    x = rng.normal(size=(120, 2)) + np.repeat([[0, 0], [2, 0], [0, 2]], 40, axis=0)
    return x, y


def test_unconfigured_metrics_keep_scikit_learn_defaults() -> None:
    metric = METRICS["f1"]
    assert (metric.average, metric.labels) == (None, None)
    y, p = np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0])
    assert metric.score(y, p) == pytest.approx(f1_score(y, p))


def test_multiclass_roc_auc_is_one_vs_rest_and_matches_scikit_learn_when_every_class_is_present(three_classes):
    x, y = three_classes
    model = LogisticRegression().fit(x, y)
    for average in ("macro", "weighted"):
        metric = METRICS["roc_auc"].configured(["c", "a", "b"], average)
        prediction = predict_for(metric, model, x)
        assert prediction.shape == (120, 3)
        expected = roc_auc_score(y, model.predict_proba(x), multi_class="ovr", average=average)
        assert metric.score(y, prediction) == pytest.approx(expected)


def test_probabilities_follow_the_metric_labels_when_a_model_never_saw_a_class(three_classes):
    x, y = three_classes
    partial = LogisticRegression().fit(x[y != "b"], y[y != "b"])  # trained on a window without class b
    metric = METRICS["roc_auc"].configured(["a", "b", "c"])
    prediction = predict_for(metric, partial, x)
    assert prediction.shape == (120, 3)
    np.testing.assert_array_equal(prediction[:, 1], 0.0)
    np.testing.assert_allclose(prediction[:, [0, 2]], partial.predict_proba(x))
    assert 0.5 < metric.score(y, prediction) < 1.0
    # log loss scores the same columns against all three labels
    assert np.isfinite(METRICS["log_loss"].configured(["a", "b", "c"]).score(y, prediction))


def test_a_holdout_missing_a_class_still_scores(three_classes):
    x, y = three_classes
    model = LogisticRegression().fit(x, y)
    holdout = y != "c"
    for name in ("roc_auc", "log_loss", "f1", "precision", "recall"):
        metric = METRICS[name].configured(["a", "b", "c"])
        value = metric.score(y[holdout], predict_for(metric, model, x[holdout]))
        assert np.isfinite(value), name


def test_f1_binary_uses_the_greater_label_as_positive_and_macro_averages_present_classes() -> None:
    binary = METRICS["f1"].configured(["yes", "no"])
    assert (binary.average, binary.positive_label) == ("binary", "yes")
    y, p = np.array(["no", "yes", "yes", "no"]), np.array(["no", "yes", "no", "no"])
    assert binary.score(y, p) == pytest.approx(f1_score(y, p, pos_label="yes"))
    macro = METRICS["f1"].configured(["a", "b", "c"])
    y, p = np.array(["a", "b", "a", "b"]), np.array(["a", "b", "a", "a"])
    assert macro.score(y, p) == pytest.approx(f1_score(y, p, average="macro"))  # c is in neither: not averaged


def test_a_model_trained_on_a_class_outside_the_labels_is_an_error(three_classes):
    x, y = three_classes
    model = LogisticRegression().fit(x, y)
    with pytest.raises(ValueError, match=r"outside the metric's labels \['a', 'b'\]; add them to target.categories"):
        predict_for(METRICS["roc_auc"].configured(["a", "b"]), model, x)
