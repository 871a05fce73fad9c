"""The sampled evidently HTML report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retrain_platform.drift import ColumnOverride, ReferenceSketch, detect_drift, write_drift_report
from retrain_platform.drift.calibration import calibrate_thresholds
from retrain_platform.drift.sampling import sample_frame
from retrain_platform_tests.drift.frames import MIXED_KINDS, mixed_frame
from retrain_platform_tests.drift.report_page import page_verdicts


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return mixed_frame(9_000, seed=1)


@pytest.fixture(scope="module")
def sketch(reference: pd.DataFrame) -> ReferenceSketch:
    return ReferenceSketch.from_frame(reference, MIXED_KINDS, sample_rows=500, seed=0)


def test_report_from_sketch_says_it_is_sampled(sketch: ReferenceSketch, tmp_path: Path) -> None:
    current = mixed_frame(12_000, seed=2, mean_shift=0.5)
    path = tmp_path / "reports" / "drift.html"
    description = write_drift_report(current, sketch, path, sample_rows=300, seed=4)
    assert description == (
        "sampled 300 of 12,000 current rows and 300 of 9,000 reference rows "
        "(seed 4, at most 300 rows per side); reference rows from the sample stored in the sketch (seed 0)"
    )
    html = path.read_text()
    assert "Sampled drift report" in html
    assert description in html
    assert "Value Drift for column income" in html  # the preset ran


def test_report_from_reference_frame_with_overrides(reference: pd.DataFrame, tmp_path: Path) -> None:
    current = mixed_frame(800, seed=3)
    path = tmp_path / "drift.html"
    description = write_drift_report(
        current,
        reference,
        path,
        column_kinds=MIXED_KINDS,
        sample_rows=400,
        overrides={"income": ColumnOverride(method="psi", threshold=0.2)},
    )
    assert description == (
        "sampled 400 of 800 current rows and 400 of 9,000 reference rows (seed 0, at most 400 rows per side)"
    )
    assert "The drift detection method is PSI" in path.read_text()


def test_sampling_can_be_disabled(tmp_path: Path) -> None:
    reference = mixed_frame(700, seed=5)
    description = write_drift_report(
        mixed_frame(600, seed=6), reference, tmp_path / "r.html", column_kinds=MIXED_KINDS, sample_rows=None
    )
    assert description == "not sampled: all 600 current rows and all 700 reference rows"


def test_sketch_sample_without_a_cap(sketch: ReferenceSketch, tmp_path: Path) -> None:
    description = write_drift_report(mixed_frame(700, seed=9), sketch, tmp_path / "r.html", sample_rows=None)
    assert description == (
        "used all 700 current rows and sampled 500 of 9,000 reference rows; "
        "reference rows from the sample stored in the sketch (seed 0)"
    )


def test_empty_partition_still_writes_a_page(sketch: ReferenceSketch, tmp_path: Path) -> None:
    current = mixed_frame(0, seed=7).drop(columns=["city"])
    path = tmp_path / "empty.html"
    description = write_drift_report(current, sketch, path)
    html = path.read_text()
    assert "used all 0 current rows" in description
    assert "`city` (missing from current)" in html
    assert "`income` (no non-missing values in the current rows)" in html


def test_sample_is_reproducible_and_ordered() -> None:
    frame = pd.DataFrame({"v": np.arange(10_000)})
    first, again, other = (sample_frame(frame, 50, seed) for seed in (1, 1, 2))
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)
    assert first["v"].is_monotonic_increasing and first["v"].is_unique
    assert sample_frame(frame, None, 0) is frame


@pytest.mark.parametrize("sample_rows", [0, -5, 2.5, True])
def test_bad_sample_rows(sketch: ReferenceSketch, sample_rows: object, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sample_rows must be a positive integer"):
        write_drift_report(mixed_frame(10, seed=8), sketch, tmp_path / "r.html", sample_rows=sample_rows)


def test_frame_reference_needs_column_kinds(reference: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="column_kinds is required"):
        write_drift_report(reference, reference, tmp_path / "r.html")


def two_of_six_drifted(n: int, seed: int) -> pd.DataFrame:
    """A partition on which income and score drift and nothing else does: a third of the columns."""
    frame = mixed_frame(n, seed=seed)
    return frame.assign(income=frame["income"] + 8_000, score=frame["score"] + 0.6)


def test_the_page_states_the_dataset_verdict_at_the_share_it_is_given(tmp_path: Path) -> None:
    sketch = ReferenceSketch.from_frame(mixed_frame(3_000, seed=1), MIXED_KINDS)
    current = two_of_six_drifted(3_000, seed=2)
    check = detect_drift(current, sketch, drift_share=0.3)
    assert check.dataset_drift and 0.3 <= check.drifted_share < 0.5  # a day the spec's share fails, evidently's not

    path = tmp_path / "spec-share.html"
    write_drift_report(current, sketch, path, sample_rows=None, drift_share=0.3, overrides=check.as_overrides())
    html = path.read_text()
    headlines, columns = page_verdicts(html)
    assert headlines == {(True, "0.3")}
    assert {name: drifted for name, (_, drifted) in columns.items()} == {c.column: c.drifted for c in check.columns}
    assert "Dataset drift threshold: 0.3 (share of compared columns)" in html

    # What the page said before the asset passed the spec's share: evidently's 0.5, and the opposite verdict.
    write_drift_report(current, sketch, tmp_path / "default.html", sample_rows=None)
    assert page_verdicts((tmp_path / "default.html").read_text())[0] == {(False, "0.5")}


def seasonal_window(days: int, rows: int, seed: int) -> pd.DataFrame:
    """Days whose income and score move by a day effect, so calibration loosens their thresholds."""
    rng = np.random.default_rng(seed)
    frames = [
        mixed_frame(rows, seed=seed + d, mean_shift=float(rng.normal(0, 0.3))).assign(day=f"2026-01-{d + 1:02d}")
        for d in range(days)
    ]
    return pd.concat(frames, ignore_index=True)


def test_the_page_applies_the_checks_calibrated_tests_even_on_a_sample(tmp_path: Path) -> None:
    window = seasonal_window(6, 400, seed=3)
    calibration = calibrate_thresholds(window, day_column="day", column_kinds=MIXED_KINDS, false_alarm_rate=0.05)
    income = calibration.columns["income"]
    assert (income.method, income.default_threshold) == ("wasserstein", 0.1) and income.threshold > 0.15
    sketch = ReferenceSketch.from_frame(window[list(MIXED_KINDS)], MIXED_KINDS)  # 2,400 rows: distances
    current = mixed_frame(600, seed=11, mean_shift=0.2)
    check = detect_drift(current, sketch, drift_share=0.3, overrides=calibration.overrides())
    assert check.column("income").threshold == income.threshold

    # 200 reference rows on the page: evidently's own rule would test the numerical columns with K-S p-values.
    path = tmp_path / "calibrated.html"
    write_drift_report(current, sketch, path, sample_rows=200, drift_share=0.3, overrides=check.as_overrides())
    html = path.read_text()
    _, columns = page_verdicts(html)
    description, _ = columns["income"]
    assert "The drift detection method is Wasserstein distance (normed)" in description
    assert f"The drift threshold is {income.threshold:.2f}." in description
    assert f"`income` wasserstein, threshold {income.threshold:.4g}" in html  # exactly, in the note
    for c in check.columns:
        assert c.method in {"wasserstein", "jensenshannon"}
        assert f"`{c.column}` {c.method}, threshold {c.threshold:.4g}" in html

    write_drift_report(current, sketch, tmp_path / "unpinned.html", sample_rows=200, drift_share=0.3)
    unpinned, _ = page_verdicts((tmp_path / "unpinned.html").read_text())[1]["income"]
    assert "K-S p_value" in unpinned  # what pinning the check's method avoids


def test_as_overrides_keeps_the_given_override_where_a_method_cannot_be_pinned() -> None:
    kinds = {"weekday": "numerical", "x": "numerical"}
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"weekday": rng.integers(0, 5, 800), "x": rng.normal(0, 1, 800)})
    given = {"weekday": ColumnOverride(threshold=0.01)}
    check = detect_drift(frame, ReferenceSketch.from_frame(frame, kinds), overrides=given)
    assert check.column("weekday").method == "chisquare"  # evidently's rule for five values; not for an override
    assert check.as_overrides(given) == {"weekday": given["weekday"], "x": ColumnOverride(method="ks", threshold=0.05)}
