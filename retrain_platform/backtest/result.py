"""What a backtest measured: each policy's day-by-day champion metric, fits, promotions and cost."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field


@dataclass
class BacktestDay:
    """One day of one policy: the champion's metric on the day, scored before anything trains on it."""

    day: str
    metric: float | None = None
    champion_version: str | None = None
    retrained: bool = False
    reason: str | None = None
    decision: str | None = None
    candidate_version: str | None = None
    gate_reason: str | None = None
    gate_version: str | None = None  # the version decided (an earlier candidate when it ends a probation)


@dataclass
class PolicyResult:
    """One policy's run over the whole period."""

    policy: str
    days: list[BacktestDay]
    fits: int
    promotions: int
    wall_seconds: float
    notes: list[str] = field(default_factory=list)

    def scored_days(self) -> set[str]:
        """The days on which this policy had a champion and its metric was defined."""
        return {d.day for d in self.days if d.metric is not None and math.isfinite(d.metric)}

    def mean_metric(self, over: set[str] | None = None) -> float | None:
        """The mean daily metric over ``over`` (default: every scored day); None when no day counts."""
        days = self.scored_days() if over is None else over
        values = [d.metric for d in self.days if d.day in days and d.metric is not None]
        return sum(values) / len(values) if values else None

    def to_json(self, over: set[str] | None = None) -> dict:
        """The JSON form: ``policy``, ``mean_metric``, ``fits``, ``promotions``, ``wall_seconds`` and ``days``."""
        return {
            "policy": self.policy,
            "mean_metric": self.mean_metric(over),
            "fits": self.fits,
            "promotions": self.promotions,
            "wall_seconds": round(self.wall_seconds, 2),
            "notes": self.notes,
            "days": [asdict(d) for d in self.days],
        }


@dataclass
class PromotionOutcome:
    """How a promoted model did against the champion it replaced, on the days after its promotion."""

    day: str
    new_version: str
    old_version: str
    days: int
    new_metric: float | None
    old_metric: float | None
    gain: float | None
    harmful: bool


@dataclass(frozen=True)
class PolicyGain:
    """How much better the spec's policy did than a baseline, per day, with a 95 % interval.

    Days next to each other share champions and weather, so they are not independent draws: the interval is a
    t-interval over the means of consecutive ``block_days``-day blocks (a batch-means interval), which stays honest
    when daily differences are autocorrelated, where a day-level interval would be too narrow.
    """

    mean: float
    low: float | None
    high: float | None
    blocks: int

    @property
    def significant(self) -> bool:
        """Whether the interval excludes zero."""
        return self.low is not None and (self.low > 0 or self.high < 0)

    def describe(self) -> str:
        """``+0.0012 [-0.0010, +0.0034]`` (positive: the spec's policy did better)."""
        if self.low is None:
            return f"{self.mean:+.4f}"
        return f"{self.mean:+.4f} [{self.low:+.4f}, {self.high:+.4f}]"


def policy_gain(
    policy: PolicyResult, baseline: PolicyResult, over: set[str], greater_is_better: bool, block_days: int = 7
) -> PolicyGain | None:
    """The spec policy's mean daily gain over ``baseline`` on the days ``over`` (see :class:`PolicyGain`)."""
    from scipy import stats

    mine = {d.day: d.metric for d in policy.days if d.day in over}
    theirs = {d.day: d.metric for d in baseline.days if d.day in over}
    sign = 1.0 if greater_is_better else -1.0
    daily = [sign * (mine[day] - theirs[day]) for day in sorted(over) if day in mine and day in theirs]
    if not daily:
        return None
    mean = sum(daily) / len(daily)
    blocks = [daily[i : i + block_days] for i in range(0, len(daily) - block_days + 1, block_days)]
    if len(blocks) < 2:
        return PolicyGain(mean, None, None, len(blocks))
    means = [sum(block) / len(block) for block in blocks]
    centre = sum(means) / len(means)
    spread = math.sqrt(sum((m - centre) ** 2 for m in means) / (len(means) - 1) / len(means))
    half = float(stats.t.ppf(0.975, len(means) - 1)) * spread
    return PolicyGain(mean, mean - half, mean + half, len(blocks))


@dataclass
class BacktestResult:
    """The spec's policy next to fixed schedules, all on the same days of the same data."""

    model: str
    metric: str
    greater_is_better: bool
    policy: PolicyResult
    baselines: list[PolicyResult]
    outcomes: list[PromotionOutcome]
    margin: float
    home: str | None = None

    def common_days(self) -> set[str]:
        """Days on which every policy had a scored champion: the only fair days to average over."""
        days = self.policy.scored_days()
        for baseline in self.baselines:
            days &= baseline.scored_days()
        return days

    def gain_over(self, baseline: PolicyResult) -> PolicyGain | None:
        """The spec policy's gain over ``baseline`` on the common days (positive: the policy did better)."""
        return policy_gain(self.policy, baseline, self.common_days(), self.greater_is_better)

    def to_json(self) -> dict:
        """The whole result as a JSON-ready dict (means over :meth:`common_days`)."""
        over = self.common_days()
        return {
            "model": self.model,
            "metric": self.metric,
            "greater_is_better": self.greater_is_better,
            "compared_days": len(over),
            **self.policy.to_json(over),
            "baselines": [{**b.to_json(over), "policy_gain": _gain_json(self.gain_over(b))} for b in self.baselines],
            "promotion_outcomes": {
                "horizon_days": max((o.days for o in self.outcomes), default=0),
                "margin": self.margin,
                "harmful": sum(o.harmful for o in self.outcomes),
                "evaluated": sum(o.gain is not None for o in self.outcomes),
                "promotions": [asdict(o) for o in self.outcomes],
            },
            "home": self.home,
        }


def _gain_json(gain: PolicyGain | None) -> dict | None:
    return None if gain is None else {**asdict(gain), "significant": gain.significant}
