"""Defined behaviour where evidently raises or has nothing to compare (``retrain_platform.drift.detect``)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from retrain_platform.drift import ColumnOverride, ReferenceSketch, detect_drift
from retrain_platform.drift.detect import EMPTY_CURRENT_NOTE, EMPTY_REFERENCE_NOTE, MISSING_COLUMN_NOTE
from retrain_platform_tests.drift.evidently_oracle import evidently_drift

KINDS = {"x": "numerical", "y": "numerical", "plan": "categorical"}


def _frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1, n),
            "y": rng.normal(shift, 1, n),
            "plan": rng.choice(["basic", "pro"], n),
        }
    )


@pytest.fixture(scope="module")
def sketch() -> ReferenceSketch:
    return ReferenceSketch.from_frame(_frame(3_000, seed=1), KINDS)


def test_missing_current_column_is_untested_and_not_counted(sketch: ReferenceSketch) -> None:
    current = _frame(2_000, seed=2, shift=1.0).drop(columns=["y"])
    result = detect_drift(current, sketch)
    y = result.column("y")
    assert (y.tested, y.drifted, y.method, y.score, y.threshold, y.note) == (
        False,
        False,
        None,
        None,
        None,
        MISSING_COLUMN_NOTE,
    )
    assert result.column("x").drifted
    assert (result.tested_count, result.drifted_count, result.drifted_share) == (2, 1, 0.5)
    assert result.dataset_drift


def test_all_null_current_column_is_untested(sketch: ReferenceSketch) -> None:
    current = _frame(2_000, seed=3)
    current["x"] = np.nan
    current["plan"] = None
    result = detect_drift(current, sketch)
    for name in ("x", "plan"):
        assert result.column(name).note == EMPTY_CURRENT_NOTE
        assert not result.column(name).tested
    assert result.tested_count == 1


def test_evidently_itself_raises_on_an_all_null_current_column() -> None:
    """Why the behaviour above has to be defined: evidently has no answer."""
    reference = _frame(1_500, seed=4)
    current = _frame(1_500, seed=5)
    current["x"] = np.nan
    with pytest.raises(ValueError, match="empty column"):
        evidently_drift(current, reference, KINDS)


def test_all_null_reference_column_is_untested_in_every_check() -> None:
    reference = _frame(2_000, seed=6)
    reference["y"] = None  # object dtype, all null
    sketch = ReferenceSketch.from_frame(reference, KINDS)
    assert sketch.summaries["y"].n == 0
    assert sketch.summaries["y"].n_missing == 2_000
    result = detect_drift(_frame(500, seed=7), sketch)
    assert result.column("y").note == EMPTY_REFERENCE_NOTE
    assert result.tested_count == 2


def test_null_on_both_sides_reports_the_reference(sketch: ReferenceSketch) -> None:
    reference = _frame(100, seed=8)
    reference["x"] = np.nan
    current = _frame(100, seed=9)
    current["x"] = np.nan
    result = detect_drift(current, ReferenceSketch.from_frame(reference, KINDS))
    assert result.column("x").note == EMPTY_REFERENCE_NOTE


@pytest.mark.parametrize("with_columns", [True, False])
def test_empty_current_partition(sketch: ReferenceSketch, with_columns: bool) -> None:
    current = _frame(0, seed=10) if with_columns else pd.DataFrame()
    result = detect_drift(current, sketch)
    assert result.n_current == 0
    assert result.tested_count == 0
    assert (result.drifted_count, result.drifted_share, result.dataset_drift) == (0, 0.0, False)
    expected_note = EMPTY_CURRENT_NOTE if with_columns else MISSING_COLUMN_NOTE
    assert {c.note for c in result.columns} == {expected_note}


@pytest.mark.parametrize("n_reference", [500, 3_000])
def test_constant_columns(n_reference: int) -> None:
    reference = pd.DataFrame({"c": np.full(n_reference, 7.0), "label": ["a"] * n_reference})
    kinds = {"c": "numerical", "label": "categorical"}
    sketch = ReferenceSketch.from_frame(reference, kinds)
    same = detect_drift(pd.DataFrame({"c": np.full(400, 7.0), "label": ["a"] * 400}), sketch)
    moved = detect_drift(pd.DataFrame({"c": np.full(400, 8.0), "label": ["b"] * 400}), sketch)
    for name in kinds:
        assert not same.column(name).drifted
        assert moved.column(name).drifted
    expected_method = "z" if n_reference <= 1_000 else "jensenshannon"
    assert {c.method for c in same.columns} == {expected_method}
    assert [c.score for c in same.columns] == ([1.0, 1.0] if n_reference <= 1_000 else [0.0, 0.0])


def test_constant_reference_with_wasserstein_uses_evidently_norm_floor() -> None:
    """std 0 would divide by zero; evidently divides by max(std, 0.001)."""
    sketch = ReferenceSketch.from_frame(pd.DataFrame({"c": np.full(2_000, 1.0)}), {"c": "numerical"})
    current = pd.DataFrame({"c": np.linspace(1.0, 1.002, 2_000)})
    result = detect_drift(current, sketch, overrides={"c": ColumnOverride(method="wasserstein")})
    assert result.column("c").score == pytest.approx(0.001 / 0.001)
    assert result.column("c").drifted


def test_unseen_categories_are_tested_and_named(sketch: ReferenceSketch) -> None:
    current = _frame(2_000, seed=11)
    current.loc[:99, "plan"] = "enterprise"
    current.loc[100:109, "plan"] = "trial"
    column = detect_drift(current, sketch).column("plan")
    assert column.tested
    assert column.method == "jensenshannon"
    assert column.score > 0
    assert column.note == "2 categories not seen in reference: 'enterprise', 'trial'"


def test_unseen_category_makes_chisquare_p_value_zero() -> None:
    reference = pd.DataFrame({"plan": ["a", "b", "c"] * 200})
    current = pd.DataFrame({"plan": ["a", "b", "c"] * 100 + ["d"]})
    result = detect_drift(current, ReferenceSketch.from_frame(reference, {"plan": "categorical"}))
    assert result.column("plan").method == "chisquare"
    assert result.column("plan").score == 0.0
    assert result.column("plan").drifted


def test_infinities_are_missing_values() -> None:
    reference = pd.DataFrame({"x": np.r_[np.arange(2_000.0), [np.inf, -np.inf, np.nan]]})
    current = pd.DataFrame({"x": np.r_[np.arange(2_000.0), [np.inf] * 50]})
    sketch = ReferenceSketch.from_frame(reference, {"x": "numerical"})
    assert (sketch.summaries["x"].n, sketch.summaries["x"].n_missing) == (2_000, 3)
    column = detect_drift(current, sketch).column("x")
    assert column.score == 0.0
    assert not column.drifted


def test_infinities_follow_evidentlys_per_column_verdict() -> None:
    """evidently disagrees with itself here; the per-column ``ValueDrift`` verdict is the one followed.

    ``ValueDrift`` drops ``±inf`` like ``NaN``. ``DriftedColumnsCount`` (legacy ``DatasetDriftMetric``)
    only cleans columns that contain a ``NaN``, so with infinities alone its score is NaN and the
    column never counts as drifted.
    """
    rng = np.random.default_rng(16)
    reference = pd.DataFrame({"x": rng.normal(size=3_000)})
    current = pd.DataFrame({"x": rng.normal(1.0, 1.0, size=3_000)})
    current.loc[:5, "x"] = np.inf
    theirs = evidently_drift(current, reference, {"x": "numerical"})
    ours = detect_drift(current, ReferenceSketch.from_frame(reference, {"x": "numerical"}))
    assert theirs.columns["x"].drifted and theirs.drifted_count == 0  # evidently's inconsistency
    assert ours.column("x").drifted
    assert ours.column("x").score == pytest.approx(theirs.columns["x"].score, rel=1e-9)
    assert ours.drifted_count == 1


def test_nan_score_is_no_drift_and_null_in_metadata() -> None:
    """chi-square over a single category is undefined (NaN), as in evidently: not drift."""
    reference = pd.DataFrame({"one": ["a"] * 50})
    result = detect_drift(
        reference,
        ReferenceSketch.from_frame(reference, {"one": "categorical"}),
        overrides={"one": ColumnOverride(method="chisquare")},
    )
    assert np.isnan(result.column("one").score)
    assert not result.column("one").drifted
    assert result.to_metadata()["columns"]["one"]["score"] is None


def test_metadata_is_small_strict_json(sketch: ReferenceSketch) -> None:
    current = _frame(1_000, seed=12, shift=2.0).drop(columns=["y"])
    metadata = detect_drift(current, sketch).to_metadata()
    assert json.loads(json.dumps(metadata, allow_nan=False)) == metadata
    assert metadata["columns"]["x"] == {
        "method": "wasserstein",
        "score": metadata["columns"]["x"]["score"],
        "threshold": 0.1,
        "drifted": True,
    }
    assert metadata["columns"]["y"]["note"] == MISSING_COLUMN_NOTE
    expected = {
        "dataset_drift": True,
        "drifted_count": 1,
        "tested_count": 2,
        "n_current": 1_000,
        "n_reference": 3_000,
    }
    assert {key: metadata[key] for key in expected} == expected


def test_extra_current_columns_are_ignored(sketch: ReferenceSketch) -> None:
    current = _frame(500, seed=13).assign(extra=1)
    assert [c.column for c in detect_drift(current, sketch).columns] == list(KINDS)


def test_current_frame_is_not_modified(sketch: ReferenceSketch) -> None:
    current = _frame(1_000, seed=14)
    current.loc[::5, "x"] = np.nan
    before = current.copy()
    detect_drift(current, sketch)
    pd.testing.assert_frame_equal(current, before)


def test_categorical_dtypes_and_booleans_match_plain_values() -> None:
    rng = np.random.default_rng(15)
    labels = rng.choice(["a", "b", "c"], 1_500)
    flags = rng.random(1_500) < 0.4
    reference = pd.DataFrame({"label": labels, "flag": flags})
    current_plain = pd.DataFrame({"label": labels[:700], "flag": flags[:700]})
    current_typed = pd.DataFrame(
        {
            # Unused categories must not count as observed values.
            "label": pd.Categorical(labels[:700], categories=["a", "b", "c", "never"]),
            "flag": pd.array(flags[:700], dtype="boolean"),
        }
    )
    sketch = ReferenceSketch.from_frame(reference, {"label": "categorical", "flag": "categorical"})
    assert detect_drift(current_plain, sketch) == detect_drift(current_typed, sketch)
