"""Building the scikit-learn estimator a spec describes.

Estimators are named by import path so a user can bring any scikit-learn compatible class without touching the
package. Preprocessing is a ``ColumnTransformer`` derived from the spec's column types when ``auto``.
"""

from __future__ import annotations

import importlib
import inspect

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from retrain_platform.spec.model_spec import EstimatorSpec, ModelSpec


class EstimatorError(ValueError):
    """An estimator spec that cannot be instantiated; the message names the field and the fix."""


def _instantiate(spec: EstimatorSpec, where: str) -> BaseEstimator:
    module_name, _, class_name = spec.class_.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise EstimatorError(
            f"{where}.class: cannot import module {module_name!r}; check the spelling or install the package"
        ) from None
    cls = getattr(module, class_name, None)
    if cls is None:
        close = [n for n in dir(module) if n.lower() == class_name.lower()]
        hint = f" (did you mean {module_name}.{close[0]}?)" if close else ""
        raise EstimatorError(f"{where}.class: {module_name!r} has no {class_name!r}{hint}")
    if not (isinstance(cls, type) and hasattr(cls, "fit") and hasattr(cls, "get_params")):
        raise EstimatorError(f"{where}.class: {spec.class_!r} is not a scikit-learn estimator (no fit/get_params)")
    try:
        estimator = cls(**spec.params)
    except TypeError as err:
        params = inspect.signature(cls).parameters.values()
        valid = sorted(p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
        raise EstimatorError(f"{where}.params: {err}; valid parameters: {', '.join(valid)}") from None
    validate = getattr(estimator, "_validate_params", None)
    if validate is not None:
        # scikit-learn only validates parameter values at fit time; doing it now reports a bad spec at load time.
        try:
            validate()
        except (ValueError, TypeError) as err:
            raise EstimatorError(f"{where}.params: {err}") from None
    return estimator


def _auto_preprocessor(spec: ModelSpec) -> ColumnTransformer:
    numeric = [n for n, c in spec.features.items() if c.drift_kind == "numerical"]
    categorical = [n for n, c in spec.features.items() if c.drift_kind == "categorical"]
    transformers = []
    if numeric:
        transformers.append(("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric))
    if categorical:
        transformers.append(
            (
                "categorical",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                categorical,
            )
        )
    return ColumnTransformer(transformers, remainder="drop")


def model_input(frame: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    """The features of a validated frame as every model receives them, in training, monitoring and the gate.

    Validation types columns with pandas' nullable dtypes (``boolean``, ``Int64``, ``string``), whose missing
    value ``pd.NA`` scikit-learn's imputers reject; here they become plain NumPy dtypes with ``np.nan``. Done on
    the data rather than inside the pipeline so the saved model holds only scikit-learn types (skops-safe).
    """
    features = frame[list(spec.features)]
    converted = {}
    for name, column in features.items():
        if isinstance(column.dtype, pd.api.extensions.ExtensionDtype) and not isinstance(
            column.dtype, pd.CategoricalDtype
        ):
            if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
                converted[name] = column.astype("float64")
            else:
                converted[name] = column.astype(object).where(column.notna(), np.nan)
    return features.assign(**converted) if converted else features


def build_estimator(spec: ModelSpec) -> Pipeline | BaseEstimator:
    """Return an unfitted estimator (a pipeline when preprocessing applies) for ``spec``.

    An estimator that takes a ``random_state`` and was not given one gets ``training.random_state``, so a
    candidate trained twice on the same window is the same model (and the gate's decision reproducible).
    """
    estimator = _instantiate(spec.model.estimator, "model.estimator")
    if "random_state" in estimator.get_params() and "random_state" not in spec.model.estimator.params:
        estimator.set_params(random_state=spec.training.random_state)
    preprocessing = spec.model.preprocessing
    if preprocessing == "none":
        return estimator
    if preprocessing == "auto":
        steps = [("preprocess", _auto_preprocessor(spec))]
    else:
        steps = [(f"step_{i}", _instantiate(step, f"model.preprocessing[{i}]")) for i, step in enumerate(preprocessing)]
    return Pipeline([*steps, ("estimator", estimator)])
