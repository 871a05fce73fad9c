"""Automatic rollback: a new champion whose live metric falls below its predecessor's is replaced by it.

The gate promoted the champion on held-out *landed* data; live traffic with its delayed labels is the last word.
With ``feedback.rollback_margin`` set, once the champion has ``feedback.rollback_days`` judged live days (at least
``min_labels`` labelled predictions each), their mean metric is compared with the previous champion's mean over
its own last judged days; if it is worse by more than the margin, the alias goes back to the previous champion
through :func:`retrain_platform.operations.rollback`, recorded exactly like a manual rollback (the alias move
under the promotion lock, ``rollback.*`` tags, a ``production_model`` event) with the comparison as its reason.
"""

from __future__ import annotations

import math
from statistics import fmean

from dagster import DagsterInstance

from retrain_platform.check_history import CHAMPION_VERSION, latest_results
from retrain_platform.keys import ModelKeys
from retrain_platform.promotion.metrics import METRICS
from retrain_platform.registry import PREVIOUS_TAG, VersionInfo
from retrain_platform.spec.model_spec import ModelSpec

# Judged live days looked at when finding a version's newest ones.
_DAYS_READ = 90


def judged_live_scores(instance: DagsterInstance, spec: ModelSpec, version: str, days: int) -> list[float]:
    """The live metric of ``version`` on its newest ``days`` judged prediction days (latest result per day)."""
    metric = METRICS[spec.metric.name]
    scores = []
    for result in latest_results(instance, ModelKeys(spec.name).live_performance_check, limit=_DAYS_READ):
        value = result.metadata.get(metric.name)
        judged = isinstance(value, (int, float)) and math.isfinite(value)
        if judged and str(result.metadata.get(CHAMPION_VERSION)) == version:
            scores.append(float(value))
    return scores[:days]


def rollback_verdict(instance: DagsterInstance, spec: ModelSpec, champion: VersionInfo) -> str | None:
    """Why ``champion`` should be rolled back to its predecessor, or None when it should not (or cannot yet)."""
    feedback = spec.feedback
    previous = champion.tags.get(PREVIOUS_TAG)
    if feedback is None or feedback.rollback_margin is None or not previous:
        return None
    metric = METRICS[spec.metric.name]
    mine = judged_live_scores(instance, spec, champion.version, feedback.rollback_days)
    theirs = judged_live_scores(instance, spec, previous, feedback.rollback_days)
    if len(mine) < feedback.rollback_days or not theirs:
        return None
    loss = metric.gain(fmean(theirs), fmean(mine))
    if loss <= feedback.rollback_margin:
        return None
    return (
        f"v{champion.version}'s live {metric.name} {fmean(mine):.4f} over its last {len(mine)} judged day(s) is "
        f"{loss:.4f} worse than v{previous}'s {fmean(theirs):.4f} over {len(theirs)} "
        f"(margin {feedback.rollback_margin})"
    )
