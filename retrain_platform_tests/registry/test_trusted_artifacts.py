"""The platform's skops trust policy and its loader, against a real MLflow store and real skops files.

Models are logged with the real ``mlflow.sklearn.log_model`` into a SQLite store in the test's folder; tampered
artifacts are written in skops' own format (a zip with ``schema.json``) into that store, the way an attacker with
write access to the artifact store would.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
import skops.io
import yaml
from mlflow import MlflowClient
from mlflow.tracking._model_registry import utils as registry_utils
from mlflow.tracking._tracking_service import utils as tracking_utils
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from retrain_platform.registry.trusted_artifacts import (
    UntrustedModelError,
    allowed_type,
    load_sklearn_model,
    untrusted_types_in,
)
from retrain_platform_tests.registry.tampering import plant_payload, rewrite_schema, trust_in_mlmodel

FEATURES = ["income", "debt_ratio", "plan"]


class DoublingTransformer(TransformerMixin, BaseEstimator):
    """A user's own transformer: not part of the platform's policy."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X * 2


def halve(X):
    """A user's own function, as FunctionTransformer would hold it."""
    return X / 2


@contextlib.contextmanager
def fluent_uri(uri: str):
    """Point MLflow's process-wide URIs at ``uri`` for the block (``log_model`` only works through them).

    Restored exactly afterwards, unset included (``set_*_uri`` also export environment variables), so the
    rest of the suite sees the state it had.
    """
    env = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    saved = tracking_utils._tracking_uri, registry_utils._registry_uri, {name: os.environ.get(name) for name in env}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        tracking_utils._tracking_uri, registry_utils._registry_uri, variables = saved
        for name, value in variables.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def frame(rows: int = 400, seed: int = 0) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "income": rng.lognormal(10, 0.5, rows),
            "debt_ratio": rng.uniform(0, 3, rows),
            "plan": rng.choice(["basic", "standard", "premium"], rows).astype(object),
        }
    )
    X.loc[X.index % 13 == 0, "debt_ratio"] = np.nan
    score = np.log(X["income"]) - 10 - X["debt_ratio"].fillna(1) + (X["plan"] == "premium")
    return X, (score + rng.normal(0, 0.5, rows) > -1).astype(int), score


def logistic_pipeline(X, y) -> Pipeline:
    preprocess = ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), ["income", "debt_ratio"]),
            (
                "categorical",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                ["plan"],
            ),
        ]
    )
    return Pipeline([("preprocess", preprocess), ("estimator", LogisticRegression(max_iter=500))]).fit(X, y)


def hist_gradient_boosting(X, y) -> HistGradientBoostingClassifier:
    # A pandas category column makes HGB build its own categorical preprocessor (functools.partial, check_array).
    return HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X.astype({"plan": "category"}), y)


def random_forest(X, score) -> RandomForestRegressor:
    return RandomForestRegressor(n_estimators=10, max_depth=6, random_state=0).fit(X[["income", "debt_ratio"]], score)


TYPICAL = {
    "logistic_pipeline": (lambda X, y, score: logistic_pipeline(X, y), lambda X: X),
    "hist_gradient_boosting": (
        lambda X, y, score: hist_gradient_boosting(X, y),
        lambda X: X.astype({"plan": "category"}),
    ),
    "random_forest": (lambda X, y, score: random_forest(X, score), lambda X: X[["income", "debt_ratio"]]),
}


class Store:
    """A real MLflow tracking store and registry in a folder."""

    def __init__(self, root: Path):
        self.uri = f"sqlite:///{root / 'mlflow.db'}"
        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        self.experiment_id = self.client.create_experiment("trusted", artifact_location=(root / "artifacts").as_uri())

    def log(self, estimator, *, serialization_format: str = "skops", register: str | None = None):
        """Log ``estimator`` like the platform does; returns the ModelInfo and its run id."""
        trusted = untrusted_types_in(estimator) if serialization_format == "skops" else None
        with fluent_uri(self.uri), mlflow.start_run(experiment_id=self.experiment_id) as run:
            info = mlflow.sklearn.log_model(
                estimator,
                name="model",
                serialization_format=serialization_format,
                skops_trusted_types=trusted,
                # Inferring requirements re-imports the model in a subprocess; they do not matter here.
                pip_requirements=["scikit-learn"],
            )
        if register:
            # MLflow 3.17's create_model_version looks the logged model up through the process-wide URI.
            with fluent_uri(self.uri):
                self.client.create_registered_model(register)
                version = self.client.create_model_version(register, info.model_uri, run_id=run.info.run_id).version
            self.client.set_registered_model_alias(register, "champion", version)
        return info, run.info.run_id

    def model_dir(self, info) -> Path:
        """The logged model's folder inside the store: where an attacker with store access would write."""
        return Path(urlparse(self.client.get_logged_model(info.model_id).artifact_location).path)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    # One store for the module (creating the SQLite schema takes seconds); each test logs its own model.
    return Store(tmp_path_factory.mktemp("store"))


@pytest.fixture
def decoy_uri(tmp_path) -> str:
    """Another, empty, store for MLflow's process-wide URIs: loading must not depend on them."""
    return f"sqlite:///{tmp_path / 'decoy.db'}"


def predictions(model, X) -> np.ndarray:
    return model.predict_proba(X) if hasattr(model, "predict_proba") else model.predict(X)


# --- (a) the typical models round-trip ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(TYPICAL))
def test_typical_models_round_trip_and_predict_identically(store, decoy_uri, kind):
    X, y, score = frame()
    build, features = TYPICAL[kind]
    original = build(X, y, score)
    info, _ = store.log(original)

    with fluent_uri(decoy_uri):
        loaded = load_sklearn_model(info.model_uri, store.uri)
        assert mlflow.get_tracking_uri() == decoy_uri  # nothing global was changed

    assert type(loaded) is type(original)
    X_new, _, _ = frame(rows=200, seed=1)
    np.testing.assert_array_equal(predictions(loaded, features(X_new)), predictions(original, features(X_new)))


def test_registry_and_run_uris_resolve_through_the_given_store(store, decoy_uri):
    X, y, _ = frame()
    original = logistic_pipeline(X, y)
    info, run_id = store.log(original, register="credit")

    uris = ["models:/credit/1", "models:/credit@champion", "models:/credit/latest", f"runs:/{run_id}/model"]
    with fluent_uri(decoy_uri):
        for uri in [*uris, str(store.model_dir(info))]:
            loaded = load_sklearn_model(uri, store.uri)
            np.testing.assert_array_equal(loaded.predict_proba(X), original.predict_proba(X))


# --- (b) a tampered artifact --------------------------------------------------------------------------------


def test_tampered_artifact_that_runs_a_command_is_refused(store, tmp_path, monkeypatch):
    X, y, _ = frame()
    info, _ = store.log(logistic_pipeline(X, y))
    model_dir = store.model_dir(info)
    marker = tmp_path / "pwned"
    system_name = f"{os.system.__module__}.system"
    rewrite_schema(model_dir / "model.skops", lambda schema: plant_payload(schema, f"touch {shlex.quote(str(marker))}"))
    trust_in_mlmodel(model_dir, system_name)

    # The crafted artifact is live: MLflow's loader trusts the list in the MLmodel and runs the command.
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    mlflow.sklearn.load_model(str(model_dir))
    assert marker.exists()
    marker.unlink()

    with pytest.raises(UntrustedModelError) as refused:
        load_sklearn_model(info.model_uri, store.uri)
    message = str(refused.value)
    assert info.model_uri in message
    assert system_name in message
    assert "re-train the model with the platform" in message.lower()
    assert "tampered" in message
    assert not marker.exists()


def test_tampered_tree_is_refused_before_predict(store):
    X, y, score = frame()
    forest = random_forest(X, score)
    info, _ = store.log(forest)
    # Loaded as the trusted original, a child index moved out of the tree, dumped back in skops' format.
    tree = forest.estimators_[0].tree_
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    nodes["left_child"][0] = 10**6
    tree.__setstate__({**state, "nodes": nodes})
    skops.io.dump(forest, store.model_dir(info) / "model.skops")

    with pytest.raises(UntrustedModelError, match="tree children point outside the tree"):
        load_sklearn_model(info.model_uri, store.uri)


def test_tampered_hist_gradient_boosting_predictor_is_refused(store):
    X, y, _ = frame()
    model = hist_gradient_boosting(X, y)
    info, _ = store.log(model)
    predictor = model._predictors[0][0]
    nodes = predictor.nodes.copy()
    inner = np.flatnonzero(~nodes["is_leaf"].astype(bool))[0]
    nodes["feature_idx"][inner] = 50  # the model has 3 features
    predictor.nodes = nodes
    skops.io.dump(model, store.model_dir(info) / "model.skops")

    with pytest.raises(UntrustedModelError, match="splits on features the model was not fitted with"):
        load_sklearn_model(info.model_uri, store.uri)


def test_model_file_outside_the_model_folder_is_refused(store, tmp_path):
    X, y, _ = frame()
    info, _ = store.log(logistic_pipeline(X, y))
    mlmodel = store.model_dir(info) / "MLmodel"
    data = yaml.safe_load(mlmodel.read_text())
    data["flavors"]["sklearn"]["pickled_model"] = "../../../../elsewhere.skops"
    mlmodel.write_text(yaml.safe_dump(data))

    with pytest.raises(UntrustedModelError, match="not a file inside the model"):
        load_sklearn_model(info.model_uri, store.uri)


# --- (c) pickle formats -------------------------------------------------------------------------------------


@pytest.mark.parametrize("serialization_format", ["pickle", "cloudpickle"])
def test_pickled_model_is_refused(store, serialization_format):
    X, y, _ = frame()
    info, _ = store.log(logistic_pipeline(X, y), serialization_format=serialization_format)

    with pytest.raises(UntrustedModelError, match=f"serialized as '{serialization_format}'") as refused:
        load_sklearn_model(info.model_uri, store.uri)
    assert info.model_uri in str(refused.value)


# --- (d) the policy -----------------------------------------------------------------------------------------


def test_policy_allows_what_typical_models_hold():
    X, y, score = frame(rows=200)
    held = set()
    for build, _ in TYPICAL.values():
        held.update(untrusted_types_in(build(X, y, score)))
    # Not vacuous: the tree models need types skops does not trust by default.
    assert {"sklearn.tree._tree.Tree", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"} <= held
    for name in sorted(held) + [
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.compose._column_transformer.ColumnTransformer",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._encoders.OneHotEncoder",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss._loss.CyHalfBinomialLoss",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "numpy.ndarray",
        "numpy.dtype",
        "numpy.float64",
        "numpy.dtypes.Float64DType",
        "numpy.random.mtrand.RandomState",
        "numpy.random._generator.Generator",
        "numpy.random.PCG64",
        "numpy.log1p",
        "scipy.special.expit",
        "scipy.sparse._csr.csr_matrix",
        "builtins.dict",
        "collections.OrderedDict",
        "functools.partial",
    ]:
        assert allowed_type(name), name


@pytest.mark.parametrize(
    "name",
    [
        "posix.system",
        "nt.system",
        "os.system",
        "subprocess.Popen",
        "builtins.eval",
        "builtins.exec",
        "builtins.open",
        "builtins.__import__",
        "builtins.compile",
        "builtins.getattr",
        "sys.exit",
        "shutil.rmtree",
        "importlib.import_module",
        "pickle.loads",
        "marshal.loads",
        "socket.socket",
        "operator.attrgetter",
        "functools.reduce",
        "joblib.load",
        "skops.io.loads",
        "numpy.load",
        "numpy.memmap",
        "numpy.fromfile",
        "numpy.lib.format.read_array",
        "numpy.f2py.compile",
        "numpy.testing.assert_equal",
        "numpy.clip",  # a NumPy function that is not a ufunc: not on the list
        "scipy.io.loadmat",
        "scipy.LowLevelCallable",
        "sklearn.datasets.fetch_openml",
        "sklearn.utils._testing.TempMemmap",
        # Names that are not what they look like: os/joblib/itertools functions reachable through sklearn modules.
        "sklearn.datasets._base.makedirs",
        "sklearn.decomposition._lda.effective_n_jobs",
        "sklearn.pipeline.chain",
        # Compiled classes that are not listed: their state goes straight to C.
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        # A method, not a class.
        "sklearn.linear_model._logistic.LogisticRegression.fit",
        # Unknown packages, a custom module, malformed names.
        "xgboost.sklearn.XGBClassifier",
        "pandas.DataFrame",
        "retrain_platform_tests.registry.test_trusted_artifacts.DoublingTransformer",
        "__main__.Payload",
        "sklearn..Pipeline",
        "sklearn",
    ],
)
def test_policy_refuses(name):
    assert not allowed_type(name)


def test_kd_trees_are_refused_with_the_fix():
    X, y, _ = frame(rows=100)
    numeric = X[["income", "debt_ratio"]].fillna(0)
    with pytest.raises(ValueError, match="algorithm='brute'"):
        untrusted_types_in(KNeighborsClassifier(algorithm="kd_tree").fit(numeric, y))
    assert untrusted_types_in(KNeighborsClassifier(algorithm="brute").fit(numeric, y)) == []


# --- (e) custom code is refused at logging time -------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "name"),
    [
        (DoublingTransformer(), f"{__name__}.DoublingTransformer"),
        (FunctionTransformer(halve), f"{__name__}.halve"),
    ],
)
def test_custom_code_is_refused_with_the_fix(step, name):
    X, y, _ = frame(rows=100)
    model = make_pipeline(step, LogisticRegression()).fit(X[["income"]], y)
    with pytest.raises(ValueError) as refused:
        untrusted_types_in(model)
    message = str(refused.value)
    assert name in message
    assert "scikit-learn" in message and "model.estimator" in message and "model.preprocessing" in message
