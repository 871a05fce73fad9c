"""Synthetic frames for the drift tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

MIXED_KINDS = {
    "income": "numerical",
    "score": "numerical",
    "visits": "numerical",
    "city": "categorical",
    "device": "categorical",
    "promo": "categorical",
}


def mixed_frame(
    n: int,
    seed: int,
    *,
    mean_shift: float = 0.0,
    scale: float = 1.0,
    city_weights: tuple[float, ...] = (0.5, 0.3, 0.2),
    cities: tuple[str, ...] = ("paris", "lyon", "nice"),
) -> pd.DataFrame:
    """Numeric (continuous, skewed, integer counts), string, pandas categorical and boolean columns."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "income": rng.normal(50_000 + mean_shift * 10_000, 10_000 * scale, n),
            "score": rng.exponential(1.0, n) * scale + mean_shift,
            "visits": rng.poisson(20 + 10 * mean_shift, n),
            "city": rng.choice(cities, n, p=np.asarray(city_weights) / np.sum(city_weights)),
            "device": pd.Categorical(rng.choice(["ios", "android", "web"], n, p=[0.4, 0.4, 0.2])),
            "promo": rng.random(n) < 0.3,
        }
    )


CHURN_KINDS = {
    "tenure_months": "numerical",
    "monthly_charges": "numerical",
    "total_charges": "numerical",
    "support_calls": "numerical",
    "plan": "categorical",
    "region": "categorical",
    "paperless_billing": "categorical",
}


def churn_frame(n: int, seed: int, *, shifted: bool = False) -> pd.DataFrame:
    """A churn-style customer table; ``shifted`` is an abrupt change (price rise, new plan, new region)."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 73, n)
    plans = ["basic", "standard", "premium"] + (["family"] if shifted else [])
    plan_weights = [0.3, 0.3, 0.1, 0.3] if shifted else [0.5, 0.35, 0.15]
    monthly = rng.gamma(4.0, 15.0, n) * (1.25 if shifted else 1.0)
    regions = ["north", "south", "east", "west"] + (["overseas"] if shifted else [])
    return pd.DataFrame(
        {
            "tenure_months": (tenure // 2 if shifted else tenure).astype(np.int64),
            "monthly_charges": monthly,
            "total_charges": monthly * tenure,
            "support_calls": rng.poisson(1.0, n).clip(0, 4),
            "plan": pd.Categorical(rng.choice(plans, n, p=plan_weights)),
            "region": rng.choice(regions, n),
            "paperless_billing": rng.random(n) < (0.8 if shifted else 0.6),
        }
    )
