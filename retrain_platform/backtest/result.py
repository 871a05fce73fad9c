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

    def to_json(self) -> dict:
        """The whole result as a JSON-ready dict (means over :meth:`common_days`)."""
        over = self.common_days()
        return {
            "model": self.model,
            "metric": self.metric,
            "greater_is_better": self.greater_is_better,
            "compared_days": len(over),
            **self.policy.to_json(over),
            "baselines": [b.to_json(over) for b in self.baselines],
            "promotion_outcomes": {
                "horizon_days": max((o.days for o in self.outcomes), default=0),
                "margin": self.margin,
                "harmful": sum(o.harmful for o in self.outcomes),
                "evaluated": sum(o.gain is not None for o in self.outcomes),
                "promotions": [asdict(o) for o in self.outcomes],
            },
            "home": self.home,
        }
