"""What a model of a spec takes and what it answers, in a file that needs only NumPy, pandas and skops.

Self-contained on purpose: the registry ships a copy of this file inside every registered model as its MLflow
``python_function`` loader (:func:`_load_pyfunc`), so ``mlflow.pyfunc.load_model("models:/NAME@champion")`` and
``mlflow models serve`` work in an environment where retrain_platform is not installed, and give the same answers
as the platform (the platform's own :func:`retrain_platform.spec.estimator.model_input` is this module's
:func:`to_model_input`). Nothing here may import retrain_platform.

A *contract* is the JSON-ready dict the registry stores beside the model (``contract.json``)::

    {"format": 1, "task": "classification" | "regression",
     "features": [{"name": ..., "type": "int" | "float" | "bool" | "category" | "string", "categories": [...] | null}],
     "native_categories": bool,      # preprocessing: none, the estimator reads pandas category columns itself
     "labels": [...] | null,         # a classifier's answer columns, in order; null for a regressor
     "model_file": "model.skops",    # relative to the model's folder
     "trusted_types": [...]}         # what skops is told to trust, as the platform checked it when logging
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

CONTRACT_FORMAT = 1
CONTRACT_FILE = "contract.json"
# Feature types whose values are labels, not numbers: one-hot encoded, or categories for a native estimator.
LABEL_TYPES = frozenset({"category", "string"})
NUMERIC_TYPES = frozenset({"int", "float"})


def to_model_input(frame: pd.DataFrame, contract: dict) -> pd.DataFrame:
    """The contract's features of ``frame`` as the model was trained to receive them.

    Validated frames carry pandas' nullable dtypes (``Int64``, ``boolean``, ``string``) whose ``pd.NA``
    scikit-learn's imputers reject: they become NumPy dtypes with ``np.nan``. Label columns of a model with native
    categorical support become pandas ``category`` columns with the listed categories, so every frame encodes a
    value the same way. A frame from outside the platform (a landed file, a JSON request) may carry a numeric
    column as text; it is parsed, and a value that is not a number is an error naming the column.
    """
    features = contract["features"]
    names = [f["name"] for f in features]
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise ValueError(f"the input has no column(s) {missing}; the model needs {names}")
    selected = frame[names]
    converted = {}
    for feature in features:
        name, kind = feature["name"], feature["type"]
        column = selected[name]
        if kind in LABEL_TYPES and contract.get("native_categories"):
            values = column.astype(object).where(column.notna(), np.nan)
            converted[name] = pd.Series(
                pd.Categorical(values, categories=feature.get("categories")), index=selected.index, name=name
            )
        elif kind in NUMERIC_TYPES and column.dtype == object:
            try:
                converted[name] = pd.to_numeric(column).astype("float64")
            except (ValueError, TypeError) as err:
                raise ValueError(f"column {name!r} must be numeric ({kind}): {err}") from None
        elif isinstance(column.dtype, pd.api.extensions.ExtensionDtype) and not isinstance(
            column.dtype, pd.CategoricalDtype
        ):
            if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
                converted[name] = column.astype("float64")
            else:
                converted[name] = column.astype(object).where(column.notna(), np.nan)
    return selected.assign(**converted) if converted else selected


def sort_labels(labels: Iterable) -> tuple:
    """Distinct labels in scikit-learn's order (sorted, as ``classes_`` is), NumPy scalars made plain."""
    distinct = {v.item() if isinstance(v, np.generic) else v: None for v in labels}
    try:
        return tuple(sorted(distinct))
    except TypeError:  # mixed types cannot be ordered; keep first-seen order, which is still one fixed order
        return tuple(distinct)


def align_probabilities(proba: np.ndarray, classes, labels) -> np.ndarray:
    """Probabilities whose columns follow ``classes`` laid out in ``labels`` order (a missing class gets 0).

    A 1-D ``proba`` is the positive-class column of two classes. Two labels give the positive-class column back.
    """
    proba = np.column_stack([1 - proba, proba]) if np.ndim(proba) == 1 else proba
    columns = {c.item() if isinstance(c, np.generic) else c: i for i, c in enumerate(classes)}
    aligned = np.zeros((proba.shape[0], len(labels)))
    for j, label in enumerate(labels):
        if label in columns:
            aligned[:, j] = proba[:, columns[label]]
    return aligned[:, 1] if len(labels) == 2 else aligned


class ContractModel:
    """A fitted estimator behind its contract: the object MLflow's pyfunc wraps.

    :meth:`predict` answers a regressor's predictions; for a classifier, the probability of the second label
    (the positive class) when there are two, else a frame with one probability column per label.
    """

    def __init__(self, estimator: Any, contract: dict):
        self.estimator = estimator
        self.contract = contract

    def predict(self, model_input: Any, params: dict | None = None) -> np.ndarray | pd.DataFrame:
        """Answers for ``model_input`` (a DataFrame, or records / columns that make one)."""
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        features = to_model_input(frame, self.contract)
        labels = self.contract.get("labels")
        if labels is None:
            return np.asarray(self.estimator.predict(features), dtype="float64")
        proba = np.asarray(self.estimator.predict_proba(features), dtype="float64")
        aligned = align_probabilities(proba, self.estimator.classes_, labels)
        if aligned.ndim == 1:
            return aligned
        return pd.DataFrame(aligned, columns=[str(label) for label in labels], index=frame.index)


def _load_pyfunc(data_path: str) -> ContractModel:
    """MLflow's entry point: ``data_path`` is the model's folder of platform files (the one holding the contract)."""
    import skops.io

    with open(os.path.join(data_path, CONTRACT_FILE)) as handle:
        contract = json.load(handle)
    if contract.get("format") != CONTRACT_FORMAT:
        raise ValueError(f"{data_path}: model contract format {contract.get('format')!r}, expected {CONTRACT_FORMAT}")
    model_dir = os.path.dirname(os.path.abspath(data_path))
    model_file = os.path.abspath(os.path.join(model_dir, contract["model_file"]))
    # The contract names the file; it must not lead out of the model's folder.
    if os.path.commonpath([model_file, model_dir]) != model_dir:
        raise ValueError(f"{data_path}: the contract's model_file {contract['model_file']!r} is outside the model")
    estimator = skops.io.load(model_file, trusted=contract.get("trusted_types") or [])
    return ContractModel(estimator, contract)
