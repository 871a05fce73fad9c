"""validate_partition: the typed frame for good data, and a precise problem list for bad data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retrain_platform.spec import load_spec
from retrain_platform.spec.model_spec import ModelSpec
from retrain_platform.spec.schema import ValidationResult, build_schema, validate_partition
from retrain_platform_tests.spec.spec_files import EXAMPLES, example

N = 20


@pytest.fixture(scope="module")
def churn() -> ModelSpec:
    return load_spec(EXAMPLES / "churn.yaml")


def churn_frame(n: int = N, seed: int = 0) -> pd.DataFrame:
    """A valid raw churn partition, its columns deliberately in a different order than the spec's."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "churned": rng.integers(0, 2, n),
            "autopay": rng.integers(0, 2, n).astype(bool),
            "region": rng.choice(["north", "south", "east", "west"], n),
            "plan": rng.choice(["basic", "standard", "premium"], n),
            "data_usage_gb": rng.uniform(0, 100, n),
            "support_calls": rng.integers(0, 10, n),
            "monthly_charges": rng.uniform(0, 100, n),
            "tenure_months": rng.integers(0, 100, n),
        }
    )


def only_problem(result: ValidationResult, column: str, check_fragment: str) -> dict:
    """The single problem for ``column`` whose check contains ``check_fragment``."""
    assert not result.valid
    assert result.frame is None
    found = [p for p in result.problems if p["column"] == column and check_fragment in p["check"]]
    assert len(found) == 1, result.problems
    return found[0]


# --------------------------------------------------------------------------------------------------
# valid data
# --------------------------------------------------------------------------------------------------


def test_valid_frame(churn: ModelSpec) -> None:
    raw = churn_frame()
    result = validate_partition(raw, churn)
    assert result.valid
    assert result.problems == []
    assert result.describe() == ""
    frame = result.frame
    assert list(frame.columns) == [*churn.features, "churned"]  # features in spec order, then the target
    assert len(frame) == N
    assert frame.dtypes.astype(str).to_dict() == {
        "tenure_months": "Int64",
        "monthly_charges": "float64",
        "support_calls": "Int64",
        "data_usage_gb": "float64",
        "plan": "object",
        "region": "object",
        "autopay": "boolean",
        "churned": "Int64",
    }
    assert frame["tenure_months"].tolist() == raw["tenure_months"].tolist()
    assert frame["plan"].tolist() == raw["plan"].tolist()


def test_valid_frame_is_coerced(churn: ModelSpec) -> None:
    raw = churn_frame()
    raw["tenure_months"] = raw["tenure_months"].astype(float)  # whole floats into an int column
    # numeric strings into a float column
    raw["monthly_charges"] = raw["monthly_charges"].round(2).astype(str)
    raw["support_calls"] = raw["support_calls"].astype("int32")
    raw["churned"] = raw["churned"].astype(float)
    result = validate_partition(raw, churn)
    assert result.valid, result.describe()
    frame = result.frame
    assert frame["tenure_months"].dtype == "Int64"
    assert frame["support_calls"].dtype == "Int64"
    assert frame["churned"].dtype == "Int64"
    assert frame["monthly_charges"].dtype == "float64"
    assert frame["monthly_charges"].tolist() == raw["monthly_charges"].astype(float).tolist()


def test_input_frame_is_not_modified(churn: ModelSpec) -> None:
    raw = churn_frame()
    before = raw.copy()
    validate_partition(raw, churn)
    pd.testing.assert_frame_equal(raw, before)


def test_sales_example_validates_a_csv_round_trip(tmp_path: Path) -> None:
    """sales lands as CSV and is read back with pandas.read_csv: nullable floats, bools, text categories."""
    spec = load_spec(EXAMPLES / "sales.yaml")
    rng = np.random.default_rng(1)
    temperature = rng.normal(10, 5, N)
    temperature[:2] = np.nan  # 2/20 = 0.1 == max_null_fraction
    raw = pd.DataFrame(
        {
            "units_sold": rng.uniform(0, 100, N),
            "store_size": rng.uniform(100, 1000, N),
            "price": rng.uniform(1, 10, N),
            "promo": rng.integers(0, 2, N).astype(bool),
            "day_of_week": rng.integers(0, 7, N),
            "temperature": temperature,
            "store_type": rng.choice(["mall", "street", "outlet"], N),
        }
    )
    raw.to_csv(tmp_path / "2026-01-05.csv", index=False)
    result = validate_partition(pd.read_csv(tmp_path / "2026-01-05.csv"), spec)
    assert result.valid, result.describe()
    assert list(result.frame.columns) == [*spec.features, "units_sold"]
    assert result.frame["promo"].dtype == "boolean"
    assert result.frame["temperature"].isna().sum() == 2


# --------------------------------------------------------------------------------------------------
# bad data: each problem names the column, the check, the row count and examples
# --------------------------------------------------------------------------------------------------


def test_missing_column(churn: ModelSpec) -> None:
    result = validate_partition(churn_frame().drop(columns=["plan"]), churn)
    assert not result.valid
    assert result.frame is None
    (problem,) = result.problems
    assert problem["check"] == "column_in_dataframe"
    assert problem["examples"] == ["plan"]
    assert "plan" in result.describe()
    assert "column_in_dataframe" in result.describe()


def test_extra_column(churn: ModelSpec) -> None:
    result = validate_partition(churn_frame().assign(coupon="x"), churn)
    assert not result.valid
    (problem,) = result.problems
    assert problem["check"] == "column_in_schema"
    assert problem["examples"] == ["coupon"]
    assert "coupon" in result.describe()


@pytest.mark.parametrize(
    ("change", "column"),
    [(lambda f: f.drop(columns=["plan"]), "plan"), (lambda f: f.assign(coupon="x"), "coupon")],
    ids=["missing", "extra"],
)
def test_missing_or_extra_column_is_attributed_to_that_column(churn: ModelSpec, change, column: str) -> None:
    (problem,) = validate_partition(change(churn_frame()), churn).problems
    assert problem["column"] == column


def test_extra_column_allowed_with_ignore_extra_columns() -> None:
    data = example("churn")
    data["ignore_extra_columns"] = True
    spec = ModelSpec.model_validate(data)
    result = validate_partition(churn_frame().assign(coupon="x", note=1.5), spec)
    assert result.valid, result.describe()
    assert list(result.frame.columns) == [*spec.features, "churned"]
    # still strict about missing columns
    assert not validate_partition(churn_frame().drop(columns=["region"]), spec).valid


def test_strings_in_float_column(churn: ModelSpec) -> None:
    raw = churn_frame()
    raw["monthly_charges"] = raw["monthly_charges"].astype(object)
    raw.loc[[1, 3], "monthly_charges"] = ["abc", "n/a"]
    result = validate_partition(raw, churn)
    problem = only_problem(result, "monthly_charges", "coerce_dtype")
    assert problem["check"] == "coerce_dtype('float64')"
    assert problem["rows"] == 2
    assert sorted(problem["examples"]) == ["abc", "n/a"]
    assert "monthly_charges: coerce_dtype('float64') failed on 2 row(s)" in result.describe()


def test_strings_in_float_column_reports_no_spurious_range_failures(churn: ModelSpec) -> None:
    raw = churn_frame()
    raw["monthly_charges"] = raw["monthly_charges"].astype(object)
    raw.loc[[1, 3], "monthly_charges"] = ["abc", "n/a"]
    result = validate_partition(raw, churn)
    assert not any("TypeError" in example for p in result.problems for example in p["examples"]), result.problems


def test_strings_in_bool_column(churn: ModelSpec) -> None:
    raw = churn_frame()
    raw["autopay"] = ["yes"] * N
    problem = only_problem(validate_partition(raw, churn), "autopay", "coerce_dtype")
    assert problem["rows"] == N
    assert problem["examples"] == ["yes"]


def test_out_of_range_values(churn: ModelSpec) -> None:
    raw = churn_frame()
    raw.loc[[2, 5, 7], "tenure_months"] = [-1, 700, -3]
    result = validate_partition(raw, churn)
    low = only_problem(result, "tenure_months", "greater_than_or_equal_to(0.0)")
    assert low["rows"] == 2
    assert sorted(low["examples"]) == ["-1", "-3"]
    high = only_problem(result, "tenure_months", "less_than_or_equal_to(600.0)")
    assert high["rows"] == 1
    assert high["examples"] == ["700"]
    assert len(result.problems) == 2
    assert "tenure_months: less_than_or_equal_to(600.0) failed on 1 row(s), e.g. ['700']" in result.describe()


def test_unknown_category(churn: ModelSpec) -> None:
    raw = churn_frame()
    raw.loc[[2, 5, 9], "plan"] = ["gold", "gold", "platinum"]
    result = validate_partition(raw, churn)
    (problem,) = result.problems
    assert problem["column"] == "plan"
    assert problem["check"] == "isin(['basic', 'standard', 'premium'])"
    assert problem["rows"] == 3
    assert sorted(problem["examples"]) == ["gold", "platinum"]  # de-duplicated
    assert "plan: isin" in result.describe()


def test_unknown_target_class(churn: ModelSpec) -> None:
    raw = churn_frame()
    raw.loc[[4], "churned"] = 2
    problem = only_problem(validate_partition(raw, churn), "churned", "isin")
    assert problem["rows"] == 1
    assert problem["examples"] == ["2"]


def test_examples_are_capped_at_five(churn: ModelSpec) -> None:
    raw = churn_frame()
    raw["region"] = [f"r{i}" for i in range(N)]
    problem = only_problem(validate_partition(raw, churn), "region", "isin")
    assert problem["rows"] == N
    assert len(problem["examples"]) == 5
    assert set(problem["examples"]) <= {f"r{i}" for i in range(N)}


def test_too_many_nulls(churn: ModelSpec) -> None:
    raw = churn_frame()
    raw.loc[[0, 1, 2], "data_usage_gb"] = np.nan  # 3/20 = 0.15 > 0.05
    result = validate_partition(raw, churn)
    (problem,) = result.problems
    assert problem["column"] == "data_usage_gb"
    assert "null fraction above 0.05" in problem["check"]
    assert "data_usage_gb: null fraction above 0.05" in result.describe()


def test_too_many_nulls_reports_the_null_rows(churn: ModelSpec) -> None:
    raw = churn_frame()
    raw.loc[[0, 1, 2], "data_usage_gb"] = np.nan
    (problem,) = validate_partition(raw, churn).problems
    assert problem["rows"] == 3
    assert "False" not in problem["examples"]


def test_nulls_exactly_at_the_limit_pass(churn: ModelSpec) -> None:
    raw = churn_frame()
    raw.loc[[0], "data_usage_gb"] = np.nan  # 1/20 = 0.05 == max_null_fraction
    result = validate_partition(raw, churn)
    assert result.valid, result.describe()
    assert result.frame["data_usage_gb"].isna().sum() == 1


def test_nulls_exactly_at_the_limit_pass_for_an_awkward_fraction() -> None:
    data = example("churn")
    data["features"]["data_usage_gb"]["max_null_fraction"] = 0.29
    spec = ModelSpec.model_validate(data)
    raw = churn_frame(n=100)
    raw.loc[range(29), "data_usage_gb"] = np.nan  # 29/100 == 0.29
    assert validate_partition(raw, spec).valid
    raw.loc[29, "data_usage_gb"] = np.nan
    assert not validate_partition(raw, spec).valid


@pytest.mark.parametrize(
    ("column", "null"),
    [("plan", None), ("monthly_charges", np.nan), ("tenure_months", None), ("churned", np.nan)],
)
def test_nulls_in_a_non_nullable_column(churn: ModelSpec, column: str, null) -> None:
    raw = churn_frame()
    raw[column] = raw[column].astype(object)
    raw.loc[[4, 6], column] = null
    result = validate_partition(raw, churn)
    problem = only_problem(result, column, "not_nullable")
    assert problem["rows"] == 2
    assert len(problem["examples"]) >= 1
    assert f"{column}: not_nullable failed on 2 row(s)" in result.describe()


def test_every_problem_reported_at_once(churn: ModelSpec) -> None:
    raw = churn_frame()
    raw.loc[[1], "plan"] = "gold"
    raw.loc[[2], "tenure_months"] = -5
    raw.loc[[3], "monthly_charges"] = np.nan
    result = validate_partition(raw, churn)
    assert {(p["column"], p["check"].split("(")[0]) for p in result.problems} == {
        ("plan", "isin"),
        ("tenure_months", "greater_than_or_equal_to"),
        ("monthly_charges", "not_nullable"),
    }
    assert len(result.describe().splitlines()) == 3


def test_empty_frame_fails_min_rows(churn: ModelSpec) -> None:
    result = validate_partition(churn_frame().iloc[0:0], churn)
    assert not result.valid
    found = [p for p in result.problems if p["check"] == "fewer than 1 row(s)"]
    assert len(found) == 1, result.problems
    assert "fewer than 1 row(s)" in result.describe()


def test_too_few_rows_for_min_rows() -> None:
    data = example("churn")
    data["partitions"]["min_rows"] = 50
    spec = ModelSpec.model_validate(data)
    result = validate_partition(churn_frame(n=49), spec)
    assert not result.valid
    assert [p["check"] for p in result.problems] == ["fewer than 50 row(s)"]
    assert validate_partition(churn_frame(n=50), spec).valid


def test_empty_frame_reports_only_min_rows(churn: ModelSpec) -> None:
    result = validate_partition(churn_frame().iloc[0:0], churn)
    assert [p["check"] for p in result.problems] == ["fewer than 1 row(s)"]


def test_describe_names_column_check_rows_and_examples(churn: ModelSpec) -> None:
    raw = churn_frame()
    raw.loc[[2, 5], "region"] = ["mars", "mars"]
    result = validate_partition(raw, churn)
    assert result.describe() == ("region: isin(['north', 'south', 'east', 'west']) failed on 2 row(s), e.g. ['mars']")


def test_build_schema_mirrors_the_spec(churn: ModelSpec) -> None:
    schema = build_schema(churn)
    assert schema.name == "churn"
    assert list(schema.columns) == list(churn.columns)
    assert schema.columns["data_usage_gb"].nullable
    assert not schema.columns["tenure_months"].nullable
    assert not schema.columns["churned"].nullable
    assert str(schema.columns["tenure_months"].dtype) == "Int64"
    assert schema.columns["tenure_months"].description == "Months since sign-up"


# --------------------------------------------------------------------------------------------------
# infinities: never a valid value, bounds or not
# --------------------------------------------------------------------------------------------------


def unbounded(column: str) -> ModelSpec:
    """The churn spec with ``column``'s bounds removed (a float column nothing but the finite check guards)."""
    data = example("churn")
    data["features"][column] = {k: v for k, v in data["features"][column].items() if k not in ("min", "max")}
    return ModelSpec.model_validate(data)


@pytest.mark.parametrize("column", ["monthly_charges", "data_usage_gb"], ids=["required", "nullable"])
def test_infinity_in_an_unbounded_float_column_is_refused(column: str) -> None:
    raw = churn_frame()
    raw.loc[[3, 8], column] = [np.inf, -np.inf]
    result = validate_partition(raw, unbounded(column))
    problem = only_problem(result, column, "finite")
    assert problem["rows"] == 2
    assert sorted(problem["examples"]) == ["-inf", "inf"]
    assert f"{column}: finite (inf is not a value) failed on 2 row(s)" in result.describe()
    assert len(result.problems) == 1


def test_infinity_read_from_csv_text_is_refused(tmp_path: Path) -> None:
    raw = churn_frame()
    raw["monthly_charges"] = raw["monthly_charges"].astype(object)
    raw.loc[[5], "monthly_charges"] = "inf"
    raw.to_csv(tmp_path / "p.csv", index=False)
    problem = only_problem(
        validate_partition(pd.read_csv(tmp_path / "p.csv"), unbounded("monthly_charges")), "monthly_charges", "finite"
    )
    assert (problem["rows"], problem["examples"]) == (1, ["inf"])


def test_nulls_are_not_infinities() -> None:
    spec = unbounded("data_usage_gb")
    raw = churn_frame()
    raw.loc[[0], "data_usage_gb"] = np.nan  # within the column's null tolerance
    assert validate_partition(raw, spec).valid


def test_the_finite_check_is_on_every_float_column(churn: ModelSpec) -> None:
    schema = build_schema(churn)
    floats = [name for name, column in churn.columns.items() if column.type == "float"]
    assert floats
    for name, column in schema.columns.items():
        assert ("finite" in [check.name for check in column.checks]) == (name in floats), name


# --------------------------------------------------------------------------------------------------
# coercion failures always name the real rows and values
# --------------------------------------------------------------------------------------------------

COERCION_CASES = {
    # column, rows, values, expected examples
    "word_in_float": ("monthly_charges", [1, 3], ["abc", "abc"], ["abc"]),
    "fraction_text_in_int": ("tenure_months", [2], ["1.5"], ["1.5"]),
    "word_in_bool": ("autopay", [4, 9], ["maybe", "no idea"], ["maybe", "no idea"]),
    # whole numbers the int64 column cannot hold: the "is it whole" rule passes them, the coercion overflows
    "int_overflow": ("support_calls", [6], [10**20], [str(10**20)]),
    "negative_int_overflow": ("support_calls", [6, 7], [-(10**19), -(10**19)], [str(-(10**19))]),
    # a value no reading rule models: found by asking the coercion itself
    "complex_in_float": ("monthly_charges", [0], [complex(1, 2)], ["(1+2j)"]),
}


@pytest.mark.parametrize("case", list(COERCION_CASES))
def test_coercion_failure_reports_rows_and_examples(churn: ModelSpec, case: str) -> None:
    column, rows, values, examples = COERCION_CASES[case]
    raw = churn_frame()
    raw[column] = raw[column].astype(object)
    raw.loc[rows, column] = values
    result = validate_partition(raw, churn)
    problem = only_problem(result, column, "coerce_dtype")
    assert problem["rows"] == len(rows), problem
    assert sorted(problem["examples"]) == sorted(examples)
    assert f"{column}: coerce_dtype(" in result.describe()


def test_int_overflow_read_from_csv(churn: ModelSpec, tmp_path: Path) -> None:
    raw = churn_frame()
    raw["support_calls"] = raw["support_calls"].astype(object)
    raw.loc[[11], "support_calls"] = "99999999999999999999"
    raw.to_csv(tmp_path / "p.csv", index=False)
    problem = only_problem(validate_partition(pd.read_csv(tmp_path / "p.csv"), churn), "support_calls", "coerce")
    assert (problem["rows"], problem["examples"]) == (1, ["99999999999999999999"])


def test_values_that_only_fail_together_are_all_reported(churn: ModelSpec) -> None:
    # ints and a padded number string each coerce alone, not as one column: there is no single culprit,
    # so the report names every value rather than claiming 0 rows
    raw = churn_frame()
    raw["support_calls"] = [5] * (N - 1) + [" 7"]
    problem = only_problem(validate_partition(raw, churn), "support_calls", "coerce_dtype")
    assert problem["rows"] == N
    assert sorted(problem["examples"]) == [" 7", "5"]


def test_examples_of_array_values_are_deduplicated(churn: ModelSpec) -> None:
    raw = churn_frame()
    # two equal arrays (a parquet list column reads as arrays), distinct objects
    raw["monthly_charges"] = [np.array([1.0, 2.0]), np.array([1.0, 2.0]), *raw["monthly_charges"].tolist()[2:]]
    problem = only_problem(validate_partition(raw, churn), "monthly_charges", "coerce_dtype")
    assert problem["rows"] == 2
    assert problem["examples"] == ["[1. 2.]"]
