"""Building the scikit-learn estimator a spec describes.

Estimators are named by import path so a user can bring any scikit-learn compatible class without touching the
package. Preprocessing is a ``ColumnTransformer`` derived from the spec's column types when ``auto``.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from retrain_platform.spec.model_contract import LABEL_TYPES, sort_labels, to_model_input
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


# Column types a numeric-only estimator cannot take as they are: they need an encoder or native categorical support.
ENCODED_TYPES = LABEL_TYPES


def encoded_columns(spec: ModelSpec) -> list[str]:
    """The features whose values are labels, not numbers (``category`` and ``string`` columns)."""
    return [name for name, column in spec.features.items() if column.type in ENCODED_TYPES]


def native_categorical(estimator: BaseEstimator) -> bool:
    """Whether ``estimator`` takes pandas ``category`` columns itself.

    scikit-learn's ``input_tags.categorical`` tag says so for estimators that declare it, but in 1.9
    ``HistGradientBoosting*`` does not set it: their ``categorical_features="from_dtype"`` (the default) is what
    makes them read a ``category`` column's codes as categories, so that parameter counts too.
    """
    try:
        from sklearn.utils import get_tags

        if get_tags(estimator).input_tags.categorical:
            return True
    except Exception:  # a third-party estimator without scikit-learn tags: judge by its parameters alone
        pass
    return estimator.get_params(deep=False).get("categorical_features") == "from_dtype"


def input_contract(spec: ModelSpec) -> dict:
    """The input half of ``spec``'s model contract (see :mod:`retrain_platform.spec.model_contract`)."""
    return {
        "features": [
            {"name": name, "type": column.type, "categories": column.categories}
            for name, column in spec.features.items()
        ],
        "native_categories": spec.model.preprocessing == "none",
    }


def output_labels(spec: ModelSpec, estimator: Any) -> tuple | None:
    """The labels a classifier answers for: the spec's target categories when listed, else the model's classes."""
    if spec.task != "classification":
        return None
    return sort_labels(spec.target.categories if spec.target.categories is not None else estimator.classes_)


def model_input(frame: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    """The features of a validated frame as every model receives them, in training, monitoring and the gate.

    Validation types columns with pandas' nullable dtypes (``boolean``, ``Int64``, ``string``), whose missing
    value ``pd.NA`` scikit-learn's imputers reject; here they become plain NumPy dtypes with ``np.nan``. Done on
    the data rather than inside the pipeline so the saved model holds only scikit-learn types (skops-safe).

    With ``preprocessing: none`` (accepted only for an estimator with native categorical support, see
    :func:`build_estimator`) ``category`` and ``string`` columns become pandas ``category`` columns, with the
    spec's ``categories`` when listed so every partition encodes a value the same way.

    The conversion is :func:`~retrain_platform.spec.model_contract.to_model_input`, the same code every registered
    model carries as its MLflow pyfunc loader, so plain MLflow feeds the model exactly as the platform does.
    """
    return to_model_input(frame, input_contract(spec))


def _refuse_raw_labels(spec: ModelSpec, estimator: BaseEstimator) -> None:
    """``preprocessing: none`` hands label columns to the estimator as they are: only native support copes."""
    labels = encoded_columns(spec)
    if not labels or native_categorical(estimator):
        return
    raise EstimatorError(
        f"model.preprocessing: none hands the label columns {labels} (type category/string) to "
        f"{spec.model.estimator.class_} as they are, and it only accepts numbers (the first fit would fail with "
        '"could not convert string to float"). Use preprocessing: auto (one-hot encodes them), list an encoder '
        "step (e.g. sklearn.preprocessing.OneHotEncoder inside a sklearn.compose.ColumnTransformer), or an "
        "estimator with native categorical support such as sklearn.ensemble.HistGradientBoostingClassifier "
        "(categorical_features: from_dtype, its default)"
    )


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
        _refuse_raw_labels(spec, estimator)
        return estimator
    if preprocessing == "auto":
        steps = [("preprocess", _auto_preprocessor(spec))]
    else:
        steps = [(f"step_{i}", _instantiate(step, f"model.preprocessing[{i}]")) for i, step in enumerate(preprocessing)]
    return Pipeline([*steps, ("estimator", estimator)])


SMOKE_ROWS = 60


def synthetic_frame(spec: ModelSpec, rows: int = SMOKE_ROWS, seed: int = 0) -> pd.DataFrame:
    """``rows`` valid rows shaped like the spec's schema (features and target), typed as validation types them.

    Values respect each column's bounds and categories; columns that tolerate nulls get a few, so a pipeline that
    cannot take missing values is found too. The target cycles through its classes (or two made-up ones), so a
    classifier always sees at least two.
    """
    from retrain_platform.spec.schema import build_schema

    rows = max(rows, spec.partitions.min_rows)
    rng = np.random.default_rng(seed)
    data = {}
    for name, column in spec.columns.items():
        if column.categories is not None:
            values = pd.Series([column.categories[i % len(column.categories)] for i in range(rows)])
        elif column.type in ("float", "int"):
            low = column.min if column.min is not None else (column.max - 10 if column.max is not None else 0.0)
            high = column.max if column.max is not None else low + 10
            values = pd.Series(rng.uniform(low, high, rows))
            if column.type == "int":
                values = values.round().clip(np.ceil(low), np.floor(high)).astype("int64")
        elif column.type == "bool":
            values = pd.Series(np.arange(rows) % 2 == 0)
        elif name == spec.target.name:
            values = pd.Series(["class_a", "class_b"] * (rows // 2) + ["class_a"] * (rows % 2))
        else:
            values = pd.Series([f"value_{i % 3}" for i in range(rows)])
        if column.max_null_fraction > 0 and name != spec.target.name:
            nulls = max(1, int(rows * min(column.max_null_fraction, 0.1)))
            values = values.astype(object)
            values.iloc[rng.choice(rows, nulls, replace=False)] = None
        data[name] = values.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return build_schema(spec).validate(pd.DataFrame(data))[list(spec.columns)]


def smoke_fit(spec: ModelSpec) -> None:
    """Fit the spec's estimator on :func:`synthetic_frame` rows; raise :class:`EstimatorError` if it cannot.

    What an explicit list of preprocessing steps accepts (which columns, which types, missing values) is only
    known by fitting it; this finds a pipeline that would fail at the first training while the user is still
    writing the spec. Used by ``retrain validate-spec``, not when definitions load (it costs a fit per spec).
    """
    estimator = build_estimator(spec)
    frame = synthetic_frame(spec)
    try:
        estimator.fit(model_input(frame, spec), frame[spec.target.name])
        estimator.predict(model_input(frame.head(5), spec))
    except Exception as err:  # whatever the pipeline raises, the user gets it with the spec's context
        message = f"{type(err).__name__}: {err}".strip()[:500]
        raise EstimatorError(
            f"model: the estimator could not be fitted on {SMOKE_ROWS} synthetic rows shaped like this spec's "
            f"columns ({message}). Check that the preprocessing steps turn every feature into numbers (or use "
            "preprocessing: auto); skip this check with validate-spec --no-fit if it is only the synthetic data"
        ) from None
