"""The integration scenarios' data still tells a clear story, checked in-process in seconds.

The daemon and Postgres tests take minutes and their dates move with the calendar, so when their data stops
producing the intended decisions (after a change to ``credit_frame``, the schema, the drift engine or the gate),
this test says so directly, with the platform's own functions and no Dagster or MLflow in the way: across dates
spread over a year, on three-day windows as ``SPEC_OVERRIDES`` trains them, every drifted day validates against
the spec; the first model on good data clears the gate's floor; the newest drifted day fails the drift check and
the champion's performance floor; and the candidate trained on the new regime is promoted over the old champion.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from retrain_platform.drift import ReferenceSketch, detect_drift
from retrain_platform.promotion.gate import decide_challenger, decide_first_model
from retrain_platform.promotion.metrics import METRICS, predict_for
from retrain_platform.spec.estimator import build_estimator, model_input
from retrain_platform.spec.schema import validate_partition
from retrain_platform.storage.lake import PARTITION_COLUMN
from retrain_platform.training.window import split_holdout
from retrain_platform_tests.conftest import credit_frame, make_spec
from retrain_platform_tests.integration.regimes import SPEC_OVERRIDES, drifted_frame

pytestmark = pytest.mark.slow

WINDOW_ENDS = [dt.date(2026, 1, 1) + dt.timedelta(days=k) for k in range(0, 365, 31)]


def window(spec, days: list[dt.date], make) -> pd.DataFrame:
    """Validated features of consecutive days, as the lake would hold them."""
    frames = []
    for day in days:
        result = validate_partition(make(day), spec)
        assert result.valid, f"{day}: {result.problems}"
        frames.append(result.frame.assign(**{PARTITION_COLUMN: day.isoformat()}))
    return pd.concat(frames, ignore_index=True)


def fit(spec, frame: pd.DataFrame):
    train, holdout = split_holdout(frame, spec.training)
    return build_estimator(spec).fit(model_input(train, spec), train[spec.target.name]), holdout


@pytest.mark.parametrize("end", WINDOW_ENDS, ids=str)
def test_drifted_window_fails_the_checks_and_its_candidate_is_promoted(end):
    spec = make_spec(**SPEC_OVERRIDES)
    metric = METRICS[spec.metric.name]
    target = spec.target.name
    days = [end - dt.timedelta(days=n) for n in range(spec.training.window_days - 1, -1, -1)]

    good = window(spec, days, credit_frame)
    champion, holdout = fit(spec, good)
    first_score = metric.score(holdout[target].to_numpy(), predict_for(metric, champion, model_input(holdout, spec)))
    first = decide_first_model(metric, first_score, spec.gate, len(holdout))
    assert first.promote, first.reason

    drifted = window(spec, days, drifted_frame)
    newest = drifted[drifted[PARTITION_COLUMN] == end.isoformat()]
    sketch = ReferenceSketch.from_frame(good[list(spec.features)], column_kinds=spec.drift_kinds)
    drift = detect_drift(newest[list(spec.features)], sketch, drift_share=spec.drift.share_threshold)
    assert drift.dataset_drift, f"drifted share {drift.drifted_share} below {spec.drift.share_threshold}"
    on_newest = metric.score(newest[target].to_numpy(), predict_for(metric, champion, model_input(newest, spec)))
    assert metric.below_floor(on_newest, spec.triggers.performance_floor), on_newest

    candidate, holdout = fit(spec, drifted)
    features = model_input(holdout, spec)
    decision = decide_challenger(
        metric,
        holdout[target].to_numpy(),
        predict_for(metric, candidate, features),
        predict_for(metric, champion, features),
        spec.gate,
    )
    assert decision.promote, decision.reason
    assert decision.ci_low > 0.1, decision.reason  # a clear margin, not a lucky draw
