"""Fitting a spec's estimator on a frame of validated features: the one place a model of a spec is trained.

Training (``candidate_model``) and the backtest's fixed-schedule baselines both call it, so a baseline is the
same estimator, preprocessing and input conversion as the platform's own candidates.
"""

from __future__ import annotations

import pandas as pd
from sklearn.base import BaseEstimator

from retrain_platform.spec.estimator import build_estimator, model_input
from retrain_platform.spec.model_spec import ModelSpec


def fit_model(spec: ModelSpec, frame: pd.DataFrame) -> BaseEstimator:
    """A fresh estimator of ``spec`` fit on ``frame``'s features and target."""
    estimator = build_estimator(spec)
    estimator.fit(model_input(frame, spec), frame[spec.target.name])
    return estimator
