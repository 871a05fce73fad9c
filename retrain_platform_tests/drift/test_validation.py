"""Invalid inputs fail early with messages that say how to fix them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retrain_platform.drift import SUPPORTED_METHODS, ColumnOverride, ReferenceSketch, detect_drift

KINDS = {"x": "numerical", "plan": "categorical"}


@pytest.fixture(scope="module")
def sketch() -> ReferenceSketch:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=500), "plan": ["a", "b"] * 250})
    return ReferenceSketch.from_frame(frame, KINDS)


def test_supported_methods_cover_evidentlys_defaults_and_psi() -> None:
    assert set(SUPPORTED_METHODS) == {"ks", "wasserstein", "chisquare", "z", "jensenshannon", "psi"}


def test_unknown_method_lists_the_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown drift method 'kolmogorov'") as error:
        ColumnOverride(method="kolmogorov")
    assert all(name in str(error.value) for name in SUPPORTED_METHODS)


@pytest.mark.parametrize("threshold", [-0.1, float("nan"), float("inf"), "0.1", True])
def test_bad_thresholds(threshold: object) -> None:
    with pytest.raises(ValueError, match="threshold"):
        ColumnOverride(method="psi", threshold=threshold)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"plan": ColumnOverride(method="ks")}, "only accepts numerical"),
        ({"x": ColumnOverride(method="chisquare")}, "only accepts categorical"),
        ({"nope": ColumnOverride(method="psi")}, "not in the reference sketch"),
        ({"x": ColumnOverride(method="ks", threshold=5)}, "between 0 and 1"),
        ({"x": {"method": "psi"}}, "must be a ColumnOverride"),
    ],
)
def test_invalid_overrides(sketch: ReferenceSketch, overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        detect_drift(pd.DataFrame({"x": [1.0], "plan": ["a"]}), sketch, overrides=overrides)


def test_threshold_only_override_is_checked_against_the_default_method(sketch: ReferenceSketch) -> None:
    with pytest.raises(ValueError, match="'ks' returns a p-value"):
        detect_drift(sketch.sample, sketch, overrides={"x": ColumnOverride(threshold=2.0)})


@pytest.mark.parametrize("drift_share", [0, -0.5, 1.5, "half", None])
def test_bad_drift_share(sketch: ReferenceSketch, drift_share: object) -> None:
    with pytest.raises(ValueError, match="drift_share"):
        detect_drift(sketch.sample, sketch, drift_share=drift_share)


@pytest.mark.parametrize(
    ("frame", "kinds", "message"),
    [
        (pd.DataFrame({"x": [1.0]}), {"x": "numeric"}, "use one of 'numerical', 'categorical'"),
        (pd.DataFrame({"x": [1.0]}), {}, "non-empty mapping"),
        (pd.DataFrame({"x": [1.0]}), {"y": "numerical"}, r"columns \['y'\] are not in the reference frame"),
        (pd.DataFrame({"x": []}, dtype=float), {"x": "numerical"}, "has no rows"),
        (pd.DataFrame({"x": ["a"]}), {"x": "numerical"}, "pd.to_numeric or declare it categorical"),
        (pd.DataFrame({"t": pd.to_datetime(["2024-01-01"])}), {"t": "categorical"}, r"\.astype\(str\)"),
    ],
)
def test_invalid_reference(frame: pd.DataFrame, kinds: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReferenceSketch.from_frame(frame, kinds)


def test_non_numeric_current_column_is_a_schema_error(sketch: ReferenceSketch) -> None:
    with pytest.raises(ValueError, match="column 'x' is declared numerical"):
        detect_drift(pd.DataFrame({"x": ["1.5"], "plan": ["a"]}), sketch)
