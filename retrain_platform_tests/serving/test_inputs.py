"""The request checker against the platform's pandera schema: the same typed frame for good rows, the same columns
refused for bad ones, and messages that say what to send."""

from __future__ import annotations

import pandas as pd
import pytest

from retrain_platform.serving.inputs import InputError, RequestChecker, model_frame, typed_frame
from retrain_platform.spec.estimator import model_input
from retrain_platform.spec.schema import validate_partition
from retrain_platform_tests.conftest import START, credit_frame, make_spec
from retrain_platform_tests.serving.served import as_columns, as_records


def mixed_spec(**overrides):
    """The credit spec plus a string column and a nullable int, to cover every column type."""
    spec = make_spec()
    features = {name: column.model_dump(exclude_none=True) for name, column in spec.features.items()}
    features["note"] = {"type": "string", "max_null_fraction": 0.5}
    features["tenure"] = {"type": "int", "min": 0, "max_null_fraction": 0.5}
    return make_spec(features=features, **overrides)


def mixed_frame() -> pd.DataFrame:
    frame = credit_frame(START, rows=40)
    frame["note"] = [None if i % 4 == 0 else f"n{i % 3}" for i in range(len(frame))]
    frame["tenure"] = [None if i % 5 == 0 else i for i in range(len(frame))]
    frame.loc[frame.index % 10 == 0, "debt_ratio"] = None  # 10 %, the tolerance
    return frame


def check(spec, body, max_rows: int = 1000):
    return RequestChecker(spec).check(body, max_rows)


def problems(spec, body) -> list:
    with pytest.raises(InputError) as err:
        check(spec, body)
    return err.value.problems


@pytest.mark.parametrize("form", ["records", "columns"])
def test_checked_rows_are_typed_exactly_as_validation_types_a_partition(form):
    spec, frame = mixed_spec(), mixed_frame()
    validated = validate_partition(frame, spec)
    assert validated.valid, validated.describe()
    features = frame[list(spec.features)]
    body = {"records": as_records(features)} if form == "records" else {"columns": as_columns(features)}

    checked = check(spec, body)

    typed = typed_frame(checked.columns, spec)
    pd.testing.assert_frame_equal(typed, validated.frame[list(spec.features)])
    # What the model is handed: the request path's plain frame gives model_input exactly what the typed one does.
    pd.testing.assert_frame_equal(
        model_input(model_frame(checked.columns, spec), spec), model_input(validated.frame, spec)
    )


def refused_by_schema(spec, frame: pd.DataFrame) -> set[str]:
    result = validate_partition(frame, spec)
    assert not result.valid
    return {p["column"] for p in result.problems}


@pytest.mark.parametrize(
    "column, value, problem",
    [
        ("income", "a lot", "wrong type: float column got string"),
        ("age", 30.5, "wrong type: int column got number"),
        ("age", True, "wrong type: int column got boolean"),
        ("has_mortgage", "yes", "wrong type: bool column got string"),
        ("age", 12, "below the minimum 18"),
        ("debt_ratio", 11.0, "above the maximum 10"),
        ("channel", "email", "unknown category"),
        ("income", None, "null value"),
    ],
)
def test_a_bad_value_is_refused_for_the_column_the_schema_refuses(column, value, problem):
    spec = make_spec()
    frame = credit_frame(START, rows=3)
    records = as_records(frame[list(spec.features)])
    records[1][column] = value

    [found] = problems(spec, {"records": records})

    assert (found.column, found.problem, found.rows) == (column, problem, (1,))
    assert found.message.startswith(f"{column}: {problem} in row(s) [1]")
    bad = frame.astype(object)
    bad.loc[1, column] = value
    assert refused_by_schema(spec, bad) == {column}


def test_messages_say_what_to_send():
    spec = make_spec()
    records = as_records(credit_frame(START, rows=2)[list(spec.features)])
    records[0]["age"] = "thirty"
    records[1]["channel"] = "email"
    del records[0]["income"]

    found = {p.column: p for p in problems(spec, {"records": records})}

    assert found["income"].message == (
        "income: missing column in row(s) [0]; every row needs it; send a JSON number between 0 and 1e+06"
    )
    assert found["age"].message == (
        "age: wrong type: int column got string in row(s) [0], e.g. 'thirty'; "
        "send a whole JSON number between 18 and 120"
    )
    assert found["channel"].message == (
        "channel: unknown category in row(s) [1], e.g. 'email'; send one of ['web', 'branch', 'phone']"
    )


def test_a_missing_column_in_the_columns_form_and_extra_columns():
    spec = make_spec()
    columns = as_columns(credit_frame(START, rows=2)[list(spec.features)])
    del columns["age"]
    columns["customer_id"] = [1, 2]
    columns["defaulted"] = [0, 1]  # the target may be sent (a replay of labelled rows): it is ignored

    found = {p.column: p for p in problems(spec, {"columns": columns})}

    assert set(found) == {"age", "customer_id"}
    assert found["age"].problem == "missing column"
    assert found["customer_id"].problem == "unknown column"
    assert "remove it" in found["customer_id"].expected
    del columns["customer_id"]
    assert "unknown column" not in {p.problem for p in problems(spec, {"columns": columns})}
    tolerant = make_spec(ignore_extra_columns=True)
    assert [p.column for p in problems(tolerant, {"columns": columns | {"x": [1, 2]}})] == ["age"]


@pytest.mark.parametrize(
    "body, problem",
    [
        ([1, 2], "unexpected body shape (got array)"),
        ({"rows": []}, "unexpected body shape (got ['rows'])"),
        ({"records": [], "columns": {}}, "unexpected body shape (got ['columns', 'records'])"),
        ({"records": {"a": 1}}, "records is not a list of objects"),
        ({"columns": {"income": 1}}, "columns is not an object of arrays"),
        ({"records": []}, "no rows"),
    ],
)
def test_a_body_of_the_wrong_shape_says_both_accepted_shapes(body, problem):
    [found] = problems(make_spec(), body)
    assert (found.column, found.problem) == ("(body)", problem)
    assert '{"records": [' in found.expected and '{"columns": {' in found.expected


def test_ragged_columns_and_too_many_rows():
    spec = make_spec()
    columns = as_columns(credit_frame(START, rows=3)[list(spec.features)])
    columns["age"] = columns["age"][:2]
    assert [p.problem.split(" {")[0] for p in problems(spec, {"columns": columns})] == ["columns of different lengths"]
    with pytest.raises(InputError, match="3 rows is more than 2; split the request"):
        check(spec, {"records": as_records(credit_frame(START, rows=3)[list(spec.features)])}, max_rows=2)


def test_nulls_where_the_column_tolerates_them_and_non_finite_numbers():
    spec = make_spec()
    records = as_records(credit_frame(START, rows=2)[list(spec.features)])
    records[0]["debt_ratio"] = None  # max_null_fraction 0.1: a request may carry nulls there
    assert check(spec, {"records": records}).columns["debt_ratio"][0] is None
    records[1]["debt_ratio"] = float("inf")
    [found] = problems(spec, {"records": records})
    assert (found.column, found.problem) == ("debt_ratio", "not a finite number")


def test_unknown_categories_map_to_null_with_a_warning_when_the_spec_says_so():
    spec = make_spec(validation={"on_unknown_category": "map_to_unknown"})
    records = as_records(credit_frame(START, rows=2)[list(spec.features)])
    records[1]["channel"] = "email"

    checked = check(spec, {"records": records})

    assert checked.columns["channel"][1] is None
    [warning] = checked.warnings
    assert warning.column == "channel" and warning.rows == (1,) and warning.examples == ("'email'",)
    assert "mapped to null" in warning.problem
