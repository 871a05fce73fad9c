"""A registered version works in plain MLflow: typed like a landed day, answering what ``retrain serve`` answers.

The champion is trained by the platform itself (land, ingest, retrain); "plain MLflow" is a fresh Python process
whose environment holds only ``MLFLOW_TRACKING_URI`` and in which importing retrain_platform fails, so the model
can only work through what MLflow stored with it.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from retrain_platform.registry.model_flavor import model_signature
from retrain_platform.serving.loaded import prepare
from retrain_platform.spec.estimator import synthetic_frame
from retrain_platform.storage.lake import Lake
from retrain_platform.training.fit import fit_model
from retrain_platform_tests.conftest import START, make_spec
from retrain_platform_tests.serving.processes import free_port, mlflow_serve, post_json
from retrain_platform_tests.serving.served import day_features
from retrain_platform_tests.training.seeded import LAST_SEEDED_DAY, SEEDED_MODEL, copy_seeded_state
from retrain_platform_tests.training.test_candidate import failure_message

# Run in the fresh process: retrain_platform is made unimportable before MLflow loads anything.
PLAIN_MLFLOW = textwrap.dedent(
    """
    import importlib.abc, json, sys

    class NoPlatform(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "retrain_platform" or name.startswith("retrain_platform."):
                raise ImportError(f"plain MLflow has no {name}")

    sys.meta_path.insert(0, NoPlatform())
    import mlflow.pyfunc, pandas as pd

    uri, landed = sys.argv[1], sys.argv[2]
    model = mlflow.pyfunc.load_model(uri)
    frame = pd.read_csv(landed) if landed.endswith(".csv") else pd.read_parquet(landed)
    answer = model.predict(frame)
    schema = {c.name: c.to_dict()["type"] for c in model.metadata.get_input_schema().inputs}
    print(json.dumps({"predictions": [float(v) for v in answer], "schema": schema}))
    """
)


def plain_mlflow_predict(tracking_uri: str, model_uri: str, landed, tmp_path) -> dict:
    env = {"MLFLOW_TRACKING_URI": tracking_uri, "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", PLAIN_MLFLOW, model_uri, str(landed)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_the_champion_predicts_probabilities_on_a_landed_day_with_only_the_tracking_uri(platform, tmp_path):
    platform.land_and_ingest(3)
    run = platform.retrain()
    assert run.success, failure_message(run)
    spec, day = platform.spec, START + dt.timedelta(days=2)
    landed = platform.lake.landing_dir(spec) / f"{day.isoformat()}{spec.landing.suffix}"

    answer = plain_mlflow_predict(platform.registry.tracking_uri, f"models:/{spec.name}@champion", landed, tmp_path)

    champion = platform.registry.champion(spec.name)
    served = prepare(spec, champion, platform.registry.load(champion))
    expected = served.predict(platform.lake.read_features(spec.name, [day.isoformat()]))
    np.testing.assert_allclose(answer["predictions"], expected, rtol=1e-12)
    probabilities = np.asarray(answer["predictions"])
    assert ((probabilities > 0) & (probabilities < 1)).all() and len(np.unique(probabilities)) > 100
    labels = pd.read_csv(landed)[spec.target.name]
    assert roc_auc_score(labels, probabilities) == pytest.approx(roc_auc_score(labels, expected))
    assert answer["schema"] == {
        "income": "double",
        "debt_ratio": "double",
        "age": "long",
        "channel": "string",
        "has_mortgage": "boolean",
    }


def native_spec():
    """Three classes, an estimator reading categories itself, and an int feature that may be null."""
    return make_spec(
        target={"name": "tier", "type": "category", "categories": ["gold", "bronze", "silver"]},
        features={
            "visits": {"type": "int", "min": 0, "max": 50, "max_null_fraction": 0.2},
            "spend": {"type": "float", "min": 0, "max": 500},
            "channel": {"type": "category", "categories": ["web", "branch", "phone"]},
            "member": {"type": "bool"},
        },
        model={
            "estimator": {"class": "sklearn.ensemble.HistGradientBoostingClassifier", "params": {"max_iter": 20}},
            "preprocessing": "none",
        },
        metric={"name": "roc_auc", "average": "macro"},
    )


@pytest.fixture
def logged(tmp_path, platform_factory):
    """A version of :func:`native_spec` logged by the registry, and the rows it was fit on."""
    platform = platform_factory(native_spec())
    frame = synthetic_frame(platform.spec, rows=200)
    estimator = fit_model(platform.spec, frame)
    info = platform.registry.log_candidate(platform.spec, estimator, params={}, metrics={}, tags={}, example=frame)
    mlflow.set_tracking_uri(platform.registry.tracking_uri)
    return platform, info, frame


@pytest.mark.parametrize("with_nulls", [True, False], ids=["a day with nulls", "a day without"])
def test_multiclass_native_categories_and_nullable_ints_answer_like_retrain_serve(logged, tmp_path, with_nulls):
    platform, info, frame = logged
    if not with_nulls:
        frame = frame[frame["visits"].notna()]
    landed = tmp_path / "day.csv"
    frame.to_csv(landed, index=False)
    day = pd.read_csv(landed)
    assert day["visits"].dtype == ("float64" if with_nulls else "int64")  # what a landed CSV gives MLflow

    answer = mlflow.pyfunc.load_model(info.uri).predict(day)

    served = prepare(platform.spec, info, platform.registry.load(info))
    assert list(answer.columns) == ["bronze", "gold", "silver"]
    np.testing.assert_allclose(answer.to_numpy(), served.predict(frame), rtol=1e-12)


def test_a_value_that_is_not_a_number_is_refused_naming_its_column(logged):
    platform, info, frame = logged
    day = frame[list(platform.spec.features)].astype(object).head(3)
    day["visits"] = ["3", "four", None]

    with pytest.raises(Exception, match="visits"):
        mlflow.pyfunc.load_model(info.uri).predict(day)


def test_the_signature_follows_the_spec_and_nullable_ints_are_any():
    spec = native_spec()
    signature = model_signature(spec, ("bronze", "gold", "silver"))

    inputs = {c.name: c.to_dict()["type"] for c in signature.inputs.inputs}
    assert inputs == {"visits": "any", "spend": "double", "channel": "string", "member": "boolean"}
    assert [c.name for c in signature.outputs.inputs] == ["bronze", "gold", "silver"]


@pytest.mark.slow
def test_mlflow_models_serve_answers_the_champions_probabilities_for_a_landed_day(tmp_path, tmp_path_factory):
    state = copy_seeded_state(tmp_path_factory, tmp_path / "state")
    registry, spec = state.registry(), make_spec(SEEDED_MODEL)
    landed = state.home / spec.landing.path / f"{LAST_SEEDED_DAY.isoformat()}{spec.landing.suffix}"
    day = pd.read_csv(landed)
    records = json.loads(day.drop(columns=[spec.target.name]).to_json(orient="records"))
    env = {
        "MLFLOW_TRACKING_URI": state.tracking_uri,
        "HOME": str(tmp_path),
        # mlflow models serve starts `uvicorn` by name.
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
    }
    port = free_port()

    with mlflow_serve(env, f"models:/{SEEDED_MODEL}@champion", port, tmp_path / "serve.log") as server:
        server.wait("/ping", timeout=180)
        status, answer = post_json(f"{server.url}/invocations", {"dataframe_records": records})

    assert status == 200, answer
    champion = registry.champion(SEEDED_MODEL)
    expected = prepare(spec, champion, registry.load(champion)).predict(
        day_features(Lake(root=str(state.home)), spec, LAST_SEEDED_DAY)
    )
    np.testing.assert_allclose(answer["predictions"], expected, rtol=1e-9)
