"""Trigger signals: drift hysteresis, performance windows, and the episodes the retrain reason reads."""

from __future__ import annotations

import math

import pytest

from retrain_platform.check_history import PastCheckResult
from retrain_platform.monitoring.signals import (
    drift_signal,
    episode_start,
    performance_signal,
    performance_window,
)
from retrain_platform.promotion.metrics import METRICS

AUC, RMSE = METRICS["roc_auc"], METRICS["rmse"]


def past(day: str, passed: bool, since: str = "", version: str = "1", **metadata) -> PastCheckResult:
    return PastCheckResult(day, passed, {"failing_since": since, "champion_version": version, **metadata})


def test_a_failure_continues_the_previous_days_episode_only_for_the_same_champion():
    before = past("2026-01-01", passed=False, since="2025-12-30")
    assert episode_start(True, "2026-01-02", before, "1") == "2025-12-30"
    assert episode_start(True, "2026-01-02", before, "2") == "2026-01-02"  # a new champion, a new question
    assert episode_start(True, "2026-01-02", past("2026-01-01", passed=True), "1") == "2026-01-02"
    assert episode_start(False, "2026-01-02", before, "1") is None


def test_drift_hysteresis_over_a_swinging_share():
    shares = [0.45, 0.3, 0.41, 0.25, 0.19, 0.41]
    previous, verdicts = None, []
    for i, share in enumerate(shares):
        day = f"2026-01-{i + 1:02d}"
        signal = drift_signal(
            share, partition=day, champion_version="1", share_threshold=0.4, clear_ratio=0.5, previous=previous
        )
        verdicts.append((signal.failing, signal.failing_since))
        previous = past(day, not signal.failing, signal.failing_since or "")
    assert verdicts == [
        (True, "2026-01-01"),
        (True, "2026-01-01"),
        (True, "2026-01-01"),
        (True, "2026-01-01"),
        (False, None),  # below 0.4 * 0.5
        (True, "2026-01-06"),  # a new episode
    ]


def test_clear_ratio_one_is_plain_threshold_crossing():
    open_episode = past("2026-01-01", passed=False, since="2026-01-01")
    signal = drift_signal(
        0.39, partition="2026-01-02", champion_version="1", share_threshold=0.4, clear_ratio=1.0, previous=open_episode
    )
    assert not signal.failing and "cleared" in signal.detail


def test_the_performance_window_uses_only_the_same_champions_defined_scores():
    earlier = [
        past("2026-01-04", True, roc_auc=0.70),
        past("2026-01-03", True, roc_auc=float("nan")),
        past("2026-01-02", True, roc_auc=0.60),
        past("2026-01-01", True, version="0", roc_auc=0.10),
    ]
    window = performance_window(AUC, 0.65, "1", earlier, window=7)
    assert window.scores == (0.65, 0.70, 0.60)
    assert window.mean == pytest.approx(0.65)
    assert performance_window(AUC, 0.65, "1", earlier, window=2).scores == (0.65, 0.70)
    assert math.isnan(performance_window(AUC, float("nan"), "1", [], window=3).mean)


def signal(metric, scores, floor=None, drop=None, holdout=None):
    window = performance_window(metric, scores[0], "1", [past("x", True, **{metric.name: s}) for s in scores[1:]], 99)
    return performance_signal(
        metric,
        window,
        partition="d",
        champion_version="1",
        floor=floor,
        drop=drop,
        holdout_score=holdout,
        previous=None,
    )


def test_one_bad_day_in_a_good_week_is_not_below_the_floor():
    assert signal(AUC, [0.55, 0.66, 0.64, 0.65, 0.67, 0.63, 0.66], floor=0.6).failing is False
    assert signal(AUC, [0.55], floor=0.6).failing is True  # a window of one is the old, noisy rule
    assert signal(AUC, [0.58, 0.57, 0.59, 0.60, 0.58], floor=0.6).failing is True


def test_a_decline_must_beat_the_margin_and_the_noise():
    steady_drop = [0.70, 0.71, 0.70, 0.69, 0.70]  # 0.10 below a 0.80 holdout score, with little spread
    assert signal(AUC, steady_drop, drop=0.05, holdout=0.80).failing
    assert not signal(AUC, steady_drop, drop=0.15, holdout=0.80).failing  # within the allowed margin
    noisy = [0.95, 0.60, 0.90, 0.55, 0.75]  # mean 0.75 but the days swing by ±0.2
    assert not signal(AUC, noisy, drop=0.01, holdout=0.80).failing
    assert not signal(AUC, [0.5], drop=0.01, holdout=0.80).failing  # one day has no spread: never a decline


def test_error_metrics_decline_upwards():
    assert signal(RMSE, [1.4, 1.5, 1.45], drop=0.2, holdout=1.0).failing
    assert signal(RMSE, [1.4, 1.5, 1.45], floor=1.2).failing
    assert not signal(RMSE, [0.9, 1.0, 0.95], floor=1.2, drop=0.2, holdout=1.0).failing
