"""A three-class model end to end on real data (scikit-learn's wine data set, shipped offline), and the
first-model / retrain partition minimums.

The first window holds only two of the three cultivars, so the champion's ``predict_proba`` has two columns and
the next candidate's three: training, monitoring and the gate must all score them on the spec's one label order.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_wine

from retrain_platform_tests.conftest import START, credit_frame, make_spec
from retrain_platform_tests.training.test_candidate import failure_message

FIRST_DAYS, LATER_DAYS = 3, 3


def day(i: int) -> dt.date:
    return START + dt.timedelta(days=i)


def wine_days() -> list[pd.DataFrame]:
    """Six daily partitions of the wine data: days 0-2 hold cultivars 0 and 1 only; class 2 arrives from day 3."""
    wine = load_wine(as_frame=True)
    frame = wine.frame.rename(columns=lambda c: c.replace("/", "_")).rename(columns={"target": "cultivar"})
    frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    early = frame[frame["cultivar"] != 2]
    first, rest = early.iloc[:105], pd.concat([early.iloc[105:], frame[frame["cultivar"] == 2]])
    rest = rest.sample(frac=1.0, random_state=1).reset_index(drop=True)
    return [part.reset_index(drop=True) for part in np.array_split(first, FIRST_DAYS)] + [
        part.reset_index(drop=True) for part in np.array_split(rest, LATER_DAYS)
    ]


def wine_spec(metric: dict):
    features = {name: {"type": "float", "min": 0} for name in wine_days()[0].columns if name != "cultivar"}
    return make_spec(
        target={"name": "cultivar", "type": "int", "categories": [0, 1, 2]},
        features=features,
        landing={"path": "landing/wine", "format": "parquet"},
        model={"estimator": {"class": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 2000}}},
        training={"window_days": 10, "min_partitions": 3, "min_rows": 50, "holdout_fraction": 0.3},
        metric=metric,
        gate={"min_improvement": 0.0, "confidence": 0.9, "bootstrap_samples": 200},
        triggers={"drift": False},
    )


def materialized(platform, key) -> dict:
    event = platform.instance.get_latest_materialization_event(key)
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


@pytest.mark.parametrize("metric", [{"name": "roc_auc"}, {"name": "f1", "average": "macro"}], ids=["roc_auc", "f1"])
def test_three_classes_train_monitor_and_gate_on_one_label_order(platform_factory, metric):
    spec = wine_spec(metric)
    platform = platform_factory(spec)
    keys, name, days = platform.keys, spec.name, wine_days()
    for i in range(FIRST_DAYS):
        platform.land(day(i), days[i])
        assert platform.ingest(day(i)).success
    run = platform.retrain()
    assert run.success, failure_message(run)
    champion = platform.registry.champion(name)
    assert champion.version == "1"
    assert list(platform.registry.load(champion).classes_) == [0, 1]  # cultivar 2 not seen yet
    first_score = materialized(platform, keys.candidate_model)[f"holdout_{metric['name']}"]
    assert 0.8 < first_score <= 1.0

    for i in range(FIRST_DAYS, FIRST_DAYS + LATER_DAYS):
        platform.land(day(i), days[i])
        assert platform.ingest(day(i)).success
        # the two-class champion scores a day holding the third class: a number, not an error
        performance = materialized(platform, keys.champion_performance)
        assert np.isfinite(performance[metric["name"]]), performance

    run = platform.retrain()
    assert run.success, failure_message(run)
    candidate = platform.registry.version(name, "2")
    assert list(platform.registry.load(candidate).classes_) == [0, 1, 2]
    decision = materialized(platform, keys.production_model)
    assert decision["decision"] == "promoted", decision
    assert decision["candidate_version"] == "2" and decision["champion_version"] == "1"
    assert np.isfinite(decision["ci_low"]) and decision["ci_low"] > 0
    assert platform.registry.champion(name).version == "2"


def test_a_retrain_needs_only_retrain_min_partitions(platform_factory):
    training = {"window_days": 3, "min_partitions": 3, "retrain_min_partitions": 2, "min_rows": 200}
    platform = platform_factory(make_spec(training={**training, "holdout_fraction": 0.3}))
    platform.land_and_ingest(3)
    assert platform.retrain().success  # the first model: three valid partitions
    assert platform.registry.champion(platform.spec.name) is not None

    platform.land(day(3), credit_frame(day(3)).assign(age=-5))  # quarantined
    assert not platform.ingest(day(3)).success
    platform.land(day(4), credit_frame(day(4)).assign(age=-5))  # quarantined
    assert not platform.ingest(day(4)).success
    platform.land_and_ingest(1, start=day(5))  # the window day 3..5 holds one valid partition
    run = platform.retrain(asset_selection=[platform.keys.candidate_model])
    assert not run.success
    assert failure_message(run) == (
        "only 1 valid partition(s) in the last 3 days; training.retrain_min_partitions is 2. Land (or fix "
        "quarantined) partitions, or lower training.retrain_min_partitions."
    )
    platform.land_and_ingest(1, start=day(6))  # day 4..6: two valid partitions, enough for a retrain
    assert platform.retrain(asset_selection=[platform.keys.candidate_model]).success


def test_native_categorical_estimator_with_preprocessing_none_trains_registers_and_loads(platform_factory):
    estimator = {"class": "sklearn.ensemble.HistGradientBoostingClassifier", "params": {"max_iter": 30}}
    platform = platform_factory(make_spec(model={"estimator": estimator, "preprocessing": "none"}))
    platform.land_and_ingest(3)
    run = platform.retrain()
    assert run.success, failure_message(run)
    champion = platform.registry.champion(platform.spec.name)
    model = platform.registry.load(champion)  # through the trusted-types allow-list
    assert model.is_categorical_ is not None and bool(model.is_categorical_[3])  # channel, read as categories
