"""How a candidate is written to MLflow so that plain MLflow can use it as well as the platform.

Each registered version carries two flavors over one skops file:

- ``sklearn`` (skops), which the platform loads through its own trust policy
  (:func:`~retrain_platform.registry.trusted_artifacts.load_sklearn_model`);
- ``python_function`` whose loader is a copy of :mod:`retrain_platform.spec.model_contract` shipped in the model's
  ``code/`` folder, reading the model's ``retrain/contract.json``. ``mlflow.pyfunc.load_model`` and
  ``mlflow models serve`` then take a day's frame as it lands (the signature follows the spec's types) and answer
  what ``retrain serve`` answers: probabilities for a classifier, not hard labels.

Why not ``mlflow.sklearn``'s own pyfunc (``pyfunc_predict_fn="predict_proba"``): its signature is inferred from
the converted training frame (nullable ints as doubles, which refuses a landed frame's int64), it answers every
class column for a binary model, and it cannot encode the categories of a ``preprocessing: none`` model. And not
``mlflow.pyfunc.PythonModel``: that is cloudpickled, which the platform refuses to load.
"""

from __future__ import annotations

import inspect
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from retrain_platform.spec import model_contract
from retrain_platform.spec.estimator import input_contract, output_labels
from retrain_platform.spec.model_spec import ModelSpec

# The loader's module name inside a model: distinctive, because MLflow puts the model's code/ folder on sys.path.
LOADER_MODULE = "retrain_platform_model"
DATA_DIR = "retrain"
SKOPS_FILE = "model.skops"  # mlflow.sklearn's name for a skops-serialized model


def nullable(spec: ModelSpec, name: str) -> bool:
    """Whether a day's frame may hold nulls in feature ``name`` (tolerated, warned about, or mapped from unknown)."""
    column = spec.features[name]
    return (
        column.max_null_fraction > 0
        or spec.excess_nulls_policy(name) == "warn"
        or (column.categories is not None and spec.unknown_category_policy(name) == "map_to_unknown")
    )


def model_signature(spec: ModelSpec, labels: tuple | None):
    """The MLflow signature of a model of ``spec``, typed as a landed day's frame is.

    An ``int`` feature that may be null is declared ``any``: a day without nulls arrives as int64, which MLflow's
    ``double`` refuses, and one with nulls as float64, which its ``long`` refuses; the loader checks the values.
    """
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, Schema

    types = {"float": "double", "int": "long", "bool": "boolean", "category": "string", "string": "string"}
    inputs = []
    for name, column in spec.features.items():
        kind = types[column.type]
        if column.type == "int" and nullable(spec, name):
            kind = AnyType()
        inputs.append(ColSpec(kind, name))
    if labels is not None and len(labels) > 2:
        outputs = Schema([ColSpec("double", str(label)) for label in labels])
    else:
        outputs = Schema([ColSpec("double")])
    return ModelSignature(inputs=Schema(inputs), outputs=outputs)


def contract(spec: ModelSpec, estimator: Any, trusted: list[str]) -> dict:
    """The contract stored beside a model of ``spec`` (see :mod:`retrain_platform.spec.model_contract`)."""
    labels = output_labels(spec, estimator)
    return {
        "format": model_contract.CONTRACT_FORMAT,
        "model": spec.name,
        "task": spec.task,
        **input_contract(spec),
        "labels": None if labels is None else list(labels),
        "model_file": SKOPS_FILE,
        "trusted_types": list(trusted),
    }


def landed_example(frame, spec: ModelSpec):
    """The first rows of a validated frame's features with the dtypes a landed file has (no pandas NA types)."""
    import pandas as pd

    head = frame[list(spec.features)].head(5)
    out = {}
    for name in head.columns:
        column = head[name]
        if column.hasnans:
            out[name] = column.astype(object).where(column.notna(), None)
        elif isinstance(column.dtype, pd.api.extensions.ExtensionDtype):
            out[name] = column.astype(column.dtype.numpy_dtype if hasattr(column.dtype, "numpy_dtype") else object)
        else:
            out[name] = column
    return pd.DataFrame(out)


def save_model(path: str, mlflow_model, sk_model: Any, contract: dict, **sklearn_kwargs) -> None:
    """MLflow's flavor hook (``Model.log(flavor=this module)``): the sklearn model plus the contract's pyfunc."""
    import mlflow.sklearn
    from mlflow.pyfunc import FLAVOR_NAME

    with tempfile.TemporaryDirectory() as tmp:
        loader = Path(tmp) / f"{LOADER_MODULE}.py"
        loader.write_text(inspect.getsource(model_contract))
        mlflow.sklearn.save_model(sk_model, path, mlflow_model=mlflow_model, code_paths=[str(loader)], **sklearn_kwargs)
    data = Path(path) / DATA_DIR
    data.mkdir()
    (data / model_contract.CONTRACT_FILE).write_text(json.dumps(contract, indent=2, default=str))
    pyfunc = mlflow_model.flavors[FLAVOR_NAME]
    pyfunc.pop("predict_fn", None)
    pyfunc.update(loader_module=LOADER_MODULE, data=DATA_DIR)
    mlflow_model.save(str(Path(path) / "MLmodel"))


def this_module():
    """This module, as the ``flavor`` argument of ``mlflow.models.Model.log``."""
    return sys.modules[__name__]
