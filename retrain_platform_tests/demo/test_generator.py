"""The demo's synthetic data: valid for the bundled specs, deterministic, drifting where the story says it does."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from retrain_platform.demo.generator import churn_day, corrupt, land, sales_day
from retrain_platform.demo.replay import EXAMPLES
from retrain_platform.spec import load_spec
from retrain_platform.spec.schema import validate_partition

CHURN = load_spec(EXAMPLES / "churn.yaml")
SALES = load_spec(EXAMPLES / "sales.yaml")
DAY = dt.date(2026, 1, 5)
DRIFT = dt.date(2026, 1, 20)


@pytest.mark.parametrize("offset", [0, 30])  # before and after the pricing change
def test_churn_days_validate_against_the_churn_spec(offset):
    result = validate_partition(churn_day(DAY + dt.timedelta(days=offset), DRIFT), CHURN)
    assert result.valid, result.problems
    assert 900 <= len(result.frame) <= 1100


@pytest.mark.parametrize("offset", [0, 100, 200])  # across the seasons
def test_sales_days_validate_against_the_sales_spec(offset):
    result = validate_partition(sales_day(DAY + dt.timedelta(days=offset)), SALES)
    assert result.valid, result.problems


def test_days_are_deterministic_per_model_day_and_seed():
    pd.testing.assert_frame_equal(churn_day(DAY, DRIFT), churn_day(DAY, DRIFT))
    pd.testing.assert_frame_equal(sales_day(DAY, seed=3), sales_day(DAY, seed=3))
    assert not churn_day(DAY, DRIFT).equals(churn_day(DAY + dt.timedelta(days=1), DRIFT))
    assert not sales_day(DAY, seed=0).equals(sales_day(DAY, seed=1))


def test_churn_drifts_abruptly_on_the_drift_date():
    before = pd.concat([churn_day(DRIFT - dt.timedelta(days=i), DRIFT) for i in range(1, 4)])
    after = pd.concat([churn_day(DRIFT + dt.timedelta(days=i), DRIFT) for i in range(0, 3)])
    assert after["monthly_charges"].mean() - before["monthly_charges"].mean() > 30
    assert after["support_calls"].mean() > before["support_calls"].mean() + 1
    assert (after["plan"] == "premium").mean() > (before["plan"] == "premium").mean() + 0.2
    # the day before the change is still the old regime
    last_old = churn_day(DRIFT - dt.timedelta(days=1), DRIFT)
    assert abs(last_old["monthly_charges"].mean() - before["monthly_charges"].mean()) < 5


def test_a_corrupted_delivery_is_refused_with_every_problem():
    good = churn_day(DAY, DRIFT)
    bad = corrupt(good)
    result = validate_partition(bad, CHURN)
    assert not result.valid
    columns = {p["column"] for p in result.problems}
    dropped = (set(good.columns) - set(bad.columns)).pop()
    assert dropped in columns  # the missing column
    assert any(p["rows"] >= 25 for p in result.problems if p["column"] != dropped)  # the -999 values


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_land_writes_atomically_under_the_days_name(tmp_path, fmt):
    frame = sales_day(DAY)
    path = land(frame, tmp_path / "landing", DAY, fmt)
    assert path == tmp_path / "landing" / f"{DAY.isoformat()}.{fmt}"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no partial dot-file left behind
    back = pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
    assert len(back) == len(frame)
    assert np.allclose(back["price"], frame["price"])
