"""Which partitions a candidate learns from (a calendar window) and which rows judge it (a temporal holdout)."""

from __future__ import annotations

import pandas as pd
import pytest

from retrain_platform.spec.model_spec import TrainingSpec
from retrain_platform.storage.lake import PARTITION_COLUMN
from retrain_platform.training.window import split_holdout, window_partitions

DAYS = [f"2026-03-{d:02d}" for d in range(1, 11)]


def test_no_valid_partitions_give_an_empty_window():
    assert window_partitions([], 7) == []


def test_window_ends_at_the_newest_valid_partition():
    assert window_partitions(DAYS, 3) == ["2026-03-08", "2026-03-09", "2026-03-10"]
    assert window_partitions(DAYS, 1) == ["2026-03-10"]
    assert window_partitions(DAYS, 30) == DAYS


def test_missing_days_shrink_the_window_instead_of_reaching_back():
    # 03-05..03-07 quarantined or never landed: a 5-day window ending 03-10 starts at 03-06 regardless
    valid = ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04", "2026-03-08", "2026-03-09", "2026-03-10"]
    assert window_partitions(valid, 5) == ["2026-03-08", "2026-03-09", "2026-03-10"]
    assert window_partitions(valid, 7) == ["2026-03-04", "2026-03-08", "2026-03-09", "2026-03-10"]


def test_window_crosses_month_ends_by_calendar_days():
    valid = ["2026-02-26", "2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02"]
    assert window_partitions(valid, 3) == ["2026-02-28", "2026-03-01", "2026-03-02"]


def _frame(rows_per_day: dict[str, int]) -> pd.DataFrame:
    parts = [
        pd.DataFrame({PARTITION_COLUMN: day, "row": [f"{day}#{i}" for i in range(n)]})
        for day, n in rows_per_day.items()
    ]
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5])
def test_holdout_is_the_newest_fraction_of_rows(fraction):
    frame = _frame({"2026-03-03": 40, "2026-03-01": 30, "2026-03-02": 30})  # not in date order
    train, holdout = split_holdout(frame, TrainingSpec(holdout_fraction=fraction))

    assert len(train) + len(holdout) == 100
    assert len(holdout) == round(100 * fraction)
    assert train[PARTITION_COLUMN].max() <= holdout[PARTITION_COLUMN].min()  # nothing from the future in training
    assert set(train["row"]).isdisjoint(holdout["row"])
    assert set(train["row"]) | set(holdout["row"]) == set(frame["row"])


def test_holdout_keeps_row_order_within_a_day():
    frame = _frame({"2026-03-01": 10, "2026-03-02": 10})
    train, holdout = split_holdout(frame, TrainingSpec(holdout_fraction=0.2))
    assert list(holdout["row"]) == [f"2026-03-02#{i}" for i in range(6, 10)]
    assert list(train["row"][:3]) == ["2026-03-01#0", "2026-03-01#1", "2026-03-01#2"]
