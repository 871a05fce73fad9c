"""The primary metrics a spec may name, with their direction and what predictions they need.

Classification metrics can be *configured* for a model (:func:`metric_for`): an averaging mode (``average``) and
one fixed label order (``labels``). The label order is what makes probability metrics comparable between two
models: a class missing from one model's training window gives its ``predict_proba`` fewer columns, so
:func:`predict_for` lays every model's probabilities out in the metric's label order (a class the model never saw
has probability 0) and the metric is told the labels, so a holdout missing a class still scores.

A :class:`Metric` without ``average``/``labels`` (every entry of :data:`METRICS`) behaves exactly as scikit-learn's
function with its defaults, which is what binary and regression models have always used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from retrain_platform.spec.model_contract import align_probabilities, sort_labels


class _DeferredSklearnMetrics:
    """``sklearn.metrics``, imported at the first score rather than with this module: every spec validation
    reads :data:`METRICS` for its names and tasks, and importing scikit-learn costs over a second."""

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(*args, **kwargs):
            from sklearn import metrics

            return getattr(metrics, name)(*args, **kwargs)

        call.__name__ = name
        return call


skm = _DeferredSklearnMetrics()

if TYPE_CHECKING:
    from retrain_platform.spec.model_spec import ModelSpec

Average = Literal["binary", "micro", "macro", "weighted"]
# The averages each kind of metric accepts. roc_auc is one-vs-rest for more than two classes, where scikit-learn
# defines only macro and weighted averages.
LABEL_AVERAGES: tuple[str, ...] = ("binary", "micro", "macro", "weighted")
ROC_AUC_AVERAGES: tuple[str, ...] = ("binary", "macro", "weighted")


@dataclass(frozen=True)
class Metric:
    """A scoring function over ``(y_true, prediction)`` and how to read it.

    ``uses_proba`` metrics receive the positive-class probability (binary) or one probability column per label
    (multiclass) instead of the predicted label. ``greater_is_better`` orients every comparison, so error metrics
    such as rmse work in the gate unchanged. ``averages`` lists the averaging modes the metric accepts (empty:
    it takes none). ``average`` and ``labels`` are set by :func:`metric_for` for one model; left ``None`` the
    metric is scikit-learn's function with its defaults.
    """

    name: str
    task: Literal["classification", "regression"]
    greater_is_better: bool
    uses_proba: bool
    fn: Callable[..., float]
    averages: tuple[str, ...] = ()
    average: str | None = None
    labels: tuple | None = None

    def score(self, y_true: np.ndarray, prediction: np.ndarray) -> float:
        """The metric value of ``prediction`` against ``y_true``."""
        if self.average is None and self.labels is None:
            return float(self.fn(y_true, prediction))
        return float(self.fn(y_true, prediction, average=self.average, labels=self.labels))

    def gain(self, new: float, old: float) -> float:
        """How much better ``new`` is than ``old``, positive when better whatever the metric's direction."""
        return new - old if self.greater_is_better else old - new

    def below_floor(self, value: float, floor: float) -> bool:
        """Whether ``value`` is worse than ``floor`` (above it, for error metrics)."""
        return value < floor if self.greater_is_better else value > floor

    @property
    def positive_label(self) -> Any:
        """The positive class of a binary metric: the greater label, as in scikit-learn's ``classes_``."""
        if self.labels is None or len(self.labels) != 2:
            raise ValueError(f"{self.name} has no positive class: it is not configured for two labels")
        return self.labels[-1]

    def configured(self, labels: Sequence, average: str | None = None) -> Metric:
        """This metric for a model whose target takes ``labels``, averaged by ``average``.

        ``average`` defaults to ``binary`` for two labels and ``macro`` otherwise (metrics that take no average
        ignore it). Raises :class:`ValueError`, naming the spec field to change, for a combination that cannot
        be scored.
        """
        ordered = sort_labels(labels)
        if not self.averages:
            if average is not None:
                raise ValueError(f"{self.name} takes no average; remove average")
            return replace(self, labels=ordered) if self.task == "classification" else self
        resolved = average or ("binary" if len(ordered) == 2 else "macro")
        check_average(self, resolved, len(ordered))
        return replace(self, average=resolved, labels=ordered)


def check_average(metric: Metric, average: str, n_labels: int | None) -> None:
    """Refuse an average ``metric`` cannot use for ``n_labels`` classes (None: not known yet), saying how to fix it."""
    if average not in metric.averages:
        why = "; for more than two classes it is one-vs-rest, defined for macro and weighted"
        raise ValueError(
            f"average {average!r} does not apply to {metric.name}; use one of {', '.join(metric.averages)}"
            + (why if metric.name == "roc_auc" else "")
        )
    if n_labels is not None and n_labels > 2 and average == "binary":
        others = [a for a in metric.averages if a != "binary"]
        raise ValueError(
            f"average 'binary' needs a target with two classes, but the target has {n_labels}; use one of "
            f"{', '.join(others)} (or leave average out: macro is the default for more than two classes)"
        )
    if n_labels is not None and n_labels < 2:
        raise ValueError(f"{metric.name} needs at least two target classes, the target has {n_labels}")


def _label_metric(fn: Callable[..., float]) -> Callable[..., float]:
    """f1, precision or recall with an average; labels fix the positive class (binary) or the classes averaged."""

    def score(y_true, prediction, average=None, labels=None) -> float:
        kwargs: dict[str, Any] = {"average": average or "binary", "zero_division": 0.0}
        if labels is not None and kwargs["average"] == "binary":
            kwargs["pos_label"] = labels[-1]
        elif labels is not None:
            # Only the classes present in the labels or the predictions are averaged (scikit-learn's own rule);
            # counting a class absent from both would score it 0 and punish a holdout for being small.
            present = set(np.unique(y_true)) | set(np.unique(prediction))
            kwargs["labels"] = [label for label in labels if label in present]
        return fn(y_true, prediction, **kwargs)

    return score


def _roc_auc(y_true, prediction, average=None, labels=None) -> float:
    """ROC AUC: binary on the positive-class probability, else one-vs-rest over the label-ordered columns.

    The one-vs-rest average is over the classes present in ``y_true`` (a class absent from the holdout has no
    AUC); ``weighted`` weights each by its prevalence. With every class present this is scikit-learn's
    ``roc_auc_score(multi_class="ovr")``.
    """
    prediction = np.asarray(prediction)
    if labels is None or prediction.ndim == 1:
        if labels is None:
            return skm.roc_auc_score(y_true, prediction)
        return skm.roc_auc_score(np.asarray(y_true) == labels[-1], prediction)
    y_true = np.asarray(y_true)
    scores, weights = [], []
    for column, label in enumerate(labels):
        positives = int(np.sum(y_true == label))
        if 0 < positives < len(y_true):
            scores.append(skm.roc_auc_score(y_true == label, prediction[:, column]))
            weights.append(positives)
    if not scores:
        raise ValueError("Only one class present in y_true. ROC AUC score is not defined in that case.")
    return float(np.average(scores, weights=weights if average == "weighted" else None))


def _log_loss(y_true, prediction, average=None, labels=None) -> float:
    del average  # log loss is not averaged over classes
    return skm.log_loss(y_true, prediction, labels=None if labels is None else list(labels))


def _plain(fn: Callable[..., float]) -> Callable[..., float]:
    """A metric that neither averages nor needs the labels (accuracy, balanced accuracy)."""

    def score(y_true, prediction, average=None, labels=None) -> float:
        del average, labels
        return fn(y_true, prediction)

    return score


def _rmse(y: np.ndarray, p: np.ndarray) -> float:
    return skm.root_mean_squared_error(y, p)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("accuracy", "classification", True, False, _plain(skm.accuracy_score)),
        Metric("balanced_accuracy", "classification", True, False, _plain(skm.balanced_accuracy_score)),
        Metric("f1", "classification", True, False, _label_metric(skm.f1_score), LABEL_AVERAGES),
        Metric("precision", "classification", True, False, _label_metric(skm.precision_score), LABEL_AVERAGES),
        Metric("recall", "classification", True, False, _label_metric(skm.recall_score), LABEL_AVERAGES),
        Metric("roc_auc", "classification", True, True, _roc_auc, ROC_AUC_AVERAGES),
        Metric("log_loss", "classification", False, True, _log_loss),
        Metric("rmse", "regression", False, False, _rmse),
        Metric("mae", "regression", False, False, skm.mean_absolute_error),
        Metric("r2", "regression", True, False, skm.r2_score),
        Metric("mape", "regression", False, False, skm.mean_absolute_percentage_error),
    ]
}


def known_labels(*models: object, y: Iterable = ()) -> tuple:
    """Every class the models were trained on (``classes_``) or ``y`` holds, in scikit-learn's order."""
    found: list = list(y)
    for model in models:
        found.extend(getattr(model, "classes_", ()))
    return sort_labels(found)


def metric_for(spec: ModelSpec, *models: object, y: Iterable = ()) -> Metric:
    """The spec's primary metric, configured for its target (averaging and one label order).

    The labels are the target's ``categories`` when the spec lists them (fixed, so every model of the spec is
    scored alike), else every class ``models`` know or ``y`` holds: pass all models that will be compared and
    the labels they are scored on. Regression metrics are returned as they are.
    """
    metric = METRICS[spec.metric.name]
    if metric.task != "classification":
        return metric
    categories = spec.target.categories
    labels = sort_labels(categories) if categories is not None else known_labels(*models, y=y)
    try:
        return metric.configured(labels, spec.metric.average)
    except ValueError as err:
        seen = (
            ""
            if categories is not None
            else f" (classes seen in the data: {list(labels)}; list them as target.categories to have this "
            "checked when the spec is validated)"
        )
        raise ValueError(f"metric: {err}{seen}") from None


def predict_for(metric: Metric, model, features) -> np.ndarray:
    """What ``metric`` scores: positive-class probabilities for probability metrics, else predictions.

    With the metric's labels set, probabilities are laid out in that label order, whatever classes the model was
    trained on: a class the model never saw gets probability 0, so a candidate and a champion trained on
    different windows are scored on the same columns. A model that predicts a class outside the labels is an
    error (its target held a value the spec does not allow).
    """
    if not metric.uses_proba:
        return np.asarray(model.predict(features))
    proba = np.asarray(model.predict_proba(features))
    if metric.labels is None:
        return proba[:, 1] if proba.shape[1] == 2 else proba
    classes = sort_labels(model.classes_)
    unknown = [c for c in classes if c not in metric.labels]
    if unknown:
        raise ValueError(
            f"the model was trained on classes {unknown} outside the metric's labels {list(metric.labels)}; "
            "add them to target.categories"
        )
    return align_probabilities(proba, model.classes_, metric.labels)
