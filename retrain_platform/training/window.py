"""Which rows a candidate learns from, and which it is judged on."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from retrain_platform.spec.model_spec import TrainingSpec
from retrain_platform.storage.lake import PARTITION_COLUMN


def window_partitions(valid: list[str], window_days: int) -> list[str]:
    """The valid partitions within ``window_days`` calendar days ending at the newest valid partition.

    Calendar days, not a count of partitions: quarantined or missing days shrink the window rather than
    stretching it back into older data.
    """
    if not valid:
        return []
    end = dt.date.fromisoformat(valid[-1])
    start = (end - dt.timedelta(days=window_days - 1)).isoformat()
    return [p for p in valid if p >= start]


def split_holdout(frame: pd.DataFrame, training: TrainingSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a window into (train, holdout): the holdout is the newest ``holdout_fraction`` of rows.

    A temporal split, because the question after drift is how a model does on what comes next, and a random
    split would leak tomorrow's rows into training.
    """
    ordered = frame.sort_values(PARTITION_COLUMN, kind="stable").reset_index(drop=True)
    cut = int(round(len(ordered) * (1 - training.holdout_fraction)))
    return ordered.iloc[:cut], ordered.iloc[cut:]
