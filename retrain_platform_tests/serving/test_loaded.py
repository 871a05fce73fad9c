"""The output contract of a loaded version for each kind of model, and the warm-up that refuses a bad one."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from retrain_platform.registry import VersionInfo
from retrain_platform.serving.loaded import prepare
from retrain_platform.spec.estimator import model_input, synthetic_frame
from retrain_platform.training.fit import fit_model
from retrain_platform_tests.conftest import make_spec

INFO = VersionInfo("m", "7", "run", dt.datetime(2026, 3, 1, tzinfo=dt.UTC), {})


def three_class_spec():
    return make_spec(
        target={"name": "tier", "type": "category", "categories": ["gold", "bronze", "silver"]},
        metric={"name": "roc_auc", "average": "macro"},
    )


def test_a_multiclass_model_answers_one_probability_per_spec_label_even_for_a_class_it_never_saw():
    spec = three_class_spec()
    frame = synthetic_frame(spec)
    frame = frame[frame["tier"] != "silver"]  # this version was trained without one class
    estimator = fit_model(spec, frame)

    model = prepare(spec, INFO, estimator)
    values = model.predict(frame[list(spec.features)].head(4))

    assert model.kind == "multiclass" and model.labels == ("bronze", "gold", "silver")
    assert values.shape == (4, 3)
    proba = estimator.predict_proba(model_input(frame.head(4), spec))  # classes_: bronze, gold
    np.testing.assert_allclose(values[:, :2], proba)
    assert (values[:, 2] == 0).all()
    [first, *_] = model.answers(values)
    assert list(first) == ["bronze", "gold", "silver"] and sum(first.values()) == pytest.approx(1.0)


def test_a_regressor_answers_its_predictions():
    spec = make_spec(
        task="regression",
        target={"name": "loss", "type": "float", "min": 0},
        model={"estimator": {"class": "sklearn.linear_model.Ridge"}},
        metric={"name": "rmse"},
        gate={"min_improvement": 0.0, "bootstrap_samples": 200},
        triggers={"drift": False},
    )
    frame = synthetic_frame(spec)
    estimator = fit_model(spec, frame)

    model = prepare(spec, INFO, estimator)

    assert model.kind == "regression" and model.labels is None
    values = model.predict(frame[list(spec.features)])
    np.testing.assert_allclose(values, estimator.predict(model_input(frame, spec)))
    assert model.answers(values) == values.tolist()


def test_a_version_predicting_classes_outside_the_spec_is_refused_before_it_serves():
    spec = three_class_spec()
    frame = synthetic_frame(spec)
    estimator = fit_model(
        make_spec(target={"name": "tier", "type": "category"}),
        frame.assign(tier=np.where(frame["tier"] == "gold", "platinum", frame["tier"])),
    )
    with pytest.raises(ValueError, match=r"predicts classes \['platinum'\] outside target.categories"):
        prepare(spec, INFO, estimator)
