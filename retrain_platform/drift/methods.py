"""The drift methods, computed from column summaries exactly as evidently 0.7 computes them.

Each method mirrors one of evidently's stattests (``evidently/legacy/calculations/stattests``):
same statistic, same default threshold, same comparison (``<=``, ``<`` or ``>=``). The
inputs are :mod:`~retrain_platform.drift.columns` summaries, so the reference side is
already sorted / counted and only the current column is sorted once per check.

Scores agree with evidently's to floating-point rounding (summation order differs);
the agreement tests in ``retrain_platform_tests/drift`` pin a relative tolerance of 1e-9.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np

from retrain_platform.drift.columns import (
    CATEGORICAL,
    NUMERICAL,
    CategoryCounts,
    ColumnKind,
    ColumnSummary,
    NumericColumn,
)

# scipy.stats.ks_2samp(method="auto") computes an exact p-value up to this sample size
# and the asymptotic one above it (scipy's MAX_AUTO_N).
_KS_EXACT_MAX_N = 10_000
# evidently.legacy...utils.get_binned_data: histogram bins only above this many distinct reference values.
_BINNING_MIN_UNIQUE = 20
# evidently's floor for the reference standard deviation in the normed Wasserstein distance.
_WASSERSTEIN_MIN_NORM = 0.001


@dataclass(frozen=True)
class DriftMethod:
    """One drift method: how to score a column pair and when the score means drift."""

    name: str
    """Name used in overrides and results (evidently's registered name)."""
    evidently_name: str
    """evidently's display name, as it appears in its reports."""
    kinds: tuple[ColumnKind, ...]
    """Column kinds the method accepts in an override (evidently's allowed feature types)."""
    default_threshold: float
    is_p_value: bool
    """True for p-values (drift when small), False for distances (drift when large)."""
    score: Callable[[ColumnSummary, ColumnSummary], float]
    """``score(reference, current)``."""
    drifted: Callable[[float, float], bool]
    """``drifted(score, threshold)``; NaN scores never count as drift, as in evidently."""


def ks_p_value(reference: NumericColumn, current: NumericColumn) -> float:
    """Two-sided two-sample Kolmogorov-Smirnov p-value (``scipy.stats.ks_2samp``)."""
    # scipy is imported where it is used: spec validation imports this module, and scipy.stats costs 0.6 s.
    from scipy import stats

    ref, cur = reference.sorted_values, current.sorted_values
    if max(ref.size, cur.size) <= _KS_EXACT_MAX_N:
        # Small samples: scipy's exact p-value; re-sorting at most 10k values costs nothing.
        return float(stats.ks_2samp(ref, cur).pvalue)
    # Large samples: ks_2samp would sort both sides again; the statistic is computed
    # from the presorted arrays with the same arithmetic, then scipy's asymptotic p-value.
    statistic = max(
        float(np.max(np.abs(_ecdf(ref, ref) - _ecdf(cur, ref)))),
        float(np.max(np.abs(_ecdf(ref, cur) - _ecdf(cur, cur)))),
    )
    n_large, n_small = sorted([float(ref.size), float(cur.size)], reverse=True)
    effective_n = n_large * n_small / (n_large + n_small)
    return float(np.clip(stats.kstwo.sf(statistic, np.round(effective_n)), 0, 1))


def _ecdf(sorted_sample: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Empirical CDF of ``sorted_sample`` at ``points``."""
    return np.searchsorted(sorted_sample, points, side="right") / sorted_sample.size


def wasserstein_normed(reference: NumericColumn, current: NumericColumn) -> float:
    """First Wasserstein distance divided by ``max(std(reference), 0.001)``.

    ``scipy.stats.wasserstein_distance`` argsorts both samples and sorts their
    concatenation on every call. With both samples sorted, the distance is the integral
    over quantile levels ``t`` of ``|Q_ref(t) - Q_cur(t)|``; both quantile functions are
    step functions (steps at ``i/n`` and ``j/m``), so the integral is a sum over the
    segments between consecutive steps, and where each segment starts and ends follows
    from integer arithmetic: no search, no extra sort, no merged array.
    """
    ref, cur = reference.sorted_values, current.sorted_values
    # A level shared by both step sets starts one segment, counted on the reference side.
    integral = _segments_from_steps(ref, cur, owns_shared_levels=True)
    integral += _segments_from_steps(cur, ref, owns_shared_levels=False)
    distance_value = integral / (ref.size * cur.size)
    return distance_value / max(reference.std, _WASSERSTEIN_MIN_NORM)


def _segments_from_steps(own: np.ndarray, other: np.ndarray, owns_shared_levels: bool) -> float:
    """Integral of ``|Q_own - Q_other|`` over the segments that start at a step of ``own``.

    Levels are scaled by ``n*m`` so that every step (``i/n`` -> ``i*m``, ``j/m`` -> ``j*n``)
    is an exact integer. The segment starting at own step ``i`` runs to the nearer of the
    next own step and the next step of ``other``; on it ``Q_own = own[i]`` and
    ``Q_other = other[k]``, with ``k`` the other step in force at level ``i*m``.
    """
    n_own, n_other = own.size, other.size
    levels = np.arange(n_own, dtype=np.int64)
    levels *= n_other
    other_index, remainder = np.divmod(levels, n_own)
    # Next step of `other` is (k + 1) * n_own; the next own step is n_other further on.
    widths = other_index + 1
    widths *= n_own
    widths -= levels
    np.minimum(widths, n_other, out=widths)
    if not owns_shared_levels:
        widths[remainder == 0] = 0
    gaps = other[other_index]
    gaps -= own
    np.abs(gaps, out=gaps)
    gaps *= widths
    # A plain (pairwise) sum: np.dot goes through multithreaded BLAS, whose wake-up
    # latency costs more than the whole product here.
    return float(gaps.sum())


def _aligned_counts(reference: CategoryCounts, current: CategoryCounts) -> tuple[list, np.ndarray, np.ndarray]:
    """Counts of both sides over the union of their values (reference values first)."""
    index: dict[Hashable, int] = {value: i for i, value in enumerate(reference.values)}
    for value in current.values:
        index.setdefault(value, len(index))
    ref_counts = np.zeros(len(index), dtype=np.int64)
    cur_counts = np.zeros(len(index), dtype=np.int64)
    ref_counts[[index[v] for v in reference.values]] = reference.counts
    cur_counts[[index[v] for v in current.values]] = current.counts
    return list(index), ref_counts, cur_counts


def chisquare_p_value(reference: ColumnSummary, current: ColumnSummary) -> float:
    """Pearson chi-square p-value of current counts against reference shares (``scipy.stats.chisquare``)."""
    from scipy import stats

    _, ref_counts, cur_counts = _aligned_counts(reference.counts, current.counts)
    expected = ref_counts * (current.n / reference.n)
    with np.errstate(divide="ignore", invalid="ignore"):
        # Categories unseen in the reference have expected 0: statistic inf, p-value 0, as in evidently.
        return float(stats.chisquare(cur_counts, expected)[1])


def z_p_value(reference: ColumnSummary, current: ColumnSummary) -> float:
    """Two-proportion z-test p-value: share of the smallest value vs. all others.

    evidently evaluates this row by row with ``Series.apply``; here it is the same
    arithmetic on counts (there is no two-proportion z-test in scipy).
    """
    from scipy import stats

    same_single_value = reference.nunique == 1 and current.nunique == 1
    if same_single_value and reference.counts.values[0] == current.counts.values[0]:
        return 1.0
    keys, ref_counts, cur_counts = _aligned_counts(reference.counts, current.counts)
    try:
        first = keys.index(min(keys))
    except TypeError:  # mixed value types cannot be ordered; any fixed choice is as good
        first = keys.index(min(keys, key=str))
    n1, n2 = reference.n, current.n
    # Share of entries that are *not* the first key, as evidently encodes it.
    p1 = float(n1 - ref_counts[first]) / n1
    p2 = float(n2 - cur_counts[first]) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    # 1 - cdf rather than sf: evidently's formula, kept so tiny p-values agree too.
    return float(2 * (1 - stats.norm.cdf(np.abs(z))))


def _binned_shares(reference: ColumnSummary, current: ColumnSummary, fill_zeros: bool) -> tuple[np.ndarray, np.ndarray]:
    """Shares per bin or category, as evidently's ``get_binned_data``.

    Numeric columns with more than 20 distinct reference values use Sturges bins over
    both samples; everything else uses one bin per observed value.
    """
    if isinstance(reference, NumericColumn) and reference.nunique > _BINNING_MIN_UNIQUE:
        ref, cur = reference.sorted_values, current.sorted_values
        edges = np.histogram_bin_edges(np.concatenate((ref, cur)), bins="sturges")
        ref_counts, cur_counts = _histogram_sorted(ref, edges), _histogram_sorted(cur, edges)
    else:
        _, ref_counts, cur_counts = _aligned_counts(reference.counts, current.counts)
    ref_shares = ref_counts / reference.n
    cur_shares = cur_counts / current.n
    if fill_zeros:
        _fill_zero_shares(ref_shares)
        _fill_zero_shares(cur_shares)
    return ref_shares, cur_shares


def _histogram_sorted(sorted_sample: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.histogram(sample, edges)[0]`` for a sorted sample, by searching the edges.

    Bins are ``[e_i, e_i+1)`` with the last one closed, exactly as ``np.histogram``.
    """
    positions = np.searchsorted(sorted_sample, edges, side="left")
    positions[-1] = sorted_sample.size
    return np.diff(positions)


def _fill_zero_shares(shares: np.ndarray) -> None:
    """Replace empty bins by a small share, in place, with evidently's rule (PSI needs logs)."""
    smallest = shares[shares != 0].min()
    np.place(shares, shares == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001)


def jensenshannon_distance(reference: ColumnSummary, current: ColumnSummary) -> float:
    """Jensen-Shannon distance (natural log) between the binned shares."""
    from scipy.spatial import distance

    ref_shares, cur_shares = _binned_shares(reference, current, fill_zeros=False)
    return float(distance.jensenshannon(ref_shares, cur_shares))


def psi_value(reference: ColumnSummary, current: ColumnSummary) -> float:
    """Population stability index between the binned shares."""
    ref_shares, cur_shares = _binned_shares(reference, current, fill_zeros=True)
    return float(np.sum((ref_shares - cur_shares) * np.log(ref_shares / cur_shares)))


def _p_value_drifted(inclusive: bool) -> Callable[[float, float], bool]:
    if inclusive:
        return lambda score, threshold: bool(score <= threshold)
    return lambda score, threshold: bool(score < threshold)


def _distance_drifted(score: float, threshold: float) -> bool:
    return bool(score >= threshold)


_P_VALUE = {"is_p_value": True, "default_threshold": 0.05}
_DISTANCE = {"is_p_value": False, "default_threshold": 0.1, "drifted": _distance_drifted}

_METHODS: dict[str, DriftMethod] = {
    method.name: method
    for method in (
        # evidently's K-S test alone counts p == threshold as drift.
        DriftMethod("ks", "K-S p_value", (NUMERICAL,), score=ks_p_value, drifted=_p_value_drifted(True), **_P_VALUE),
        DriftMethod(
            "wasserstein",
            "Wasserstein distance (normed)",
            (NUMERICAL,),
            score=wasserstein_normed,
            **_DISTANCE,
        ),
        DriftMethod(
            "chisquare",
            "chi-square p_value",
            (CATEGORICAL,),
            score=chisquare_p_value,
            drifted=_p_value_drifted(False),
            **_P_VALUE,
        ),
        DriftMethod(
            "z",
            "Z-test p_value",
            (CATEGORICAL,),
            score=z_p_value,
            drifted=_p_value_drifted(False),
            **_P_VALUE,
        ),
        DriftMethod(
            "jensenshannon",
            "Jensen-Shannon distance",
            (CATEGORICAL, NUMERICAL),
            score=jensenshannon_distance,
            **_DISTANCE,
        ),
        DriftMethod("psi", "PSI", (CATEGORICAL, NUMERICAL), score=psi_value, **_DISTANCE),
    )
}

#: Names accepted as ``ColumnOverride.method``.
SUPPORTED_METHODS: tuple[str, ...] = tuple(_METHODS)


def get_method(name: str) -> DriftMethod:
    """Look a method up by name.

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    try:
        return _METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown drift method {name!r}; valid methods are: {', '.join(SUPPORTED_METHODS)}") from None
