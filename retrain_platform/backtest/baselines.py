"""Fixed-schedule baselines: what a cron job refitting the same model every N days would have scored.

A baseline is the plain script a platform must beat: no triggers, no gate, every refit deployed. It reuses the
platform's own pieces on the validated features the policy's replay wrote, so it sees exactly the same days
(quarantined ones excluded), the same window rule, estimator, preprocessing and input conversion: only the
decision of *when* to retrain and *whether* to deploy differs.
"""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pandas as pd

from retrain_platform.backtest.result import BacktestDay, PolicyResult
from retrain_platform.promotion.metrics import metric_for, predict_for
from retrain_platform.spec.estimator import model_input
from retrain_platform.spec.model_spec import ModelSpec
from retrain_platform.storage.lake import Lake
from retrain_platform.training.fit import fit_model
from retrain_platform.training.window import split_holdout, window_partitions


def schedule_name(every: int | None) -> str:
    """A baseline's name in tables and JSON."""
    if every is None:
        return "never retrain"
    return "refit every day" if every == 1 else f"refit every {every} days"


class FeatureCache:
    """Each valid partition's features, read from the lake once for all baselines."""

    def __init__(self, lake: Lake, model: str):
        self.lake, self.model = lake, model
        self.frames: dict[str, pd.DataFrame] = {}

    def day(self, partition: str) -> pd.DataFrame:
        """One partition's features."""
        if partition not in self.frames:
            self.frames[partition] = self.lake.read_features(self.model, [partition])
        return self.frames[partition]

    def window(self, partitions: list[str]) -> pd.DataFrame:
        """Several partitions' features, oldest first."""
        return pd.concat([self.day(p) for p in partitions], ignore_index=True)


def score_day(spec: ModelSpec, model, frame: pd.DataFrame) -> float | None:
    """``model``'s primary metric on one day's rows; None where it is undefined (e.g. one class only)."""
    y_true = frame[spec.target.name].to_numpy()
    try:
        metric = metric_for(spec, model, y=y_true)
        value = metric.score(y_true, predict_for(metric, model, model_input(frame, spec)))
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def run_schedule(spec: ModelSpec, cache: FeatureCache, days: list[dt.date], every: int | None) -> PolicyResult:
    """Replay a fixed schedule: score the current model on each day, then refit when the schedule says so.

    The first model is fit on the first day whose window meets ``training.min_partitions`` and ``min_rows``
    (the platform's rule for a first model); ``every`` days later the next, and so on (``None``: never again).
    """
    started = time.perf_counter()
    valid = set(cache.lake.feature_partitions(spec.name))
    model, last_fit, fits, rows = None, None, 0, []
    seen: list[str] = []
    for day in days:
        key = day.isoformat()
        row = BacktestDay(day=key)
        if key in valid:
            seen.append(key)
            if model is not None:
                row.metric = score_day(spec, model, cache.day(key))
                row.champion_version = str(fits)
        due = model is None or (every is not None and last_fit is not None and (day - last_fit).days >= every)
        if due and key in valid:
            partitions = window_partitions(seen, spec.training.window_days)
            frame = cache.window(partitions)
            enough = len(partitions) >= spec.training.min_partitions and len(frame) >= spec.training.min_rows
            if enough:
                train = frame if spec.training.refit_on_full_window else split_holdout(frame, spec.training)[0]
                model, last_fit, fits = fit_model(spec, train), day, fits + 1
                row.retrained, row.decision, row.reason = True, "deployed", "schedule"
        rows.append(row)
    return PolicyResult(schedule_name(every), rows, fits, fits, time.perf_counter() - started)
