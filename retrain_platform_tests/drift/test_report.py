"""The sampled evidently HTML report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retrain_platform.drift import ColumnOverride, ReferenceSketch, write_drift_report
from retrain_platform.drift.sampling import sample_frame
from retrain_platform_tests.drift.frames import MIXED_KINDS, mixed_frame


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
