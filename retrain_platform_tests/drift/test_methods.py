"""The hand-written fast paths against the scipy/numpy functions they replace (no evidently needed)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from retrain_platform.drift.columns import CategoricalColumn, NumericColumn
from retrain_platform.drift.methods import (
    _histogram_sorted,
    ks_p_value,
    wasserstein_normed,
    z_p_value,
)


def numeric(values) -> NumericColumn:
    return NumericColumn.from_series(pd.Series(values, dtype=float))


@pytest.mark.parametrize("seed", range(40))
def test_wasserstein_matches_scipy_with_ties_and_unequal_sizes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = rng.integers(1, 300, size=2)
    reference = rng.integers(0, 10, n) * 0.5
    current = rng.integers(0, 12, m) * 0.5 + rng.normal(0, 1e-3) * (seed % 2)
    ours = wasserstein_normed(numeric(reference), numeric(current))
    expected = stats.wasserstein_distance(reference, current) / max(float(np.std(reference)), 0.001)
    assert math.isclose(ours, expected, rel_tol=1e-12, abs_tol=1e-15)


def test_wasserstein_matches_scipy_on_large_continuous_samples() -> None:
    rng = np.random.default_rng(0)
    reference, current = rng.normal(size=200_003), rng.standard_t(5, size=150_001)
    ours = wasserstein_normed(numeric(reference), numeric(current))
    expected = stats.wasserstein_distance(reference, current) / np.std(reference)
    assert math.isclose(ours, expected, rel_tol=1e-11)


@pytest.mark.parametrize(("n", "m"), [(800, 9_000), (50, 30_000), (12_000, 20_000), (30_000, 10_001)])
@pytest.mark.parametrize("shift", [0.0, 0.03, 0.5])
def test_ks_matches_scipy_on_both_branches(n: int, m: int, shift: float) -> None:
    rng = np.random.default_rng(n + m)
    reference = np.round(rng.normal(size=n), 2)  # rounding creates ties
    current = np.round(rng.normal(shift, 1, size=m), 2)
    ours = ks_p_value(numeric(reference), numeric(current))
    assert math.isclose(ours, stats.ks_2samp(reference, current).pvalue, rel_tol=1e-12, abs_tol=1e-300)


def test_sorted_histogram_matches_numpy_including_values_on_edges() -> None:
    rng = np.random.default_rng(1)
    values = np.sort(np.r_[rng.integers(0, 40, 5_000).astype(float), np.linspace(0, 39, 11)])
    edges = np.histogram_bin_edges(values, bins="sturges")
    values = np.sort(np.r_[values, edges])  # put values exactly on every edge
    np.testing.assert_array_equal(_histogram_sorted(values, edges), np.histogram(values, edges)[0])


def test_z_test_is_symmetric_in_which_value_comes_first() -> None:
    ref = CategoricalColumn.from_series(pd.Series(["a"] * 70 + ["b"] * 30))
    cur = CategoricalColumn.from_series(pd.Series(["a"] * 55 + ["b"] * 45))
    swapped_ref = CategoricalColumn.from_series(pd.Series(["b"] * 70 + ["a"] * 30))
    swapped_cur = CategoricalColumn.from_series(pd.Series(["b"] * 55 + ["a"] * 45))
    assert z_p_value(ref, cur) == pytest.approx(z_p_value(swapped_ref, swapped_cur), rel=1e-12)


def test_numeric_column_counts_and_uniques_from_sorted_values() -> None:
    column = numeric([3.0, 1.0, np.nan, 3.0, -0.0, 0.0, np.inf, 1.0, 3.0])
    assert column.n == 7 and column.n_missing == 2
    assert column.nunique == 3
    assert column.counts.as_dict() == {0.0: 2, 1.0: 2, 3.0: 3}
    assert numeric([]).nunique == 0 and numeric([]).counts.values == ()
