"""Building the scikit-learn estimator a spec names, and fitting it on data shaped like the spec's columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from retrain_platform.spec import SpecError, load_spec, parse_spec
from retrain_platform.spec.estimator import EstimatorError, build_estimator, model_input
from retrain_platform.spec.model_spec import ModelSpec
from retrain_platform.spec.schema import validate_partition
from retrain_platform_tests.spec.spec_files import EXAMPLES, example


def unchecked_spec(data: dict) -> ModelSpec:
    """The pydantic model only: parse_spec/load_spec would already call build_estimator."""
    return ModelSpec.model_validate(data)


def with_estimator(name: str, class_: str, params: dict | None = None, preprocessing=None) -> dict:
    data = example(name)
    data["model"]["estimator"] = {"class": class_, "params": params or {}}
    if preprocessing is not None:
        data["model"]["preprocessing"] = preprocessing
    return data


def estimator_error(data: dict) -> str:
    """The EstimatorError for ``data``; also checks the loader turns it into a SpecError naming the file."""
    spec = unchecked_spec(data)
    with pytest.raises(EstimatorError) as info:
        build_estimator(spec)
    message = str(info.value)
    with pytest.raises(SpecError) as spec_info:
        parse_spec(data, Path("models/spec.yaml"))
    assert str(spec_info.value).startswith("models/spec.yaml: invalid model spec (1 problem(s))")
    assert spec_info.value.problems == [message]
    return message


# --------------------------------------------------------------------------------------------------
# bad estimator specs
# --------------------------------------------------------------------------------------------------


def test_unknown_module() -> None:
    message = estimator_error(with_estimator("churn", "sklearn.linear_modell.LogisticRegression"))
    assert message == (
        "model.estimator.class: cannot import module 'sklearn.linear_modell'; check the spelling or install the package"
    )


def test_unknown_top_level_package() -> None:
    message = estimator_error(with_estimator("churn", "sklern.linear_model.LogisticRegression"))
    assert message.startswith("model.estimator.class: cannot import module 'sklern.linear_model'")


def test_unknown_class_with_case_typo_suggests_the_class() -> None:
    message = estimator_error(with_estimator("churn", "sklearn.linear_model.logisticregression"))
    assert message == (
        "model.estimator.class: 'sklearn.linear_model' has no 'logisticregression' "
        "(did you mean sklearn.linear_model.LogisticRegression?)"
    )


def test_unknown_class_without_close_name() -> None:
    message = estimator_error(with_estimator("churn", "sklearn.linear_model.DeepForest"))
    assert message == "model.estimator.class: 'sklearn.linear_model' has no 'DeepForest'"


@pytest.mark.parametrize(
    "class_",
    [
        "sklearn.metrics.accuracy_score",  # a function
        "pathlib.Path",  # a class without fit/get_params
        "sklearn.linear_model.__name__",  # a module attribute that is a string
    ],
)
def test_not_an_estimator(class_: str) -> None:
    message = estimator_error(with_estimator("churn", class_))
    assert message == f"model.estimator.class: {class_!r} is not a scikit-learn estimator (no fit/get_params)"


def test_bad_constructor_param_lists_valid_params() -> None:
    message = estimator_error(with_estimator("churn", "sklearn.linear_model.LogisticRegression", {"CC": 1.0}))
    assert message.startswith("model.estimator.params:")
    assert "'CC'" in message
    listed = message.split("valid parameters: ", 1)[1].split(", ")
    assert listed == sorted(LogisticRegression().get_params())
    assert "C" in listed and "max_iter" in listed


@pytest.mark.parametrize(
    ("class_", "params", "fragments"),
    [
        (
            "sklearn.linear_model.LogisticRegression",
            {"C": -1},
            ["'C' parameter of LogisticRegression", "Got -1"],
        ),
        (
            "sklearn.linear_model.LogisticRegression",
            {"max_iter": "lots"},
            ["'max_iter' parameter of LogisticRegression", "'lots'"],
        ),
        (
            "sklearn.ensemble.HistGradientBoostingRegressor",
            {"learning_rate": 0},
            ["'learning_rate' parameter of HistGradientBoostingRegressor"],
        ),
    ],
)
def test_bad_param_value_caught_at_load_time(class_: str, params: dict, fragments: list[str]) -> None:
    example_name = "churn" if "LogisticRegression" in class_ else "sales"
    message = estimator_error(with_estimator(example_name, class_, params))
    assert message.startswith("model.estimator.params:")
    for fragment in fragments:
        assert fragment in message


def test_bad_preprocessing_step_is_located_by_index() -> None:
    data = with_estimator(
        "sales",
        "sklearn.linear_model.Ridge",
        preprocessing=[
            {"class": "sklearn.impute.SimpleImputer"},
            {"class": "sklearn.preprocessing.StandardScalr"},
        ],
    )
    message = estimator_error(data)
    assert message == "model.preprocessing[1].class: 'sklearn.preprocessing' has no 'StandardScalr'"


def test_bad_preprocessing_step_param() -> None:
    data = with_estimator(
        "sales",
        "sklearn.linear_model.Ridge",
        preprocessing=[{"class": "sklearn.impute.SimpleImputer", "params": {"strategy": "mode"}}],
    )
    message = estimator_error(data)
    assert message.startswith("model.preprocessing[0].params:")
    assert "'strategy' parameter of SimpleImputer" in message


def test_class_with_required_constructor_argument() -> None:
    data = with_estimator("churn", "sklearn.ensemble.VotingClassifier", {"voting": "soft"})
    message = estimator_error(data)
    assert message.startswith("model.estimator.params:")
    assert "estimators" in message


def test_class_path_with_empty_module() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(with_estimator("churn", ".LogisticRegression"), Path("spec.yaml"))
    assert info.value.problems[0].startswith("model.estimator.class:")


# --------------------------------------------------------------------------------------------------
# what gets built
# --------------------------------------------------------------------------------------------------


def test_auto_preprocessing_for_churn() -> None:
    spec = load_spec(EXAMPLES / "churn.yaml")
    pipeline = build_estimator(spec)
    assert isinstance(pipeline, Pipeline)
    assert [name for name, _ in pipeline.steps] == ["preprocess", "estimator"]

    estimator = pipeline.named_steps["estimator"]
    assert isinstance(estimator, LogisticRegression)
    assert estimator.C == 1.0 and estimator.max_iter == 500

    preprocess = pipeline.named_steps["preprocess"]
    assert isinstance(preprocess, ColumnTransformer)
    assert preprocess.remainder == "drop"
    columns = {name: cols for name, _, cols in preprocess.transformers}
    assert columns == {
        "numeric": ["tenure_months", "monthly_charges", "support_calls", "data_usage_gb"],
        "categorical": ["plan", "region", "autopay"],
    }


def test_auto_preprocessing_only_numeric_features() -> None:
    data = example("sales")
    data["features"] = {k: v for k, v in data["features"].items() if v["type"] in ("float", "int")}
    preprocess = build_estimator(unchecked_spec(data)).named_steps["preprocess"]
    assert [name for name, _, _ in preprocess.transformers] == ["numeric"]


def test_preprocessing_none_returns_the_bare_estimator() -> None:
    data = example("sales")
    data["model"]["preprocessing"] = "none"
    built = build_estimator(unchecked_spec(data))
    assert isinstance(built, HistGradientBoostingRegressor)
    assert built.max_iter == 150 and built.learning_rate == 0.1


def test_explicit_preprocessing_list() -> None:
    data = with_estimator(
        "sales",
        "sklearn.linear_model.Ridge",
        {"alpha": 2.0},
        preprocessing=[
            {"class": "sklearn.impute.SimpleImputer", "params": {"strategy": "median"}},
            {"class": "sklearn.preprocessing.StandardScaler"},
        ],
    )
    built = build_estimator(unchecked_spec(data))
    assert isinstance(built, Pipeline)
    assert [name for name, _ in built.steps] == ["step_0", "step_1", "estimator"]
    assert isinstance(built.named_steps["step_0"], SimpleImputer)
    assert built.named_steps["step_0"].strategy == "median"
    assert isinstance(built.named_steps["step_1"], StandardScaler)
    assert isinstance(built.named_steps["estimator"], Ridge)
    assert built.named_steps["estimator"].alpha == 2.0


def test_each_build_is_a_fresh_unfitted_estimator() -> None:
    spec = load_spec(EXAMPLES / "churn.yaml")
    first, second = build_estimator(spec), build_estimator(spec)
    assert first is not second
    assert first.named_steps["estimator"] is not second.named_steps["estimator"]
    assert not hasattr(first.named_steps["estimator"], "coef_")


# --------------------------------------------------------------------------------------------------
# fitting on data shaped like the spec
# --------------------------------------------------------------------------------------------------


def churn_frame(n: int = 80, seed: int = 0) -> pd.DataFrame:
    """Raw rows for the churn example: NaNs in nullable data_usage_gb, string categories, a bool column."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 120, n)
    calls = rng.integers(0, 10, n)
    usage = rng.uniform(0, 500, n)
    usage[[3, 40]] = np.nan  # 2/80 = 0.025 <= max_null_fraction 0.05
    churned = ((calls > 5) | (tenure < 12)).astype(int)
    churned[:2] = [0, 1]  # both classes always present
    return pd.DataFrame(
        {
            "tenure_months": tenure,
            "monthly_charges": rng.uniform(10, 200, n),
            "support_calls": calls,
            "data_usage_gb": usage,
            "plan": rng.choice(["basic", "standard", "premium"], n),
            "region": rng.choice(["north", "south", "east", "west"], n),
            "autopay": rng.integers(0, 2, n).astype(bool),
            "churned": churned,
        }
    )


def sales_frame(n: int = 80, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    temperature = rng.normal(15, 8, n)
    temperature[::10] = np.nan  # 8/80 = 0.1 == max_null_fraction
    price = rng.uniform(1, 50, n)
    return pd.DataFrame(
        {
            "store_size": rng.uniform(100, 5000, n),
            "price": price,
            "promo": rng.integers(0, 2, n).astype(bool),
            "day_of_week": rng.integers(0, 7, n),
            "temperature": temperature,
            "store_type": rng.choice(["mall", "street", "outlet"], n),
            "units_sold": np.maximum(0, 100 - price + rng.normal(0, 5, n)),
        }
    )


def test_churn_pipeline_fits_raw_frame() -> None:
    spec = load_spec(EXAMPLES / "churn.yaml")
    frame = churn_frame()
    assert frame["data_usage_gb"].isna().any()
    features = frame[list(spec.features)]
    model = build_estimator(spec).fit(features, frame["churned"])
    proba = model.predict_proba(features)
    assert proba.shape == (len(frame), 2)
    assert np.all(np.isfinite(proba))
    # one-hot columns for every category seen plus the four scaled numerics
    assert model.named_steps["preprocess"].transform(features).shape == (len(frame), 4 + 3 + 4 + 2)


def test_churn_pipeline_fits_the_validated_frame() -> None:
    """Training sees validate_partition's typed frame (Int64, boolean, float64): the pipeline must fit it."""
    spec = load_spec(EXAMPLES / "churn.yaml")
    result = validate_partition(churn_frame(), spec)
    assert result.valid, result.describe()
    typed = result.frame
    model = build_estimator(spec).fit(typed[list(spec.features)], typed[spec.target.name])
    predictions = model.predict(typed[list(spec.features)])
    assert set(np.unique(predictions)) <= {0, 1}


def test_sales_pipeline_fits_the_validated_frame() -> None:
    spec = load_spec(EXAMPLES / "sales.yaml")
    result = validate_partition(sales_frame(), spec)
    assert result.valid, result.describe()
    typed = result.frame
    assert typed["temperature"].isna().sum() == 8
    model = build_estimator(spec).fit(typed[list(spec.features)], typed["units_sold"])
    predictions = model.predict(typed[list(spec.features)])
    assert predictions.shape == (len(typed),)
    assert np.all(np.isfinite(predictions))


def test_explicit_preprocessing_fits_numeric_frame_with_nans() -> None:
    data = with_estimator(
        "sales",
        "sklearn.linear_model.Ridge",
        preprocessing=[
            {"class": "sklearn.impute.SimpleImputer"},
            {"class": "sklearn.preprocessing.StandardScaler"},
        ],
    )
    data["features"] = {k: v for k, v in data["features"].items() if v["type"] in ("float", "int")}
    spec = unchecked_spec(data)
    frame = sales_frame()
    model = build_estimator(spec).fit(frame[list(spec.features)], frame["units_sold"])
    assert np.all(np.isfinite(model.predict(frame[list(spec.features)])))


def test_auto_pipeline_fits_nullable_bool_column_after_validation() -> None:
    data = example("churn")
    data["features"]["autopay"]["max_null_fraction"] = 0.1
    spec = unchecked_spec(data)
    frame = churn_frame().astype({"autopay": object})
    frame.loc[[0, 7], "autopay"] = None
    result = validate_partition(frame, spec)
    assert result.valid, result.describe()
    typed = result.frame
    assert str(typed["autopay"].dtype) == "boolean"  # pd.NA inside: what scikit-learn's imputers reject
    inputs = model_input(typed, spec)
    model = build_estimator(spec).fit(inputs, typed["churned"])
    assert model.predict_proba(inputs).shape == (len(typed), 2)


def test_training_random_state_reaches_the_estimator_unless_params_set_one() -> None:
    data = example("sales")
    data["training"]["random_state"] = 7
    assert build_estimator(unchecked_spec(data)).named_steps["estimator"].random_state == 7
    data["model"]["estimator"]["params"]["random_state"] = 3
    assert build_estimator(unchecked_spec(data)).named_steps["estimator"].random_state == 3
