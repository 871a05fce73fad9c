"""A crude drift indicator for the backtest datasets: never retrain vs weekly refit, straight in scikit-learn.

Run ``python -m retrain_platform_tests.benchmarks.backtest_drift [--dataset NAME]``.

Both policies start from one HistGradientBoosting model fitted on the first 30 days. ``never`` keeps it;
``weekly`` refits it every 7 days on the 30 days before. Each later day is scored with the model in force that
morning (ROC AUC for classification, RMSE for regression) and the mean daily metric of both policies is printed.
If weekly is clearly better, retraining matters on that dataset. Categorical columns are ordinal-encoded and
passed as categorical features; numeric nulls are left to the estimator. Deterministic (``random_state=0``).
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # the machine is shared: one core is enough

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor  # noqa: E402
from sklearn.metrics import mean_squared_error, roc_auc_score  # noqa: E402

from retrain_platform.spec import load_spec  # noqa: E402
from retrain_platform_tests.benchmarks.backtest_data import DATASETS, SPEC_DIR  # noqa: E402

WINDOW_DAYS = 30
REFIT_EVERY = 7


def _encode(frame: pd.DataFrame, categorical: list[str]) -> pd.DataFrame:
    out = frame.copy()
    for column in categorical:
        out[column] = out[column].astype("category").cat.codes.replace(-1, np.nan).astype("float64")
    return out


def compare(name: str) -> tuple[float, float, int]:
    """(mean daily metric never retraining, same refitting weekly, days scored) for one dataset."""
    spec = load_spec(SPEC_DIR / f"{name}.yaml")
    frame = DATASETS[name]()
    target = spec.target.name
    features = list(spec.features)
    categorical = [c for c, col in spec.features.items() if col.type in ("category", "string", "bool")]
    # A fixed code per value over the whole year (only an encoding: no statistic of later days leaks in).
    x_all = _encode(frame[features], categorical)
    mask = [c in categorical for c in features]
    days = sorted(frame["day"].unique())
    index = {day: np.flatnonzero(frame["day"].to_numpy() == day) for day in days}
    classify = spec.task == "classification"

    def fit(day_numbers: range):
        rows = np.concatenate([index[days[i]] for i in day_numbers])
        cls = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
        model = cls(categorical_features=mask, random_state=0)
        return model.fit(x_all.iloc[rows], frame[target].iloc[rows])

    def score(model, day: str) -> float:
        rows = index[day]
        y = frame[target].iloc[rows]
        if classify:
            if y.nunique() < 2:
                return np.nan
            return roc_auc_score(y, model.predict_proba(x_all.iloc[rows])[:, 1])
        return float(np.sqrt(mean_squared_error(y, model.predict(x_all.iloc[rows]))))

    first = fit(range(WINDOW_DAYS))
    weekly = first
    never_scores, weekly_scores = [], []
    for i in range(WINDOW_DAYS, len(days)):
        if (i - WINDOW_DAYS) % REFIT_EVERY == 0 and i > WINDOW_DAYS:
            weekly = fit(range(i - WINDOW_DAYS, i))
        never_scores.append(score(first, days[i]))
        weekly_scores.append(score(weekly, days[i]))
    return float(np.nanmean(never_scores)), float(np.nanmean(weekly_scores)), len(never_scores)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), action="append", help="repeatable; default: all")
    args = parser.parse_args(argv)
    for name in args.dataset or list(DATASETS):
        spec = load_spec(SPEC_DIR / f"{name}.yaml")
        never, weekly, scored = compare(name)
        print(f"{name}: mean daily {spec.metric.name} over {scored} days: never {never:.4f}, weekly {weekly:.4f}")


if __name__ == "__main__":
    main()
