"""The model spec's validation rules, exercised on variants of the shipped example specs.

Every invalid variant is built from the real example YAML (load, modify, write to ``tmp_path``) and loaded
through ``load_spec``, so each test checks the whole user-facing message: the file, the field path, the fix.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from retrain_platform.spec import ModelSpec, SpecError, load_spec
from retrain_platform.spec.model_spec import TrainingSpec
from retrain_platform_tests.conftest import TEST_GATE, make_spec
from retrain_platform_tests.spec.spec_files import EXAMPLES, example, write_spec


def spec_problems(tmp_path: Path, data: object) -> tuple[Path, SpecError]:
    """Write ``data``, load it and return the path and the SpecError it must raise."""
    path = write_spec(tmp_path, data)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    return path, info.value


# --------------------------------------------------------------------------------------------------
# the examples
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["churn", "sales"])
def test_example_spec_loads(name: str) -> None:
    spec = load_spec(EXAMPLES / f"{name}.yaml")
    assert isinstance(spec, ModelSpec)
    assert spec.name == name
    raw = example(name)
    assert spec.task == raw["task"]
    assert spec.target.name == raw["target"]["name"]
    assert list(spec.features) == list(raw["features"])
    assert spec.metric.name == raw["metric"]["name"]
    assert spec.model.estimator.class_ == raw["model"]["estimator"]["class"]
    assert spec.model.estimator.params == raw["model"]["estimator"]["params"]


def test_example_spec_round_trips_through_a_rewritten_file(tmp_path: Path) -> None:
    """The fixture used by every invalid-variant test must itself load, or those tests prove nothing."""
    for name in ("churn", "sales"):
        assert load_spec(write_spec(tmp_path, example(name), f"{name}.yaml")).name == name


def test_churn_example_values_and_defaults() -> None:
    spec = load_spec(EXAMPLES / "churn.yaml")
    assert spec.training.window_days == 14
    assert spec.training.holdout_fraction == 0.25
    assert (spec.gate.mode, spec.gate.min_improvement) == ("not_worse", 0.0)  # the defaults
    assert spec.gate.min_score == 0.6
    assert spec.features["data_usage_gb"].max_null_fraction == 0.05
    assert spec.features["tenure_months"].max_null_fraction == 0.0  # default: never null
    assert spec.landing.suffix == ".parquet"
    assert spec.partitions.min_rows == 1  # default
    assert spec.triggers.cron is None


def test_sales_example_values() -> None:
    spec = load_spec(EXAMPLES / "sales.yaml")
    assert spec.task == "regression"
    assert spec.metric.name == "rmse"
    assert spec.triggers.cron == "0 4 * * 1"
    assert spec.triggers.drift is False
    assert spec.landing.suffix == ".csv"
    assert spec.gate.min_score is None


def test_columns_are_features_then_target() -> None:
    spec = load_spec(EXAMPLES / "churn.yaml")
    assert list(spec.columns) == [*example("churn")["features"], "churned"]
    assert spec.columns["churned"] is spec.target


def test_drift_kinds() -> None:
    spec = load_spec(EXAMPLES / "churn.yaml")
    assert spec.drift_kinds == {
        "tenure_months": "numerical",
        "monthly_charges": "numerical",
        "support_calls": "numerical",
        "data_usage_gb": "numerical",
        "plan": "categorical",
        "region": "categorical",
        "autopay": "categorical",  # bool is not numeric
    }
    assert "churned" not in spec.drift_kinds
    # an int column with explicit categories is categorical for drift
    assert spec.target.drift_kind == "categorical"


def test_spec_is_frozen() -> None:
    spec = load_spec(EXAMPLES / "churn.yaml")
    with pytest.raises(Exception, match="frozen"):
        spec.name = "other"  # type: ignore[misc]


# --------------------------------------------------------------------------------------------------
# one invalid variant per documented rule
# --------------------------------------------------------------------------------------------------

Mutation = Callable[[dict], None]


def _rename(section: str | None, old: str, new: str) -> Mutation:
    def mutate(data: dict) -> None:
        target = data if section is None else data[section]
        target[new] = target.pop(old)

    return mutate


def _set(*path_and_value) -> Mutation:
    *path, value = path_and_value

    def mutate(data: dict) -> None:
        node = data
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return mutate


def _delete(*path: str) -> Mutation:
    def mutate(data: dict) -> None:
        node = data
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return mutate


def _update(*path_and_values) -> Mutation:
    *path, values = path_and_values

    def mutate(data: dict) -> None:
        node = data
        for part in path:
            node = node[part]
        node.update(values)

    return mutate


# (example, mutation, field path the problem must start with, fragments the problem must contain)
INVALID = {
    "typo_top_level": (
        "churn",
        _rename(None, "training", "trainig"),
        "trainig",
        ["unknown field", "did you mean 'training'?"],
    ),
    "typo_nested": (
        "churn",
        _rename("training", "window_days", "windw_days"),
        "training.windw_days",
        ["unknown field", "did you mean 'window_days'?"],
    ),
    "typo_target": ("churn", _rename("target", "name", "nme"), "target.nme", ["did you mean 'name'?"]),
    "typo_gate": (
        "churn",
        _rename("gate", "confidence", "confidnce"),
        "gate.confidnce",
        ["did you mean 'confidence'?"],
    ),
    "typo_estimator_alias": (
        "churn",
        lambda d: d["model"]["estimator"].update(parms=d["model"]["estimator"].pop("params")),
        "model.estimator.parms",
        ["did you mean 'params'?"],
    ),
    "typo_without_close_match_lists_fields": (
        "churn",
        _set("training", "zzzz", 3),
        "training.zzzz",
        ["unknown field", "allowed fields here: " + ", ".join(sorted(TrainingSpec.model_fields))],
    ),
    "missing_top_level": ("churn", _delete("metric"), "metric", ["required field is missing; add it"]),
    "missing_task": ("sales", _delete("task"), "task", ["required field is missing; add it"]),
    "missing_nested": (
        "churn",
        _delete("target", "name"),
        "target.name",
        ["required field is missing; add it"],
    ),
    "missing_landing_path": (
        "sales",
        _delete("landing", "path"),
        "landing.path",
        ["required field is missing"],
    ),
    "bad_type_int": (
        "churn",
        _set("training", "window_days", "two weeks"),
        "training.window_days",
        ["valid integer", "(got 'two weeks')"],
    ),
    "bad_type_bool": (
        "churn",
        _set("triggers", "drift", "maybe"),
        "triggers.drift",
        ["valid boolean", "(got 'maybe')"],
    ),
    "bad_column_type": (
        "churn",
        _set("features", "plan", "type", "text"),
        "features.plan.type",
        ["'float', 'int', 'bool', 'category' or 'string'", "(got 'text')"],
    ),
    "bad_task": (
        "churn",
        _set("task", "ranking"),
        "task",
        ["'classification' or 'regression'", "(got 'ranking')"],
    ),
    "out_of_bounds_number": (
        "churn",
        _set("gate", "confidence", 1.5),
        "gate.confidence",
        ["less than 1", "(got 1.5)"],
    ),
    "null_fraction_above_one": (
        "churn",
        _set("features", "data_usage_gb", "max_null_fraction", 2),
        "features.data_usage_gb.max_null_fraction",
        ["less than or equal to 1"],
    ),
    "min_greater_than_max": (
        "churn",
        _update("features", "tenure_months", {"min": 10, "max": 1}),
        "features.tenure_months",
        ["min (10.0) is greater than max (1.0)", "swap them"],
    ),
    "min_on_category": (
        "churn",
        _set("features", "plan", "min", 0),
        "features.plan",
        ["min/max only apply to numeric columns", "not 'category'"],
    ),
    "max_on_bool": (
        "sales",
        _set("features", "promo", "max", 1),
        "features.promo",
        ["numeric columns", "not 'bool'"],
    ),
    "empty_categories": (
        "churn",
        _set("features", "region", "categories", []),
        "features.region",
        ["categories is empty", "list the allowed values or remove the field"],
    ),
    "unknown_metric": (
        "churn",
        _set("metric", "name", "auc"),
        "metric.name",
        ["unknown metric 'auc'", "choose one of:", "roc_auc", "rmse"],
    ),
    "nullable_target": (
        "churn",
        _set("target", "max_null_fraction", 0.1),
        "target.max_null_fraction",
        ["the target may not be null", "remove max_null_fraction from target"],
    ),
    "invalid_cron": (
        "sales",
        _set("triggers", "cron", "every monday"),
        "triggers.cron",
        ["'every monday' is not a valid cron expression", "five fields"],
    ),
    "invalid_cron_field_count": (
        "sales",
        _set("triggers", "cron", "0 4 * *"),
        "triggers.cron",
        ["not a valid cron expression"],
    ),
    "invalid_name_upper_case": (
        "churn",
        _set("name", "Churn-Model"),
        "name",
        ["'Churn-Model' is not a valid model name", "lower-case letters, digits and underscores"],
    ),
    "invalid_name_leading_digit": ("churn", _set("name", "1churn"), "name", ["not a valid model name"]),
    "probation_as_long_as_the_age_trigger": (
        "churn",
        _set("gate", {"probation_days": 7}),
        "triggers",
        ["gate.probation_days (7) must be shorter than triggers.max_model_age_days (7)", "Lower probation_days"],
    ),
    "estimator_class_without_module": (
        "churn",
        _set("model", "estimator", "class", "LogisticRegression"),
        "model.estimator.class",
        ["not an import path", "sklearn.linear_model.Ridge"],
    ),
}


@pytest.mark.parametrize(("example_name", "mutate", "field_path", "fragments"), INVALID.values(), ids=INVALID.keys())
def test_invalid_spec_names_file_field_and_fix(
    tmp_path: Path, example_name: str, mutate: Mutation, field_path: str, fragments: list[str]
) -> None:
    data = example(example_name)
    mutate(data)
    path, err = spec_problems(tmp_path, data)

    assert err.path == path
    assert str(err).startswith(f"{path}: invalid model spec")
    matching = [p for p in err.problems if p.startswith(f"{field_path}:")]
    assert matching, f"no problem located at {field_path!r}: {err.problems}"
    problem = matching[0]
    for fragment in fragments:
        assert fragment in problem, f"{fragment!r} missing from {problem!r}"
    assert problem in str(err)


# Cross-field rules are checked in ModelSpec's model validator. Messages name the fields involved and the fix.
CROSS_FIELD = {
    "metric_of_wrong_task": (
        "churn",
        _set("metric", "name", "rmse"),
        ["metric 'rmse' is for regression", "for classification use one of", "'roc_auc'", "'accuracy'"],
    ),
    "classification_metric_for_regression": (
        "sales",
        _set("metric", "name", "roc_auc"),
        ["metric 'roc_auc' is for classification", "for regression use one of", "'rmse'"],
    ),
    "regression_target_is_category": (
        "sales",
        _set("target", {"name": "units_sold", "type": "category", "categories": ["low", "high"]}),
        ["regression target must be float or int", "not 'category'"],
    ),
    "target_listed_as_feature": (
        "churn",
        _set("features", "churned", {"type": "int"}),
        ["the target 'churned' is also listed as a feature", "remove it from features"],
    ),
    "drift_override_for_unknown_column": (
        "churn",
        _set("drift", "columns", {"tenure_monts": {"threshold": 0.1}}),
        ["drift.columns names ['tenure_monts']", "which are not features", "'tenure_months'"],
    ),
    "empty_features": (
        "churn",
        _set("features", {}),
        ["features is empty", "list at least one input column"],
    ),
}


@pytest.mark.parametrize(("example_name", "mutate", "fragments"), CROSS_FIELD.values(), ids=CROSS_FIELD.keys())
def test_cross_field_rule_names_fields_and_fix(
    tmp_path: Path, example_name: str, mutate: Mutation, fragments: list[str]
) -> None:
    data = example(example_name)
    mutate(data)
    path, err = spec_problems(tmp_path, data)
    assert str(err).startswith(f"{path}: invalid model spec (1 problem(s))")
    (problem,) = err.problems
    for fragment in fragments:
        assert fragment in problem, f"{fragment!r} missing from {problem!r}"


CROSS_FIELD_LOCATION = {
    "metric_of_wrong_task": ("churn", _set("metric", "name", "rmse"), "metric"),
    "regression_target_is_category": (
        "sales",
        _set("target", {"name": "units_sold", "type": "category", "categories": ["low", "high"]}),
        "target",
    ),
    "target_listed_as_feature": ("churn", _set("features", "churned", {"type": "int"}), "features"),
    "drift_override_for_unknown_column": (
        "churn",
        _set("drift", "columns", {"tenure_monts": {"threshold": 0.1}}),
        "drift",
    ),
}


@pytest.mark.parametrize(("example_name", "mutate", "field"), CROSS_FIELD_LOCATION.values(), ids=CROSS_FIELD_LOCATION)
def test_cross_field_problem_is_located_at_its_field(
    tmp_path: Path, example_name: str, mutate: Mutation, field: str
) -> None:
    data = example(example_name)
    mutate(data)
    _, err = spec_problems(tmp_path, data)
    (problem,) = err.problems
    assert not problem.startswith("(top level)")
    assert problem.split(":", 1)[0].split(".")[0] == field, problem


def test_bad_preprocessing_keyword(tmp_path: Path) -> None:
    data = example("churn")
    data["model"]["preprocessing"] = "manual"
    path, err = spec_problems(tmp_path, data)
    assert str(err).startswith(str(path))
    assert all(p.startswith("model.preprocessing") for p in err.problems)
    assert any("'auto' or 'none'" in p and "(got 'manual')" in p for p in err.problems)


def test_bad_preprocessing_keyword_is_one_problem_at_its_field(tmp_path: Path) -> None:
    data = example("churn")
    data["model"]["preprocessing"] = "manual"
    _, err = spec_problems(tmp_path, data)
    (problem,) = err.problems
    assert problem.startswith("model.preprocessing:")
    assert "auto" in problem and "none" in problem


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    data = example("churn")
    del data["task"]
    data["training"]["windw_days"] = data["training"].pop("window_days")
    data["triggers"]["drift"] = "maybe"
    _, err = spec_problems(tmp_path, data)
    assert len(err.problems) == 3
    assert "(3 problem(s))" in str(err)
    assert {p.split(":", 1)[0] for p in err.problems} == {"task", "training.windw_days", "triggers.drift"}


# --------------------------------------------------------------------------------------------------
# drift method overrides (validated against retrain_platform.drift.SUPPORTED_METHODS)
# --------------------------------------------------------------------------------------------------


def test_unknown_drift_method(tmp_path: Path) -> None:
    from retrain_platform.drift import SUPPORTED_METHODS

    data = example("churn")
    data["drift"]["columns"] = {"tenure_months": {"method": "kolmogorov", "threshold": 0.05}}
    path, err = spec_problems(tmp_path, data)
    (problem,) = err.problems
    assert str(err).startswith(str(path))
    assert problem.startswith("drift.columns.tenure_months.method:")
    assert "unknown drift method 'kolmogorov'" in problem
    assert "choose one of" in problem
    for method in SUPPORTED_METHODS:
        assert method in problem


def test_supported_drift_method_override_loads(tmp_path: Path) -> None:
    from retrain_platform.drift import SUPPORTED_METHODS

    method = next(iter(SUPPORTED_METHODS))
    data = example("churn")
    data["drift"]["columns"] = {"tenure_months": {"method": method, "threshold": 0.05}}
    spec = load_spec(write_spec(tmp_path, data))
    assert spec.drift.columns["tenure_months"].method == method
    assert spec.drift.columns["tenure_months"].threshold == 0.05


DRIFT_OVERRIDES_REJECTED_ONLY_AT_RUN_TIME = {
    "numerical_method_on_categorical_column": ("plan", {"method": "ks"}),
    "categorical_method_on_numerical_column": ("tenure_months", {"method": "chisquare"}),
    "p_value_threshold_above_one": ("tenure_months", {"method": "ks", "threshold": 5}),
    "negative_threshold": ("monthly_charges", {"threshold": -0.1}),
}


@pytest.mark.parametrize(
    ("column", "override"),
    DRIFT_OVERRIDES_REJECTED_ONLY_AT_RUN_TIME.values(),
    ids=DRIFT_OVERRIDES_REJECTED_ONLY_AT_RUN_TIME,
)
def test_drift_override_the_drift_engine_rejects_fails_at_load(tmp_path: Path, column: str, override: dict) -> None:
    data = example("churn")
    data["drift"]["columns"] = {column: override}
    _, err = spec_problems(tmp_path, data)
    (problem,) = err.problems
    assert problem.startswith("drift")
    assert column in problem


def test_probation_defaults_to_three_days_unless_the_age_trigger_is_as_short_or_it_is_turned_off():
    from retrain_platform.spec.model_spec import DEFAULT_PROBATION_DAYS

    gate = {k: v for k, v in TEST_GATE.items() if k != "probation_days"}
    assert make_spec(gate=gate).gate.probation_days == DEFAULT_PROBATION_DAYS == 3
    short = make_spec(gate=gate, triggers={"drift": True, "max_model_age_days": 3})
    assert short.gate.probation_days is None  # the age trigger's candidate would end every probation
    assert make_spec(gate={**gate, "probation_days": None}).gate.probation_days is None
    assert make_spec(gate={**gate, "probation_days": 5}).gate.probation_days == 5
