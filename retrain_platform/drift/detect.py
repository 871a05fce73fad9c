"""The drift check: a current partition against a reference sketch.

Per sketched column the verdict is what evidently 0.7.23's ``DataDriftPreset`` reports
(method chosen by :mod:`~retrain_platform.drift.selection`, scores from
:mod:`~retrain_platform.drift.methods`, thresholds and comparisons as evidently's), and
the dataset verdict is ``drifted_share >= drift_share``. Each current column is cleaned
and sorted (or counted) once; the reference is never touched beyond its sketch.

Defined behaviour where evidently raises or says nothing (none of these raise):

* **column missing from the current partition**: not tested; note
  ``"missing from current partition"``.
* **no non-missing values in the current column** (all null, or an empty partition):
  not tested; note ``"no non-missing values in current"``.
* **no non-missing values in the reference column**: not tested; note
  ``"no non-missing values in reference"``.
* Untested columns have ``drifted=False`` and are left out of ``drifted_share``; when
  no column can be tested the share is 0.0 and ``dataset_drift`` is False.
* **nulls** (``NaN``, ``None``, ``pd.NA``, ``±inf``) are dropped per column before any
  statistic, as evidently's ``ValueDrift`` does; row counts that choose the method
  (evidently's 1,000-row switch) are counts of non-missing values. (evidently's
  dataset-level ``DriftedColumnsCount`` recomputes each column through the legacy
  ``DatasetDriftMetric``, which drops ``±inf`` only in columns that also hold a ``NaN``; on
  a column with infinities but no ``NaN`` it can contradict its own ``ValueDrift``. The
  count here always follows the per-column verdicts.)
* **constant columns** are scored like any other (evidently's z-test returns p = 1 for the
  same constant on both sides; Jensen-Shannon is 0); a changed constant drifts.
* **categories unseen in the reference** take part in the test (they usually drive
  drift: chi-square p = 0, a positive Jensen-Shannon distance) and are named in the note.
* Columns of the current frame that are not in the sketch are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from retrain_platform.drift.columns import CategoricalColumn, ColumnKind, ColumnSummary, summarize
from retrain_platform.drift.methods import get_method
from retrain_platform.drift.options import (
    DEFAULT_DRIFT_SHARE,
    ColumnOverride,
    check_threshold_for,
    validate_drift_share,
    validate_overrides,
)
from retrain_platform.drift.result import ColumnDrift, DriftResult
from retrain_platform.drift.selection import default_method_name
from retrain_platform.drift.sketch import ReferenceSketch

MISSING_COLUMN_NOTE = "missing from current partition"
EMPTY_CURRENT_NOTE = "no non-missing values in current"
EMPTY_REFERENCE_NOTE = "no non-missing values in reference"
_UNSEEN_SHOWN = 5


def detect_drift(
    current: pd.DataFrame,
    sketch: ReferenceSketch,
    *,
    drift_share: float = DEFAULT_DRIFT_SHARE,
    overrides: Mapping[str, ColumnOverride] | None = None,
) -> DriftResult:
    """Check every sketched column of ``current`` for drift against ``sketch``.

    Args:
        current: the partition to check.
        sketch: the reference, from :meth:`ReferenceSketch.from_frame` or :meth:`ReferenceSketch.load`.
        drift_share: the dataset drifts when at least this share of tested columns drift.
        overrides: per-column method and/or threshold, replacing evidently's defaults.

    Raises:
        ValueError: for invalid ``drift_share`` or ``overrides``, or a numerical column
            holding non-numeric data (a schema error, not drift).
    """
    if not isinstance(current, pd.DataFrame):
        raise ValueError(f"current must be a pandas DataFrame; got {type(current).__name__}")
    if not isinstance(sketch, ReferenceSketch):
        raise ValueError(f"sketch must be a ReferenceSketch; got {type(sketch).__name__}")
    drift_share = validate_drift_share(drift_share)
    checked_overrides = validate_overrides(overrides, sketch.column_kinds)
    columns = [
        _check_column(name, kind, sketch.summaries[name], current, checked_overrides.get(name))
        for name, kind in sketch.column_kinds.items()
    ]
    return DriftResult(columns, drift_share, n_current=len(current), n_reference=sketch.n_rows)


def _check_column(
    name: str,
    kind: ColumnKind,
    reference: ColumnSummary,
    current_frame: pd.DataFrame,
    override: ColumnOverride | None,
) -> ColumnDrift:
    if name not in current_frame.columns:
        return _untested(name, kind, MISSING_COLUMN_NOTE)
    if reference.n == 0:
        return _untested(name, kind, EMPTY_REFERENCE_NOTE)
    current = summarize(current_frame[name], kind)
    if current.n == 0:
        return _untested(name, kind, EMPTY_CURRENT_NOTE)
    if override and override.method:
        method = get_method(override.method)
    else:
        method = get_method(default_method_name(kind, reference, current))
    threshold = method.default_threshold
    if override and override.threshold is not None:
        threshold = float(override.threshold)
        # Only now is the method known when the override gave just a threshold.
        check_threshold_for(method, threshold, name)
    score = method.score(reference, current)
    return ColumnDrift(
        column=name,
        kind=kind,
        method=method.name,
        score=score,
        threshold=threshold,
        drifted=method.drifted(score, threshold),
        note=_unseen_categories_note(reference, current),
    )


def _untested(name: str, kind: ColumnKind, note: str) -> ColumnDrift:
    return ColumnDrift(name, kind, method=None, score=None, threshold=None, drifted=False, note=note)


def _unseen_categories_note(reference: ColumnSummary, current: ColumnSummary) -> str | None:
    """Name the current categories that never occur in the reference (categorical columns only)."""
    if not isinstance(reference, CategoricalColumn):
        return None
    known = set(reference.counts.values)
    unseen = [value for value in current.counts.values if value not in known]
    if not unseen:
        return None
    shown = ", ".join(repr(value) for value in unseen[:_UNSEEN_SHOWN])
    more = f" and {len(unseen) - _UNSEEN_SHOWN} more" if len(unseen) > _UNSEEN_SHOWN else ""
    return f"{len(unseen)} categories not seen in reference: {shown}{more}"
