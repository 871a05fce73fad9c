"""The primary metrics a spec may name, with their direction and what predictions they need."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn import metrics as skm


@dataclass(frozen=True)
class Metric:
    """A scoring function over ``(y_true, prediction)`` and how to read it.

    ``uses_proba`` metrics receive the positive-class probability (binary) instead of the predicted label.
    ``greater_is_better`` orients every comparison, so error metrics such as rmse work in the gate unchanged.
    """

    name: str
    task: Literal["classification", "regression"]
    greater_is_better: bool
    uses_proba: bool
    fn: Callable[[np.ndarray, np.ndarray], float]

    def score(self, y_true: np.ndarray, prediction: np.ndarray) -> float:
        """The metric value of ``prediction`` against ``y_true``."""
        return float(self.fn(y_true, prediction))

    def gain(self, new: float, old: float) -> float:
        """How much better ``new`` is than ``old``, positive when better whatever the metric's direction."""
        return new - old if self.greater_is_better else old - new

    def below_floor(self, value: float, floor: float) -> bool:
        """Whether ``value`` is worse than ``floor`` (above it, for error metrics)."""
        return value < floor if self.greater_is_better else value > floor


def _rmse(y: np.ndarray, p: np.ndarray) -> float:
    return skm.root_mean_squared_error(y, p)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("accuracy", "classification", True, False, skm.accuracy_score),
        Metric("balanced_accuracy", "classification", True, False, skm.balanced_accuracy_score),
        Metric("f1", "classification", True, False, skm.f1_score),
        Metric("roc_auc", "classification", True, True, skm.roc_auc_score),
        Metric("log_loss", "classification", False, True, skm.log_loss),
        Metric("rmse", "regression", False, False, _rmse),
        Metric("mae", "regression", False, False, skm.mean_absolute_error),
        Metric("r2", "regression", True, False, skm.r2_score),
        Metric("mape", "regression", False, False, skm.mean_absolute_percentage_error),
    ]
}


def predict_for(metric: Metric, model, features) -> np.ndarray:
    """What ``metric`` scores: positive-class probabilities for probability metrics, else predictions."""
    if metric.uses_proba:
        proba = model.predict_proba(features)
        return proba[:, 1] if proba.shape[1] == 2 else proba
    return np.asarray(model.predict(features))
