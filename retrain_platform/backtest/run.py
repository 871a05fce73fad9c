"""``retrain backtest``: the spec's policy against fixed schedules, on a folder of real daily files.

1. The spec's policy is replayed through the real platform (:mod:`retrain_platform.backtest.policy`).
2. Each fixed schedule (never, every 30, 7 and 1 days by default) refits the same model on the features that
   replay validated (:mod:`retrain_platform.backtest.baselines`).
3. Every promotion of the policy is checked after the fact: did the new champion beat the one it replaced on
   the next days (which neither had seen)? A promotion that made them worse by more than the gate's margin is
   counted as harmful.

Means are taken over the days on which every policy had a champion, so no policy is flattered by starting later.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from retrain_platform.backtest.baselines import FeatureCache, run_schedule, score_day
from retrain_platform.backtest.data import daily_files
from retrain_platform.backtest.policy import replay_policy
from retrain_platform.backtest.result import BacktestResult, PolicyResult, PromotionOutcome
from retrain_platform.orchestration.replay import Replay
from retrain_platform.promotion.metrics import METRICS
from retrain_platform.registry import PREVIOUS_TAG
from retrain_platform.spec.model_spec import ModelSpec

DEFAULT_SCHEDULES: tuple[int | None, ...] = (None, 30, 7, 1)
OUTCOME_HORIZON_DAYS = 7


def promotion_outcomes(
    spec: ModelSpec, policy: PolicyResult, replay: Replay, cache: FeatureCache, horizon: int = OUTCOME_HORIZON_DAYS
) -> list[PromotionOutcome]:
    """Each challenger promotion of ``policy`` scored against the champion it replaced on the next ``horizon``
    valid days (first-model promotions replace nothing and are left out)."""
    metric = METRICS[spec.metric.name]
    registry = replay.defs.resources["registry"]
    valid = cache.lake.feature_partitions(spec.name)
    outcomes = []
    for row in policy.days:
        if row.decision != "promoted":
            continue
        new = registry.version(spec.name, row.gate_version or row.candidate_version)
        old_version = new.tags.get(PREVIOUS_TAG)
        if not old_version:
            continue
        later = [p for p in valid if p > row.day][:horizon]
        old = registry.version(spec.name, old_version)
        new_model, old_model = registry.load(new), registry.load(old)
        pairs = [(score_day(spec, new_model, cache.day(p)), score_day(spec, old_model, cache.day(p))) for p in later]
        pairs = [(n, o) for n, o in pairs if n is not None and o is not None]
        new_metric = sum(n for n, _ in pairs) / len(pairs) if pairs else None
        old_metric = sum(o for _, o in pairs) / len(pairs) if pairs else None
        gain = metric.gain(new_metric, old_metric) if pairs else None
        outcomes.append(
            PromotionOutcome(
                row.day,
                new.version,
                old_version,
                len(pairs),
                new_metric,
                old_metric,
                gain,
                harmful=gain is not None and gain < -spec.gate.min_improvement,
            )
        )
    return outcomes


def run_backtest(
    spec: ModelSpec,
    data: Path,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    schedules: Sequence[int | None] = DEFAULT_SCHEDULES,
    home: Path | None = None,
    echo: Callable[[str], None] = print,
) -> BacktestResult:
    """Backtest ``spec`` on the daily files of ``data``; state goes to ``home`` (kept) or a temporary folder."""
    files = daily_files(data, start, end)
    keep = home is not None
    home = Path(home) if keep else Path(tempfile.mkdtemp(prefix=f"retrain-backtest-{spec.name}-"))
    try:
        echo(f"backtest of {spec.name}: {len(files)} days from {files[0].day} to {files[-1].day}, home {home}")
        policy, replay = replay_policy(spec, files, home, echo)
        cache = FeatureCache(replay.lake, spec.name)
        baselines = []
        for every in schedules:
            baselines.append(run_schedule(spec, cache, [f.day for f in files], every))
            echo(f"  baseline {baselines[-1].policy}: {baselines[-1].fits} fits in {baselines[-1].wall_seconds:.0f} s")
        outcomes = promotion_outcomes(spec, policy, replay, cache)
        metric = METRICS[spec.metric.name]
        return BacktestResult(
            model=spec.name,
            metric=metric.name,
            greater_is_better=metric.greater_is_better,
            policy=policy,
            baselines=baselines,
            outcomes=outcomes,
            margin=spec.gate.min_improvement,
            home=str(home) if keep else None,
        )
    finally:
        if not keep:
            shutil.rmtree(home, ignore_errors=True)
