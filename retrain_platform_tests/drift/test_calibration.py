"""Drift thresholds calibrated on the reference window's day-to-day variation (leave one day out)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retrain_platform.drift import ColumnOverride, ReferenceSketch, detect_drift
from retrain_platform.drift.calibration import DriftCalibration, calibrate_thresholds

KINDS = {"level": "numerical", "noise": "numerical", "colour": "categorical"}


def seasonal_days(days: int, rows: int, seed: int, day_effect: float = 0.3, shift: float = 0.0) -> pd.DataFrame:
    """Days whose ``level`` moves by a random day effect (weather, weekday), as real daily data does."""
    rng = np.random.default_rng(seed)
    frames = []
    for d in range(days):
        n = rows
        frames.append(
            pd.DataFrame(
                {
                    "level": rng.normal(rng.normal(0, day_effect) + shift, 1, n),
                    "noise": rng.normal(0, 1, n),
                    "colour": rng.choice(["red", "green", "blue"], n, p=[0.5, 0.3, 0.2]),
                    "day": f"2026-01-{d + 1:02d}",
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def alarm_rate(reference: pd.DataFrame, new_days: pd.DataFrame, overrides=None) -> float:
    sketch = ReferenceSketch.from_frame(reference[list(KINDS)], column_kinds=KINDS)
    flagged = [
        detect_drift(day[list(KINDS)], sketch, drift_share=0.3, overrides=overrides).dataset_drift
        for _, day in new_days.groupby("day")
    ]
    return float(np.mean(flagged))


def test_calibration_silences_ordinary_days_of_seasonal_data_and_still_sees_real_drift():
    reference = seasonal_days(30, 2000, seed=1)
    ordinary = seasonal_days(20, 2000, seed=2)
    calibration = calibrate_thresholds(reference, day_column="day", column_kinds=KINDS, false_alarm_rate=0.05)
    assert set(calibration.columns) == set(KINDS)
    assert calibration.columns["level"].threshold > calibration.columns["level"].default_threshold

    # evidently's defaults flag most ordinary days (drifted share 1/3 reaches 0.3); calibrated, few
    assert alarm_rate(reference, ordinary) >= 0.5
    assert alarm_rate(reference, ordinary, calibration.overrides()) <= 0.2
    # a shift far beyond the day-to-day swing still drifts
    drifted = seasonal_days(5, 2000, seed=3, shift=2.0)
    assert alarm_rate(reference, drifted, calibration.overrides()) == 1.0


def test_thresholds_are_only_ever_loosened_never_tightened():
    # a stationary window: ordinary days look like evidently's null, so thresholds stay near their defaults
    reference = seasonal_days(30, 300, seed=4, day_effect=0.0)
    calibration = calibrate_thresholds(reference, day_column="day", column_kinds=KINDS, false_alarm_rate=0.05)
    for column in calibration.columns.values():
        from retrain_platform.drift.methods import get_method

        if get_method(column.method).is_p_value:
            assert column.threshold <= column.default_threshold
        else:
            assert column.threshold >= column.default_threshold


def test_an_explicit_threshold_wins_and_a_method_only_override_is_calibrated_for_that_method():
    reference = seasonal_days(10, 2000, seed=5)
    overrides = {"level": ColumnOverride(threshold=0.9), "noise": ColumnOverride(method="psi")}
    calibration = calibrate_thresholds(
        reference, day_column="day", column_kinds=KINDS, false_alarm_rate=0.1, overrides=overrides
    )
    assert "level" not in calibration.columns
    assert calibration.columns["noise"].method == "psi"
    merged = calibration.overrides(overrides)
    assert merged["level"] == ColumnOverride(threshold=0.9)
    assert merged["noise"].method == "psi" and merged["noise"].threshold >= 0.1


def test_too_few_days_keep_the_defaults_and_say_why():
    calibration = calibrate_thresholds(
        seasonal_days(3, 500, seed=6), day_column="day", column_kinds=KINDS, false_alarm_rate=0.05
    )
    assert calibration.columns == {} and "needs 5" in calibration.note
    assert calibration.overrides({"noise": ColumnOverride(method="ks")}) == {"noise": ColumnOverride(method="ks")}


def test_large_days_are_subsampled_for_calibration_only():
    reference = seasonal_days(6, 20_000, seed=7)
    calibration = calibrate_thresholds(
        reference, day_column="day", column_kinds=KINDS, false_alarm_rate=0.2, max_rows_per_day=2000
    )
    assert calibration.columns["level"].days == 6
    # the subsample keeps every day above evidently's 1,000-row switch: distances, as the live check uses
    assert calibration.columns["level"].method == "wasserstein"


def test_save_and_load_round_trip_and_refuse_a_foreign_file(tmp_path):
    calibration = calibrate_thresholds(
        seasonal_days(8, 500, seed=8), day_column="day", column_kinds=KINDS, false_alarm_rate=0.1
    )
    calibration.save(tmp_path)
    assert DriftCalibration.load(tmp_path) == calibration
    assert DriftCalibration.load(tmp_path / "absent") is None
    (tmp_path / "calibration.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="delete it to rebuild"):
        DriftCalibration.load(tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"false_alarm_rate": 0.0}, "false_alarm_rate must be in"),
        ({"false_alarm_rate": 0.7}, "false_alarm_rate must be in"),
        ({"day_column": "when"}, "day_column 'when' is not a column"),
        ({"max_rows_per_day": 1000}, "max_rows_per_day must be above 1000"),
    ],
)
def test_bad_parameters_say_what_to_change(kwargs, message):
    arguments = {"day_column": "day", "column_kinds": KINDS, "false_alarm_rate": 0.05, **kwargs}
    with pytest.raises(ValueError, match=message):
        calibrate_thresholds(seasonal_days(5, 50, seed=9), **arguments)


def test_a_discrete_numerical_column_tested_by_chi_square_keeps_the_default_rule():
    # a weekday column on small days: one value per day, so evidently's default rule tests it with chi-square,
    # which an override may not name for a numerical column (pinning it failed every later drift check)
    reference = seasonal_days(6, 40, seed=8).assign(weekday=lambda f: f["day"].str[-2:].astype(int) % 4)
    kinds = {**KINDS, "weekday": "numerical"}
    calibration = calibrate_thresholds(reference, day_column="day", column_kinds=kinds, false_alarm_rate=0.2)
    assert "weekday" not in calibration.columns and "level" in calibration.columns
    sketch = ReferenceSketch.from_frame(reference[list(kinds)], column_kinds=kinds)
    today = reference[reference["day"] == "2026-01-01"][list(kinds)]
    result = detect_drift(today, sketch, drift_share=0.3, overrides=calibration.overrides())
    assert "weekday" in {c.column for c in result.columns}
