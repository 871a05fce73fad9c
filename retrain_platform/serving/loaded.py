"""A champion ready to answer: one immutable object per loaded version, swapped whole when the alias moves.

The output contract is the platform's (the same as its MLflow pyfunc wrapper): the positive-class probability for
a binary classifier (the greater label is positive, as in scikit-learn's ``classes_``), one probability per class
label for a multiclass one (laid out in the spec's ``target.categories`` when listed, a class the model never saw
getting 0, as the gate scores it), the predicted value for a regressor.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sklearn

from retrain_platform.registry import VersionInfo
from retrain_platform.spec.estimator import model_input, output_labels, synthetic_frame
from retrain_platform.spec.model_contract import align_probabilities, sort_labels
from retrain_platform.spec.model_spec import ModelSpec


@dataclass(frozen=True)
class LoadedModel:
    """One registered version of a model, loaded and warmed up; never mutated after construction."""

    spec: ModelSpec
    info: VersionInfo
    estimator: Any
    labels: tuple | None  # class labels of a classifier's output, None for a regressor
    loaded_at: dt.datetime

    @property
    def version(self) -> str:
        """The registered version number (as MLflow spells it)."""
        return self.info.version

    @property
    def kind(self) -> str:
        """``binary``, ``multiclass`` or ``regression``: the shape of :meth:`predict`'s answer."""
        if self.labels is None:
            return "regression"
        return "binary" if len(self.labels) == 2 else "multiclass"

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Answers for a typed feature frame: 1-D (binary, regression) or one column per label (multiclass)."""
        features = model_input(frame, self.spec)
        # The request checker has already refused inf and NaN where a value is required: skipping scikit-learn's
        # own finiteness scan is a measurable part of a one-row prediction.
        with sklearn.config_context(assume_finite=True):
            if self.labels is None:
                return np.asarray(self.estimator.predict(features), dtype="float64")
            proba = np.asarray(self.estimator.predict_proba(features), dtype="float64")
        return align_probabilities(proba, self.estimator.classes_, self.labels)

    def answers(self, values: np.ndarray) -> list:
        """JSON-ready answers: floats, or ``{label: probability}`` per row for a multiclass model."""
        if values.ndim == 1:
            return values.tolist()
        keys = [str(label) for label in self.labels]
        return [dict(zip(keys, row, strict=True)) for row in values.tolist()]


def prepare(spec: ModelSpec, info: VersionInfo, estimator: Any) -> LoadedModel:
    """Wrap a loaded estimator and make it answer once on synthetic rows shaped like the spec.

    Done before the model is published, off the request path: an artifact that loads but cannot predict (a class
    outside the spec, a missing step) fails here and the previous champion keeps serving; the first real request
    also does not pay scikit-learn's lazy first-call costs.
    """
    labels = output_labels(spec, estimator)
    if labels is not None:
        outside = [c for c in sort_labels(estimator.classes_) if c not in labels]
        if outside:
            raise ValueError(
                f"{spec.name} v{info.version} predicts classes {outside} outside target.categories {list(labels)}; "
                "add them to the spec or retrain"
            )
    model = LoadedModel(spec, info, estimator, labels, dt.datetime.now(dt.UTC))
    probe = synthetic_frame(spec)[list(spec.features)]
    values = model.predict(probe)
    expected = (len(probe),) if model.kind != "multiclass" else (len(probe), len(model.labels))
    if values.shape != expected:
        raise ValueError(
            f"{spec.name} v{info.version} answered shape {values.shape} for {len(probe)} rows, expected {expected}"
        )
    return model
