"""Agreement with evidently 0.7.23's ``DataDriftPreset``, computed in each test.

For every scenario the fast path (sketch built from the reference, saved, loaded, then
``detect_drift``) must give exactly evidently's per-column method and verdict, its
drifted-column count and share, and its dataset verdict; scores must agree to a
**relative tolerance of 1e-9 (absolute 1e-12 for scores near 0)**. Scores are not
bit-identical only because sums run in a different order (reference-first category
order instead of Python set order; merged quantile steps instead of scipy's merged
CDF): the observed differences are ~1e-13 relative or less.

The evidently calls are kept at <= 20k rows so the module runs in well under a minute.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retrain_platform.drift import ColumnOverride, ReferenceSketch, detect_drift
from retrain_platform_tests.drift.evidently_oracle import evidently_drift
from retrain_platform_tests.drift.frames import CHURN_KINDS, MIXED_KINDS, churn_frame, mixed_frame

REL_TOL = 1e-9
ABS_TOL = 1e-12


def assert_agrees(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    kinds: Mapping[str, str],
    tmp_path: Path,
    *,
    drift_share: float = 0.5,
    overrides: Mapping[str, ColumnOverride] | None = None,
) -> None:
    """Fail unless detect_drift (through a saved and reloaded sketch) reproduces evidently."""
    ReferenceSketch.from_frame(reference, kinds).save(tmp_path / "sketch")
    sketch = ReferenceSketch.load(tmp_path / "sketch")
    ours = detect_drift(current, sketch, drift_share=drift_share, overrides=overrides)
    overrides = overrides or {}
    methods = {c: o.method for c, o in overrides.items() if o.method}
    thresholds = {c: o.threshold for c, o in overrides.items() if o.threshold is not None}
    theirs = evidently_drift(
        current,
        reference,
        kinds,
        drift_share=drift_share,
        per_column_method=methods or None,
        per_column_threshold=thresholds or None,
    )
    # evidently's dataset-level metric recomputes every column separately; it must agree with itself.
    assert theirs.drifted_count == sum(c.drifted for c in theirs.columns.values())

    assert [c.column for c in ours.columns] == list(kinds)
    for column in ours.columns:
        expected = theirs.columns[column.column]
        where = f"column {column.column!r}"
        assert column.tested, where
        assert column.method == expected.method, where
        assert column.threshold == expected.threshold, where
        scores = f"{where}: ours {column.score!r}, evidently {expected.score!r}"
        assert column.drifted == expected.drifted, scores
        if math.isnan(expected.score):
            assert math.isnan(column.score), where
        else:
            assert math.isclose(column.score, expected.score, rel_tol=REL_TOL, abs_tol=ABS_TOL), scores
    assert ours.drifted_count == theirs.drifted_count
    assert ours.drifted_share == pytest.approx(theirs.drifted_share, rel=1e-12)
    assert ours.dataset_drift == theirs.dataset_drift


@pytest.mark.parametrize(
    ("n_reference", "n_current", "changes"),
    [
        pytest.param(5_000, 4_000, {}, id="no-drift"),
        pytest.param(5_000, 4_000, {"mean_shift": 0.4}, id="mean-shift"),
        pytest.param(5_000, 4_000, {"scale": 1.6}, id="variance-shift"),
        pytest.param(800, 600, {}, id="small-no-drift"),
        pytest.param(800, 600, {"mean_shift": 0.4, "scale": 1.3}, id="small-shift"),
        pytest.param(3_000, 2_000, {"city_weights": (0.2, 0.3, 0.5)}, id="category-mix-shift"),
    ],
)
def test_mixed_frames(n_reference: int, n_current: int, changes: dict, tmp_path: Path) -> None:
    reference = mixed_frame(n_reference, seed=1)
    current = mixed_frame(n_current, seed=2, **changes)
    assert_agrees(current, reference, MIXED_KINDS, tmp_path)


@pytest.mark.parametrize("n_reference", [600, 3_000])
def test_new_categories_in_current(n_reference: int, tmp_path: Path) -> None:
    reference = mixed_frame(n_reference, seed=3)
    cities = ("paris", "lyon", "nice", "lille", "brest")
    current = mixed_frame(1_000, seed=4, cities=cities, city_weights=(0.4, 0.2, 0.2, 0.1, 0.1))
    devices = current["device"].astype(str)
    current["device"] = pd.Categorical(np.where(np.arange(1_000) % 10 == 0, "tv", devices))
    assert_agrees(current, reference, MIXED_KINDS, tmp_path)


@pytest.mark.parametrize("n_reference", [900, 4_000])
def test_nulls_are_dropped_per_column(n_reference: int, tmp_path: Path) -> None:
    reference = mixed_frame(n_reference, seed=5)
    current = mixed_frame(2_000, seed=6, mean_shift=0.1)
    for frame, seed in ((reference, 7), (current, 8)):
        rng = np.random.default_rng(seed)
        frame.loc[rng.random(len(frame)) < 0.15, "income"] = np.nan
        frame.loc[rng.random(len(frame)) < 0.05, "score"] = np.inf
        frame.loc[rng.random(len(frame)) < 0.05, "score"] = np.nan
        frame["city"] = frame["city"].where(rng.random(len(frame)) > 0.2, None)
        frame["promo"] = frame["promo"].astype(object).where(rng.random(len(frame)) > 0.1, None)
    assert_agrees(current, reference, MIXED_KINDS, tmp_path)


@pytest.mark.parametrize("n_reference", [500, 2_000])
def test_constant_columns(n_reference: int, tmp_path: Path) -> None:
    def frame(n: int, moved: float, label: str) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "same_number": np.full(n, 3.0),
                "moved_number": np.full(n, moved),
                "same_label": np.full(n, "a", dtype=object),
                "moved_label": np.full(n, label, dtype=object),
                "noise": np.random.default_rng(n).normal(size=n),
            }
        )

    kinds = {
        "same_number": "numerical",
        "moved_number": "numerical",
        "same_label": "categorical",
        "moved_label": "categorical",
        "noise": "numerical",
    }
    assert_agrees(frame(700, 2.0, "y"), frame(n_reference, 1.0, "x"), kinds, tmp_path)


@pytest.mark.parametrize(
    "n_reference",
    [999, 1_000, 1_001, pytest.param(-1_001, id="1001-rows-one-null")],
)
@pytest.mark.parametrize("n_current", [400, 12_000])
def test_thousand_row_switch(n_reference: int, n_current: int, tmp_path: Path) -> None:
    """evidently switches tests above 1,000 non-null reference values.

    12k current rows take the asymptotic branch of the K-S test, 400 the exact one.
    """
    reference = mixed_frame(abs(n_reference), seed=9)
    if n_reference < 0:
        reference.loc[0, ["income", "score", "visits"]] = np.nan
        reference.loc[0, "city"] = None
    current = mixed_frame(n_current, seed=10, mean_shift=0.05)
    assert_agrees(current, reference, MIXED_KINDS, tmp_path)


@pytest.mark.parametrize("n_reference", [800, 3_000])
def test_low_unique_numeric_and_binary_columns(n_reference: int, tmp_path: Path) -> None:
    """Numeric columns with 2, 3, 5 and 6 distinct values, and 2-valued categoricals (z-test territory)."""

    def frame(n: int, seed: int, tilt: float) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        return pd.DataFrame(
            {
                "two": rng.choice([0.0, 1.0], n, p=[0.7 - tilt, 0.3 + tilt]),
                "three": rng.choice([1, 2, 3], n, p=[0.5, 0.3, 0.2]),
                "five": rng.integers(0, 5, n).astype(float),
                # 5 values in the reference, a 6th appears only in the current: the union decides.
                "five_plus_one": rng.integers(0, 5, n) + (rng.random(n) < tilt) * 5,
                "six": rng.integers(0, 6, n).astype(float),
                "yes_no": rng.choice(["yes", "no"], n, p=[0.6 - tilt, 0.4 + tilt]),
                "flag": rng.random(n) < 0.5 + tilt,
            }
        )

    kinds = {
        "two": "numerical",
        "three": "numerical",
        "five": "numerical",
        "five_plus_one": "numerical",
        "six": "numerical",
        "yes_no": "categorical",
        "flag": "categorical",
    }
    assert_agrees(frame(1_500, 12, 0.08), frame(n_reference, 11, 0.0), kinds, tmp_path)


@pytest.mark.parametrize(
    ("n_reference", "n_current"),
    [
        pytest.param(3_000, 2_000, id="medium"),
        pytest.param(600, 400, id="small"),
        pytest.param(12_000, 11_000, id="ks-asymptotic"),
    ],
)
def test_overrides(n_reference: int, n_current: int, tmp_path: Path) -> None:
    """Every supported method on every kind evidently allows it for, with and without custom thresholds."""
    reference = mixed_frame(n_reference, seed=13)
    current = mixed_frame(n_current, seed=14, mean_shift=0.08, city_weights=(0.45, 0.3, 0.25))
    reference["income_psi"] = reference["income"]
    current["income_psi"] = current["income"]
    reference["city_z"] = reference["city"]
    current["city_z"] = current["city"]
    kinds = dict(MIXED_KINDS, income_psi="numerical", city_z="categorical")
    overrides = {
        "income": ColumnOverride(method="ks", threshold=0.01),
        "score": ColumnOverride(method="jensenshannon"),  # continuous: Sturges histogram bins
        "income_psi": ColumnOverride(method="psi", threshold=0.05),
        "visits": ColumnOverride(method="wasserstein", threshold=0.05),
        "city": ColumnOverride(method="chisquare", threshold=0.2),
        "city_z": ColumnOverride(method="z"),
        "device": ColumnOverride(method="psi"),
        "promo": ColumnOverride(threshold=0.01),  # threshold only: evidently's default method
    }
    assert_agrees(current, reference, kinds, tmp_path, overrides=overrides)


def test_psi_and_jensenshannon_on_discrete_numeric(tmp_path: Path) -> None:
    rng = np.random.default_rng(15)
    reference = pd.DataFrame({"a": rng.integers(0, 12, 2_000), "b": rng.integers(0, 30, 2_000).astype(float)})
    current = pd.DataFrame({"a": rng.integers(2, 14, 1_500), "b": rng.integers(0, 25, 1_500).astype(float)})
    kinds = {"a": "numerical", "b": "numerical"}
    for method in ("psi", "jensenshannon"):
        overrides = {"a": ColumnOverride(method=method), "b": ColumnOverride(method=method, threshold=0.02)}
        assert_agrees(current, reference, kinds, tmp_path, overrides=overrides)


@pytest.mark.parametrize("drift_share", [0.5, 0.6, 0.25])
def test_dataset_verdict_at_the_drift_share_boundary(drift_share: float, tmp_path: Path) -> None:
    """Two of four columns drift: share 0.5, which is dataset drift at drift_share=0.5 (evidently uses >=)."""
    rng = np.random.default_rng(16)
    reference = pd.DataFrame({name: rng.normal(size=2_000) for name in "abcd"})
    current = pd.DataFrame({name: rng.normal(size=2_000) + (1.0 if name in "ab" else 0.0) for name in "abcd"})
    kinds = dict.fromkeys("abcd", "numerical")
    assert_agrees(current, reference, kinds, tmp_path, drift_share=drift_share)
    result = detect_drift(current, ReferenceSketch.from_frame(reference, kinds), drift_share=drift_share)
    assert result.drifted_share == 0.5
    assert result.dataset_drift is (drift_share <= 0.5)


@pytest.mark.parametrize("shifted", [False, True], ids=["stable", "abrupt-shift"])
def test_demo_churn_frame(shifted: bool, tmp_path: Path) -> None:
    reference = churn_frame(8_000, seed=17)
    current = churn_frame(6_000, seed=18, shifted=shifted)
    assert_agrees(current, reference, CHURN_KINDS, tmp_path)
    result = detect_drift(current, ReferenceSketch.from_frame(reference, CHURN_KINDS))
    assert result.dataset_drift is shifted


@pytest.mark.slow
def test_large_mixed_frame(tmp_path: Path) -> None:
    reference = mixed_frame(200_000, seed=19)
    current = mixed_frame(150_000, seed=20, mean_shift=0.02)
    assert_agrees(current, reference, MIXED_KINDS, tmp_path)


def _demo_window(make_day, start, days: int) -> pd.DataFrame:
    import datetime as dt

    return pd.concat([make_day(start + dt.timedelta(days=i)) for i in range(days)], ignore_index=True)


@pytest.mark.parametrize(
    ("model", "current_offset"),
    [("churn", 3), ("churn", 40), ("sales", 3), ("sales", 90)],
    ids=["churn-before-drift", "churn-after-drift", "sales-same-season", "sales-next-season"],
)
def test_frames_from_the_demo_generator(model: str, current_offset: int, tmp_path: Path) -> None:
    """The demo's own data, with column kinds taken from the shipped example spec, as the platform runs it."""
    import datetime as dt

    from retrain_platform.demo.generator import churn_day, sales_day
    from retrain_platform.spec import load_spec

    spec = load_spec(Path(__file__).parents[2] / "retrain_platform" / "examples" / "specs" / f"{model}.yaml")
    start, drift_date = dt.date(2026, 1, 1), dt.date(2026, 2, 1)
    make_day = (lambda d: churn_day(d, drift_date)) if model == "churn" else sales_day
    reference = _demo_window(make_day, start, 7)[list(spec.features)]
    current = make_day(start + dt.timedelta(days=current_offset))[list(spec.features)]
    assert_agrees(current, reference, spec.drift_kinds, tmp_path, drift_share=spec.drift.share_threshold)
