"""How one day's drift share and champion score become a trigger signal that means something.

A retrain is started when a trigger check *newly* fails on the newest landed partition. Two things made that
fire on noise on real data, and this module is the cure for both:

- **one noisy day**: the performance check judges the mean of the champion's last ``performance_window_days``
  scores, and a decline against the champion's own holdout score must exceed the spec's ``performance_drop``
  *and* two standard errors of those daily scores;
- **a share that swings around its threshold**: once the drift check fails it stays failing, for the same
  champion, until the share falls below ``share_threshold * clear_ratio`` (hysteresis), so one drift episode
  starts one retrain, not one per crossing.

Each verdict carries ``failing_since``, the first partition of its failure episode, recorded in the check's
metadata; the retrain's reason names the trigger whose episode began most recently (the one that fired).
The functions are pure: the earlier days' results are passed in (see :mod:`retrain_platform.check_history`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from retrain_platform.check_history import CHAMPION_VERSION, FAILING_SINCE, PastCheckResult
from retrain_platform.promotion.metrics import Metric


@dataclass(frozen=True)
class Signal:
    """A trigger check's verdict on one partition and the episode it belongs to."""

    failing: bool
    failing_since: str | None
    """First partition of the current failure episode (None when passing)."""
    detail: str
    """Why, in words, for the check's description."""


def episode_start(failing: bool, partition: str, previous: PastCheckResult | None, champion_version: str) -> str | None:
    """The first partition of the failure episode ``partition`` is in, if it is failing.

    An episode continues from the previous partition only for the same champion: a new champion is a new
    question, and a failure against it is a new episode.
    """
    if not failing:
        return None
    if (
        previous is not None
        and not previous.passed
        and str(previous.metadata.get(CHAMPION_VERSION)) == str(champion_version)
        and previous.metadata.get(FAILING_SINCE)
    ):
        return str(previous.metadata[FAILING_SINCE])
    return partition


def drift_signal(
    drifted_share: float,
    *,
    partition: str,
    champion_version: str,
    share_threshold: float,
    clear_ratio: float,
    previous: PastCheckResult | None,
) -> Signal:
    """Drift with hysteresis: fails at ``share_threshold``, and once failing, until below ``share * clear_ratio``."""
    open_episode = episode_start(True, partition, previous, champion_version) != partition
    level = share_threshold * clear_ratio if open_episode else share_threshold
    failing = drifted_share >= level
    if open_episode and failing and drifted_share < share_threshold:
        detail = f"still drifting: {drifted_share:.0%} of columns, episode clears below {level:.0%}"
    elif open_episode and not failing:
        detail = f"drift cleared: {drifted_share:.0%} of columns, below {level:.0%}"
    else:
        detail = f"{drifted_share:.0%} of columns drifted (threshold {share_threshold:.0%})"
    return Signal(failing, episode_start(failing, partition, previous, champion_version), detail)


@dataclass(frozen=True)
class PerformanceWindow:
    """The champion's recent scores: today's and up to ``window - 1`` earlier ones against the same champion."""

    scores: tuple[float, ...]

    @property
    def mean(self) -> float:
        """Mean of the defined scores (NaN when none is)."""
        return float(np.mean(self.scores)) if self.scores else float("nan")

    @property
    def standard_error(self) -> float:
        """Standard error of that mean from the day-to-day spread (NaN with fewer than two scores)."""
        if len(self.scores) < 2:
            return float("nan")
        return float(np.std(self.scores, ddof=1) / math.sqrt(len(self.scores)))


def performance_window(
    metric: Metric, today: float, champion_version: str, earlier: Sequence[PastCheckResult], window: int
) -> PerformanceWindow:
    """Today's score and the champion's scores on the ``window - 1`` partitions before it (undefined ones skipped)."""
    scores = [today] if math.isfinite(today) else []
    for result in earlier[: window - 1]:
        if str(result.metadata.get(CHAMPION_VERSION)) != str(champion_version):
            break  # an older champion's scores say nothing about this one
        value = result.metadata.get(metric.name)
        if isinstance(value, (int, float)) and math.isfinite(value):
            scores.append(float(value))
    return PerformanceWindow(tuple(scores))


def performance_signal(
    metric: Metric,
    window: PerformanceWindow,
    *,
    partition: str,
    champion_version: str,
    floor: float | None,
    drop: float | None,
    holdout_score: float | None,
    previous: PastCheckResult | None,
) -> Signal:
    """Fails when the window's mean is below ``floor``, or has declined from the holdout score beyond noise.

    The decline test needs at least two scores: with one, the spread of the daily score is unknown and one
    day is exactly the noise this trigger must not answer.
    """
    mean = window.mean
    reasons = []
    if floor is not None and math.isfinite(mean) and metric.below_floor(mean, floor):
        reasons.append(f"below the floor {floor}")
    if drop is not None and holdout_score is not None and math.isfinite(mean) and len(window.scores) >= 2:
        decline = metric.gain(holdout_score, mean)
        noise = 2 * window.standard_error
        if decline > drop and decline > noise:
            reasons.append(
                f"{decline:.4f} worse than its holdout score {holdout_score:.4f} (allowed {drop}, noise ±{noise:.4f})"
            )
    failing = bool(reasons)
    shown = f"{mean:.4f}" if math.isfinite(mean) else "undefined"
    detail = f"mean {metric.name} {shown} over {len(window.scores)} day(s)" + (
        f": {'; '.join(reasons)}" if reasons else ""
    )
    return Signal(failing, episode_start(failing, partition, previous, champion_version), detail)
