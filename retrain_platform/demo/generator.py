"""Synthetic daily data for the example specs, deterministic per (model, day, seed).

``churn``: a subscription business whose pricing changes abruptly on ``drift_date``: charges jump, premium
plans and support calls grow, and churn starts to hinge on charges, so the old model both sees drift and
loses accuracy. ``sales``: store demand with a yearly temperature cycle and a slowly strengthening weather effect,
the kind of seasonal drift that a scheduled retrain absorbs.
"""

from __future__ import annotations

import datetime as dt
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from upath import UPath

from retrain_platform.storage.lake import write_frame


def _rng(model: str, day: dt.date, seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(model.encode()), day.toordinal()])


def churn_day(
    day: dt.date, drift_date: dt.date, seed: int = 0, rows: int = 1000, competitor_from: dt.date | None = None
) -> pd.DataFrame:
    """One day of churn data; from ``drift_date`` on, the post-pricing-change regime.

    From ``competitor_from`` on (the live demo's scenario), a competitor's launch reverses what tenure means:
    long-standing customers are now the ones who leave, which a model trained before cannot know.
    """
    rng = _rng("churn", day, seed)
    n = int(rows * rng.uniform(0.9, 1.1))
    after = day >= drift_date
    plan = rng.choice(["basic", "standard", "premium"], n, p=[0.2, 0.3, 0.5] if after else [0.5, 0.35, 0.15])
    tenure = rng.integers(0, 72, n)
    base = pd.Series(plan).map({"basic": 30.0, "standard": 55.0, "premium": 80.0}).to_numpy()
    charges = base + rng.normal(0, 8, n) + (35.0 if after else 0.0)
    calls = rng.poisson(3.5 if after else 1.5, n)
    usage = rng.gamma(2.0, 10.0, n)
    usage[rng.random(n) < 0.02] = np.nan
    autopay = rng.random(n) < 0.6
    competitor = competitor_from is not None and day >= competitor_from
    logit = (-3.5 + 0.06 * tenure if competitor else -1.0 - 0.04 * tenure) + 0.35 * calls - 0.6 * autopay
    logit = logit + (0.08 * (charges - 90.0) if after else 0.01 * (charges - 50.0))
    churned = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {
            "tenure_months": tenure,
            "monthly_charges": charges.clip(0, None).round(2),
            "support_calls": calls,
            "data_usage_gb": usage.round(3),
            "plan": plan,
            "region": rng.choice(["north", "south", "east", "west"], n),
            "autopay": autopay,
            "churned": churned,
        }
    )


def sales_day(day: dt.date, seed: int = 0, rows: int = 600) -> pd.DataFrame:
    """One day of store sales; the temperature effect grows through the year (seasonal drift)."""
    rng = _rng("sales", day, seed)
    n = int(rows * rng.uniform(0.9, 1.1))
    season = np.sin(2 * np.pi * (day.timetuple().tm_yday - 100) / 365.0)
    temperature = 12 + 14 * season + rng.normal(0, 4, n)
    temperature[rng.random(n) < 0.03] = np.nan
    store_type = rng.choice(["mall", "street", "outlet"], n, p=[0.4, 0.4, 0.2])
    size = rng.uniform(200, 5000, n)
    price = rng.uniform(2, 40, n)
    promo = rng.random(n) < 0.2
    weather_effect = 1.0 + (day.toordinal() % 365) / 120.0
    mean = (
        20
        + 0.01 * size
        - 0.8 * price
        + 15 * promo
        + weather_effect * np.nan_to_num(temperature, nan=12.0)
        + pd.Series(store_type).map({"mall": 10.0, "street": 0.0, "outlet": -5.0}).to_numpy()
        + 6 * (day.weekday() >= 5)
    )
    return pd.DataFrame(
        {
            "store_size": size.round(1),
            "price": price.round(2),
            "promo": promo,
            "day_of_week": np.full(n, day.weekday()),
            "temperature": temperature.round(1),
            "store_type": store_type,
            "units_sold": np.clip(mean + rng.normal(0, 8, n), 0, None).round(1),
        }
    )


def corrupt(frame: pd.DataFrame, rng_seed: int = 0) -> pd.DataFrame:
    """A realistic bad delivery: a dropped column, negative values, and an unknown category."""
    rng = np.random.default_rng(rng_seed)
    bad = frame.copy()
    bad = bad.drop(columns=[bad.columns[-2]])
    numeric = bad.select_dtypes("number").columns[1]
    bad.loc[rng.choice(len(bad), 25, replace=False), numeric] = -999
    return bad


def land(frame: pd.DataFrame, folder: Path | UPath, day: dt.date, fmt: str) -> Path | UPath:
    """Write a day's file into a landing folder atomically, as the lake writes (a landing sensor never sees half
    a file), on disk or on an object store."""
    path = folder / f"{day.isoformat()}.{fmt}"
    write_frame(path, frame, fmt)
    return path
