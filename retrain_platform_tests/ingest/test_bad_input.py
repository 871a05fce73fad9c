"""Bad landings, end to end through Dagster: each one is refused, quarantined and kept; nothing downstream runs.

Every case lands a file through the landing folder and runs the real ingest job on a real (SQLite) instance. The
csv cases share one platform that already has a champion (trained once per module), each on its own day, so
"the champion is untouched" is checked against a real MLflow alias.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from dagster import AssetCheckSeverity, DagsterInstance

from retrain_platform.registry import ModelRegistry
from retrain_platform_tests.conftest import START, Platform, credit_frame, make_spec, spec_dict

ROWS = 60


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mlflow_uri):
    """A csv platform with three good days ingested and a promoted champion (built once: training costs seconds)."""
    root = tmp_path_factory.mktemp("bad_input")
    (root / "dagster").mkdir()
    with DagsterInstance.local_temp(str(root / "dagster")) as instance:
        registry = ModelRegistry(tracking_uri=mlflow_uri, artifact_root=(root / "artifacts").as_uri())
        platform = Platform(make_spec(), root / "home", instance, registry)
        assert all(run.success for run in platform.land_and_ingest(3))
        assert platform.retrain().success
        assert platform.registry.champion(platform.spec.name) is not None
        yield platform


def good(day: dt.date) -> pd.DataFrame:
    return credit_frame(day, rows=ROWS)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def materialized(platform: Platform, key, day: dt.date) -> bool:
    return day.isoformat() in platform.instance.get_materialized_partitions(key)


def schema_evaluation(platform: Platform, run):
    found = [e for e in run.get_asset_check_evaluations() if e.asset_check_key == platform.keys.schema_check]
    assert len(found) == 1, run.get_asset_check_evaluations()
    return found[0]


def assert_refused(platform: Platform, day: dt.date, landed, run, column: str, check: str, champion=None) -> dict:
    """Everything a user sees after a bad landing; returns the quarantine record."""
    spec, lake, keys = platform.spec, platform.lake, platform.keys
    original = landed.read_bytes()

    # the run fails because the blocking check failed (not because something downstream crashed on the data),
    # and the check says which column and which check
    assert not run.success
    (failure,) = run.get_step_failure_events()
    assert failure.step_key == f"{spec.name}__features"
    assert failure.step_failure_data.error.cls_name == "DagsterAssetCheckFailedError"
    assert f"{keys.features.to_user_string()}: schema" in failure.step_failure_data.error.message
    started = {e.step_key for e in run.all_events if e.is_step_start}
    assert started == {f"{spec.name}__raw_batch", f"{spec.name}__features"}
    evaluation = schema_evaluation(platform, run)
    assert evaluation.passed is False
    assert evaluation.severity == AssetCheckSeverity.ERROR
    assert evaluation.partition == day.isoformat()
    assert column in evaluation.description and check in evaluation.description, evaluation.description
    assert landed.name in evaluation.description
    table = evaluation.metadata["failure_cases"].value
    assert f"| {column} | {check}" in table, table
    # relative to the lake root, so the record stays true when the lake is moved or restored elsewhere
    relative = f"lake/{spec.name}/raw/{day.isoformat()}{spec.landing.suffix}"
    assert evaluation.metadata["raw_file"].value == relative
    assert lake.root_path / relative == lake.raw_path(spec, day.isoformat())
    assert "land it again" in evaluation.metadata["what_to_do"].value

    # nothing is lost: the lake copy is byte-identical and the landed file is still there, unchanged
    assert lake.raw_path(spec, day.isoformat()).read_bytes() == original
    assert landed.is_file() and landed.read_bytes() == original

    # the partition is quarantined with a readable record, and its features are withheld
    assert lake.is_quarantined(spec.name, day.isoformat())
    record = json.loads(lake.quarantine_path(spec.name, day.isoformat()).read_text())
    assert record["partition"] == day.isoformat()
    assert record["raw_file"] == relative
    assert any(p["column"] == column and check in p["check"] for p in record["problems"]), record["problems"]
    assert "Fix the file and land it again" in record["what_to_do"]
    assert not lake.features_path(spec.name, day.isoformat()).exists()
    assert day.isoformat() not in lake.feature_partitions(spec.name)

    # nothing downstream ran for this partition, and the champion did not move
    assert materialized(platform, keys.raw_batch, day)
    assert not materialized(platform, keys.drift_report, day)
    assert not materialized(platform, keys.champion_performance, day)
    if champion is not None:
        after = platform.registry.champion(spec.name)
        assert (after.version, after.run_id) == (champion.version, champion.run_id)
    return record


@dataclass(frozen=True)
class Case:
    id: str
    column: str
    check: str
    frame: object = None  # day -> DataFrame, landed as csv
    raw: bytes | None = None
    rows: int | None = None  # how many rows the report says failed
    example: str | None = None  # a failing value the report must show


def _with(day: dt.date, **changes) -> pd.DataFrame:
    frame = good(day)
    for column, (rows, value) in changes.items():
        if not isinstance(value, float):
            frame[column] = frame[column].astype(object)
        frame.loc[rows, column] = value
    return frame


CSV_CASES = [
    Case("garbage_bytes", "(file)", "readable as csv", raw=b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe\x00garbage\xff\n"),
    Case("empty_file", "(file)", "readable as csv", raw=b""),
    Case("header_only", "(table)", "fewer than 1 row(s)", frame=lambda d: good(d).iloc[:0]),
    Case("missing_column", "age", "column_in_dataframe", frame=lambda d: good(d).drop(columns="age")),
    Case("extra_column", "promo_code", "column_in_schema", frame=lambda d: good(d).assign(promo_code="SPRING")),
    Case(
        "wrong_type",
        "income",
        "coerce_dtype('float64')",
        frame=lambda d: _with(d, income=([3, 7], "lots")),
        rows=2,
        example="lots",
    ),
    Case(
        "out_of_range",
        "age",
        "less_than_or_equal_to(120",
        frame=lambda d: _with(d, age=([5], 150)),
        rows=1,
        example="150",
    ),
    Case(
        "below_min",
        "income",
        "greater_than_or_equal_to(0",
        frame=lambda d: _with(d, income=([2], -10.0)),
        rows=1,
        example="-10.0",
    ),
    Case(
        "unknown_category",
        "channel",
        "isin(",
        frame=lambda d: _with(d, channel=([1, 4], "carrier_pigeon")),
        rows=2,
        example="carrier_pigeon",
    ),
    Case(
        "too_many_nulls",  # 20 of 60 rows null, the spec tolerates 10%
        "debt_ratio",
        "null fraction above 0.1",
        frame=lambda d: _with(d, debt_ratio=(list(range(0, ROWS, 3)), np.nan)),
        rows=20,
        example="row 0",
    ),
    Case(
        "null_in_non_nullable",
        "income",
        "not_nullable",
        frame=lambda d: _with(d, income=([9], np.nan)),
        rows=1,
    ),
    Case("null_target", "defaulted", "not_nullable", frame=lambda d: _with(d, defaulted=([0], None)), rows=1),
    Case(
        "infinity",  # refused by the finite check even where a bound would also catch it
        "income",
        "finite",
        frame=lambda d: _with(d, income=([3, 8], np.inf)),
        rows=2,
        example="inf",
    ),
    Case(
        "int_overflow",  # a whole number an int64 cannot hold: pandera alone reports it on 0 rows
        "age",
        "coerce_dtype('Int64')",
        frame=lambda d: _with(d, age=([6], "99999999999999999999")),
        rows=1,
        example="99999999999999999999",
    ),
    Case(
        "number_in_category_column",
        "channel",
        "isin(",
        frame=lambda d: _with(d, channel=([2, 5], 1.5)),
        rows=2,
        example="1.5",
    ),
]


@pytest.mark.parametrize("case", CSV_CASES, ids=[c.id for c in CSV_CASES])
def test_bad_csv_is_quarantined_and_champion_untouched(trained, case):
    day = START + dt.timedelta(days=10 + CSV_CASES.index(case))
    champion = trained.registry.champion(trained.spec.name)
    landed = trained.land(day, raw=case.raw if case.raw is not None else csv_bytes(case.frame(day)))
    run = trained.ingest(day)
    record = assert_refused(trained, day, landed, run, case.column, case.check, champion)
    (problem,) = [p for p in record["problems"] if p["column"] == case.column and case.check in p["check"]]
    if case.rows is not None:
        assert problem["rows"] == case.rows, problem
    if case.example is not None:
        assert case.example in problem["examples"], problem


WRONG_TYPE_CASES = {
    "fractions_in_int_column": ("age", [4, 11, 19], [30.5, 41.25, 55.5]),
    "fraction_text_in_int_column": ("age", [8], ["1.5"]),
    "word_in_bool_column": ("has_mortgage", [7], ["maybe"]),
    "words_in_float_column": ("debt_ratio", [2, 9, 30], ["abc", "unknown", "abc"]),
}


@pytest.mark.parametrize("case", list(WRONG_TYPE_CASES))
def test_wrong_type_report_names_the_offending_values(trained, case):
    column, rows, values = WRONG_TYPE_CASES[case]
    day = START + dt.timedelta(days=41 + list(WRONG_TYPE_CASES).index(case))
    frame = good(day)
    frame[column] = frame[column].astype(object)
    frame.loc[rows, column] = values
    landed = trained.land(day, raw=csv_bytes(frame))
    record = assert_refused(trained, day, landed, trained.ingest(day), column, "coerce_dtype(")
    (problem,) = [p for p in record["problems"] if p["column"] == column and p["check"].startswith("coerce_dtype")]
    assert sorted(problem["examples"]) == sorted({str(v) for v in values})
    assert problem["rows"] == len(rows)


def test_bad_parquet_is_quarantined(platform_factory):
    platform = platform_factory(make_spec(landing={"path": "landing/parquet_model", "format": "parquet"}))
    garbage_day, empty_day = START, START + dt.timedelta(days=1)

    landed = platform.land(garbage_day, raw=b"PAR1 this is not really parquet \x00\xff")
    assert landed.suffix == ".parquet"
    assert_refused(platform, garbage_day, landed, platform.ingest(garbage_day), "(file)", "readable as parquet")

    landed = platform.land(empty_day, good(empty_day).iloc[:0])  # a valid parquet file with zero rows
    assert_refused(platform, empty_day, landed, platform.ingest(empty_day), "(table)", "fewer than 1 row(s)")


def test_extra_column_accepted_when_ignored(platform_factory):
    platform = platform_factory(make_spec(ignore_extra_columns=True))
    day = START
    platform.land(day, good(day).assign(promo_code="SPRING", internal_id=range(ROWS)))
    run = platform.ingest(day)
    assert run.success
    evaluation = schema_evaluation(platform, run)
    assert evaluation.passed
    assert not platform.lake.is_quarantined(platform.spec.name, day.isoformat())
    features = pd.read_parquet(platform.lake.features_path(platform.spec.name, day.isoformat()))
    assert list(features.columns) == list(platform.spec.columns)  # the extra columns are dropped, not stored
    assert len(features) == ROWS
    assert materialized(platform, platform.keys.drift_report, day)
    assert materialized(platform, platform.keys.champion_performance, day)


def test_recovery_after_corrected_relanding(trained):
    spec, lake, keys = trained.spec, trained.lake, trained.keys
    day = START + dt.timedelta(days=30)
    champion = trained.registry.champion(spec.name)

    bad = good(day).drop(columns="channel")
    landed = trained.land(day, raw=csv_bytes(bad))
    assert_refused(trained, day, landed, trained.ingest(day), "channel", "column_in_dataframe", champion)

    fixed = good(day)
    trained.land(day, fixed)
    run = trained.ingest(day)
    assert run.success
    assert schema_evaluation(trained, run).passed

    # quarantine lifted, features present and equal to the corrected rows
    assert not lake.is_quarantined(spec.name, day.isoformat())
    assert day.isoformat() in lake.feature_partitions(spec.name)
    features = lake.read_features(spec.name, [day.isoformat()])
    assert len(features) == ROWS
    assert features["income"].tolist() == fixed["income"].tolist()

    # the lake holds the corrected file, and the refused landing is preserved byte for byte
    assert lake.raw_path(spec, day.isoformat()).read_bytes() == landed.read_bytes()
    superseded = list((lake.raw_path(spec, day.isoformat()).parent / "superseded").glob(f"{day.isoformat()}.*.csv"))
    assert [p.read_bytes() for p in superseded] == [csv_bytes(bad)]

    # monitoring now runs for the partition, against the unchanged champion
    assert materialized(trained, keys.drift_report, day)
    assert materialized(trained, keys.champion_performance, day)
    after = trained.registry.champion(spec.name)
    assert after.version == champion.version


def test_infinity_in_an_unbounded_float_column_is_quarantined(platform_factory):
    features = spec_dict("unused")["features"]
    features["income"] = {"type": "float"}  # no bounds: only the finite check stands between inf and training
    platform = platform_factory(make_spec(features=features))
    frame = good(START)
    frame.loc[[4, 17, 23], "income"] = [np.inf, -np.inf, np.inf]
    landed = platform.land(START, raw=csv_bytes(frame))
    assert b"inf" in landed.read_bytes()  # what a CSV writer makes of it, read back by the platform

    record = assert_refused(platform, START, landed, platform.ingest(START), "income", "finite")

    (problem,) = record["problems"]
    assert problem["rows"] == 3
    assert sorted(problem["examples"]) == ["-inf", "inf"]
