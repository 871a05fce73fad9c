"""Spec semantics that real data needs (issue 7): multiclass averaging, retrain minimums, lenient validation and
label columns under ``preprocessing: none``, each refused up front with a message that says what to change."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retrain_platform.cli import main
from retrain_platform.promotion.metrics import metric_for
from retrain_platform.spec import SpecError, parse_spec
from retrain_platform.spec.estimator import build_estimator, model_input, smoke_fit, synthetic_frame
from retrain_platform.spec.schema import UNKNOWN_CATEGORY_CHECK, validate_partition
from retrain_platform_tests.conftest import spec_dict
from retrain_platform_tests.spec.spec_files import write_spec

THREE_CLASSES = {"name": "segment", "type": "category", "categories": ["a", "b", "c"]}
HGB = "sklearn.ensemble.HistGradientBoostingClassifier"


def spec_of(**overrides):
    """The shared credit test spec with top-level ``overrides``."""
    return parse_spec(spec_dict("semantics", **overrides), Path("<semantics>"))


def problems(**overrides) -> list[str]:
    """The problems validating the test spec with ``overrides`` reports (fails if it validates)."""
    with pytest.raises(SpecError) as info:
        spec_of(**overrides)
    return info.value.problems


# -- metric.average ---------------------------------------------------------------------------------------------------


def test_binary_average_is_refused_for_a_target_listing_three_classes():
    assert problems(target=THREE_CLASSES, metric={"name": "f1", "average": "binary"}) == [
        "metric: average 'binary' needs a target with two classes, but the target has 3; use one of micro, macro, "
        "weighted (or leave average out: macro is the default for more than two classes)"
    ]


def test_roc_auc_refuses_micro_and_metrics_without_averages_refuse_any():
    [message] = problems(target=THREE_CLASSES, metric={"name": "roc_auc", "average": "micro"})
    assert message.startswith("metric: average 'micro' does not apply to roc_auc; use one of binary, macro, weighted")
    assert "one-vs-rest" in message
    [message] = problems(metric={"name": "accuracy", "average": "macro"})
    assert message == (
        "metric: metric 'accuracy' takes no average (only f1, precision, recall, roc_auc do); remove average"
    )
    assert problems(metric={"name": "f1", "average": "median"})[0].startswith("metric.average: Input should be")


def test_average_defaults_to_binary_for_two_classes_and_macro_otherwise():
    assert metric_for(spec_of(metric={"name": "f1"})).average == "binary"
    three = metric_for(spec_of(target=THREE_CLASSES, metric={"name": "roc_auc"}))
    assert (three.average, three.labels) == ("macro", ("a", "b", "c"))
    weighted = metric_for(spec_of(target=THREE_CLASSES, metric={"name": "f1", "average": "weighted"}))
    assert weighted.average == "weighted"


def test_without_listed_categories_the_classes_seen_decide_and_a_bad_average_names_the_fix():
    unlisted = {"name": "segment", "type": "category"}
    spec = spec_of(target=unlisted, metric={"name": "f1", "average": "binary"})  # cannot be judged yet: accepted
    with pytest.raises(ValueError) as info:
        metric_for(spec, y=np.array(["a", "b", "c"]))
    assert str(info.value).startswith("metric: average 'binary' needs a target with two classes, but the target has 3")
    assert "list them as target.categories" in str(info.value)
    assert metric_for(spec_of(target=unlisted, metric={"name": "f1"}), y=["b", "a", "c", "a"]).labels == (
        "a",
        "b",
        "c",
    )


# -- training.retrain_min_partitions ---------------------------------------------------------------------------------


def test_retrain_min_partitions_defaults_to_one_and_neither_minimum_may_exceed_the_window():
    training = spec_of().training
    assert training.retrain_min_partitions == 1
    assert training.partitions_needed(has_champion=False) == ("min_partitions", 3)
    assert training.partitions_needed(has_champion=True) == ("retrain_min_partitions", 1)
    [message] = problems(training={"window_days": 5, "retrain_min_partitions": 6})
    assert message == (
        "training: retrain_min_partitions (6) is more than window_days (5): a window holds at most one partition "
        "per day, so training would never start; lower retrain_min_partitions or raise window_days"
    )


# -- validation policies ---------------------------------------------------------------------------------------------


def test_policies_resolve_per_column_then_model_wide_and_the_target_stays_strict():
    data = spec_dict("semantics")
    data["validation"] = {"on_excess_nulls": "warn", "on_unknown_category": "map_to_unknown"}
    data["features"]["channel"]["on_unknown_category"] = "quarantine"
    spec = parse_spec(data, Path("<x>"))
    assert spec.excess_nulls_policy("income") == "warn"
    assert spec.unknown_category_policy("channel") == "quarantine"
    assert spec.excess_nulls_policy("defaulted") == spec.unknown_category_policy("defaulted") == "quarantine"
    assert spec_of().excess_nulls_policy("income") == "quarantine"  # strict by default


def test_policy_fields_refused_where_they_cannot_apply():
    data = spec_dict("semantics")
    data["features"]["income"]["on_unknown_category"] = "map_to_unknown"
    data["target"]["on_excess_nulls"] = "warn"
    with pytest.raises(SpecError) as info:
        parse_spec(data, Path("<x>"))
    assert info.value.problems == [
        "target.on_excess_nulls: the target is always validated strictly; remove on_excess_nulls from target",
        "features.income: on_unknown_category only applies to a column with categories; list them or remove the field",
    ]


def credit_rows(rows: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "income": rng.uniform(1000, 5000, rows),
            "debt_ratio": rng.uniform(0, 2, rows),
            "age": rng.integers(18, 80, rows),
            "channel": ["web", "branch", "phone", "web"] * (rows // 4),
            "has_mortgage": [True, False] * (rows // 2),
            "defaulted": [0, 1] * (rows // 2),
        }
    )


def test_lenient_columns_keep_the_partition_and_report_what_they_tolerated():
    data = spec_dict("semantics")
    data["validation"] = {"on_excess_nulls": "warn", "on_unknown_category": "map_to_unknown"}
    spec = parse_spec(data, Path("<x>"))
    frame = credit_rows().astype({"income": "float64"})
    frame.loc[[0, 4], "channel"] = "kiosk"
    frame.loc[:9, "debt_ratio"] = None  # half the rows, tolerance 0.1

    result = validate_partition(frame, spec)
    assert result.valid and not result.problems
    assert result.warnings == [
        {
            "column": "debt_ratio",
            "check": "null fraction above 0.1 (kept: on_excess_nulls is warn)",
            "rows": 10,
            "examples": ["row 0", "row 1", "row 2", "row 3", "row 4"],
        },
        {"column": "channel", "check": UNKNOWN_CATEGORY_CHECK, "rows": 2, "examples": ["kiosk"]},
    ]
    assert result.frame["channel"].isna().tolist()[:5] == [True, False, False, False, True]
    assert result.frame["debt_ratio"].isna().sum() == 10  # nulls are kept as they are

    strict = validate_partition(frame, spec_of())  # today's defaults: the same file is quarantined
    assert not strict.valid
    assert {p["column"] for p in strict.problems} == {"debt_ratio", "channel"}


# -- category columns under preprocessing: none ----------------------------------------------------------------------


def test_none_with_a_numeric_only_estimator_is_refused_naming_the_columns_and_the_fix():
    [message] = problems(
        model={"estimator": {"class": "sklearn.linear_model.LogisticRegression"}, "preprocessing": "none"}
    )
    assert message.startswith(
        "model.preprocessing: none hands the label columns ['channel'] (type category/string) to "
        "sklearn.linear_model.LogisticRegression as they are, and it only accepts numbers"
    )
    assert "preprocessing: auto" in message and "OneHotEncoder" in message and HGB in message
    refused = {"class": HGB, "params": {"categorical_features": None}}  # native support switched off
    assert problems(model={"estimator": refused, "preprocessing": "none"})[0].startswith("model.preprocessing: none")


def test_none_with_native_categorical_support_gets_pandas_categories_with_the_listed_categories():
    spec = spec_of(model={"estimator": {"class": HGB, "params": {"max_iter": 20}}, "preprocessing": "none"})
    frame = validate_partition(credit_rows(40), spec).frame
    features = model_input(frame, spec)
    assert isinstance(features["channel"].dtype, pd.CategoricalDtype)
    assert list(features["channel"].cat.categories) == ["web", "branch", "phone"]
    model = build_estimator(spec).fit(features, frame["defaulted"])
    # a partition where one category is missing encodes the others the same way (codes come from the spec)
    subset = model_input(frame[frame["channel"] != "web"], spec)
    assert list(subset["channel"].cat.categories) == ["web", "branch", "phone"]
    assert model.predict_proba(subset).shape == (len(subset), 2)


# -- smoke fit (validate-spec) ---------------------------------------------------------------------------------------


def test_synthetic_rows_follow_the_schema():
    spec = spec_of(target=THREE_CLASSES, metric={"name": "f1"})
    frame = synthetic_frame(spec)
    assert validate_partition(frame, spec).valid
    assert set(frame["segment"]) == {"a", "b", "c"}
    smoke_fit(spec)  # preprocessing: auto fits


def test_validate_spec_fits_explicit_steps_and_reports_a_pipeline_that_cannot_take_the_columns(tmp_path, capsys):
    steps = [{"class": "sklearn.preprocessing.StandardScaler"}]
    data = spec_dict(
        "steps", model={"estimator": {"class": "sklearn.linear_model.LogisticRegression"}, "preprocessing": steps}
    )
    path = write_spec(tmp_path, data)
    assert main(["validate-spec", str(path)]) == 1
    err = capsys.readouterr().err
    assert "model: the estimator could not be fitted on 60 synthetic rows shaped like this spec's columns" in err
    assert "could not convert string to float" in err
    assert "validate-spec --no-fit" in err
    assert main(["validate-spec", "--no-fit", str(path)]) == 0
    assert "ok (model 'steps'" in capsys.readouterr().out
