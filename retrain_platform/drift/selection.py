"""Which method evidently 0.7's ``DataDriftPreset`` picks for a column by default.

In evidently 0.7.23 the preset creates one ``ValueDrift`` metric per column with
``method=None``; its calculation (``get_one_column_drift``) drops missing values and
then calls ``legacy/calculations/stattests/registry.py::_get_default_stattest`` with
the *cleaned* reference and current columns. That rule, reproduced here:

=========================  ==============================  =======================
non-missing reference rows  numerical column               categorical column
=========================  ==============================  =======================
<= 1000                    ``ks``; but if the union of     ``chisquare`` if the
                           both sides has <= 5 distinct    union has > 2 distinct
                           values: ``chisquare`` if > 2,   values, else ``z``
                           else ``z``
> 1000                     ``wasserstein``; ``jensen-      ``jensenshannon``
                           shannon`` if the union has
                           <= 5 distinct values
=========================  ==============================  =======================

The row count is the number of *non-missing* reference values of that column, so a
1,001-row reference with one ``NaN`` in a column is on the small side for that column.
"""

from __future__ import annotations

from retrain_platform.drift.columns import NUMERICAL, ColumnKind, ColumnSummary

SMALL_REFERENCE_MAX_ROWS = 1000
"""Reference columns with at most this many non-missing values use the small-sample tests."""
FEW_VALUES_MAX = 5
"""Numeric columns with at most this many distinct values (both sides) are treated as discrete."""
BINARY_MAX = 2
"""With at most this many distinct values the z-test replaces the chi-square test."""


def _distinct_values_exceed(reference: ColumnSummary, current: ColumnSummary, limit: int) -> bool:
    """Whether both sides together hold more than ``limit`` distinct values.

    Cheap checks first: when either side alone exceeds the limit, the union is never built.
    """
    if reference.nunique > limit or current.nunique > limit:
        return True
    return len(set(reference.counts.values) | set(current.counts.values)) > limit


def default_method_name(kind: ColumnKind, reference: ColumnSummary, current: ColumnSummary) -> str:
    """Name of the method evidently's ``DataDriftPreset`` uses for this column pair."""
    small_reference = reference.n <= SMALL_REFERENCE_MAX_ROWS
    if kind == NUMERICAL:
        if _distinct_values_exceed(reference, current, FEW_VALUES_MAX):
            return "ks" if small_reference else "wasserstein"
        if not small_reference:
            return "jensenshannon"
    elif not small_reference:
        return "jensenshannon"
    return "chisquare" if _distinct_values_exceed(reference, current, BINARY_MAX) else "z"
