"""The evidently HTML drift report, built from bounded, reproducible samples.

evidently is kept for its HTML report only; the verdicts recorded for a partition come
from :func:`retrain_platform.drift.detect_drift`. To keep the report's cost flat, it is
built from at most ``sample_rows`` rows per side (default 5,000), drawn uniformly
without replacement with a fixed seed, so the same inputs give the same page.

**Where the reference rows come from (the choice made here):** pass the
:class:`~retrain_platform.drift.ReferenceSketch` as ``reference``. The sketch stores a
bounded reproducible row sample of the reference window (drawn once, when the sketch is
built), so writing a report never reloads the reference window. A reference DataFrame
(plus ``column_kinds``) is accepted too, for callers that hold the window anyway.

The page says it is sampled and how: a text widget at the top carries the description,
which is also stored in the report metadata (``"sampling"``) and returned, one line,
for the caller's asset metadata. The same ``drift_share`` and per-column overrides as
the check can be passed so the report uses the same methods and thresholds
(:meth:`~retrain_platform.drift.DriftResult.as_overrides` gives the ones a check applied);
the note states them exactly, since evidently's widgets round thresholds to two decimals.

Columns evidently cannot compare (missing from the current frame, or with no
non-missing values in either sample) are left out of the report and named in the note;
with no comparable column at all (e.g. an empty partition) the page holds only the note.

Importing this module imports evidently (seconds); the package imports it lazily.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.core.container import MetricContainer
from evidently.legacy.renderers.html_widgets import text_widget
from evidently.presets import DataDriftPreset

from retrain_platform.drift.columns import NUMERICAL, ColumnKind, validate_column_kinds
from retrain_platform.drift.options import (
    DEFAULT_DRIFT_SHARE,
    ColumnOverride,
    validate_drift_share,
    validate_overrides,
)
from retrain_platform.drift.sampling import (
    DEFAULT_SAMPLE_ROWS,
    sample_frame,
    validate_sample_rows,
    validate_seed,
)
from retrain_platform.drift.sketch import ReferenceSketch


class SamplingNote(MetricContainer):
    """A text panel in an evidently report (a container that computes no metric)."""

    text: str

    def __init__(self, text: str):
        self.text = text
        super().__init__(include_tests=False)

    def generate_metrics(self, context):
        """No metrics: the note only renders text."""
        return []

    def render(self, context, child_widgets=None):
        """One markdown text widget."""
        return [text_widget(text=self.text, title="Sampling")]


def write_drift_report(
    current: pd.DataFrame,
    reference: ReferenceSketch | pd.DataFrame,
    path: Path | str,
    *,
    column_kinds: Mapping[str, str] | None = None,
    sample_rows: int | None = DEFAULT_SAMPLE_ROWS,
    seed: int = 0,
    drift_share: float = DEFAULT_DRIFT_SHARE,
    overrides: Mapping[str, ColumnOverride] | None = None,
) -> str:
    """Write evidently's data drift HTML report for ``current`` against ``reference`` to ``path``.

    Args:
        current: the current partition.
        reference: a :class:`ReferenceSketch` (its stored reference sample is used) or the
            reference window itself.
        path: the HTML file to write (parent directories are created).
        column_kinds: required with a DataFrame reference; with a sketch, the sketch's own.
        sample_rows: at most this many rows per side; ``None`` disables sampling. With a
            sketch the reference side never exceeds the sample stored in it
            (``ReferenceSketch.from_frame(sample_rows=...)``, default 5,000 rows).
        seed: sampling seed.
        drift_share: dataset drift share shown in the report.
        overrides: per-column methods/thresholds, as for :func:`detect_drift`.

    Returns:
        One line describing the sampling, e.g. ``"sampled 5,000 of 120,000 current rows and
        5,000 of 900,000 reference rows (seed 0)"``.

    Raises:
        ValueError: for invalid arguments (with a sketch, ``column_kinds`` must be omitted
            or equal the sketch's).
    """
    sample_rows = validate_sample_rows(sample_rows)
    seed = validate_seed(seed)
    drift_share = validate_drift_share(drift_share)
    if not isinstance(current, pd.DataFrame):
        raise ValueError(f"current must be a pandas DataFrame; got {type(current).__name__}")

    if isinstance(reference, ReferenceSketch):
        if column_kinds is not None and dict(column_kinds) != reference.column_kinds:
            raise ValueError("column_kinds differs from the sketch's; omit it when passing a sketch")
        kinds = reference.column_kinds
        reference_rows = reference.n_rows
        reference_sample = sample_frame(reference.sample, sample_rows, seed)
        origin = f"; reference rows from the sample stored in the sketch (seed {reference.sample_seed})"
    elif isinstance(reference, pd.DataFrame):
        if column_kinds is None:
            raise ValueError("column_kinds is required when reference is a DataFrame")
        kinds = validate_column_kinds(column_kinds)
        missing = [name for name in kinds if name not in reference.columns]
        if missing:
            raise ValueError(f"columns {missing} are not in the reference frame; fix column_kinds or the frame")
        reference_rows = len(reference)
        reference_sample = sample_frame(reference[list(kinds)], sample_rows, seed)
        origin = ""
    else:
        raise ValueError(f"reference must be a ReferenceSketch or a DataFrame; got {type(reference).__name__}")
    checked_overrides = validate_overrides(overrides, kinds)
    current_sample = sample_frame(current, sample_rows, seed)

    description = (
        _describe_sampling(len(current_sample), len(current), len(reference_sample), reference_rows, sample_rows, seed)
        + origin
    )
    columns, excluded = _comparable_columns(kinds, current_sample, reference_sample)
    note = (
        f"**Sampled drift report.** {description}. Scores and verdicts here are evidently's on these "
        "rows and can differ from the partition's recorded drift check, which uses every row."
    )
    if excluded:
        reasons = "; ".join(f"`{name}` ({reason})" for name, reason in excluded.items())
        note += f" Not compared: {reasons}."
    overrides_shown = {c: o for c, o in checked_overrides.items() if c in columns}
    note += _describe_tests(drift_share, overrides_shown)

    metrics: list = [SamplingNote(note)]
    if columns:
        metrics.append(
            DataDriftPreset(
                columns=columns,
                drift_share=drift_share,
                per_column_method={c: o.method for c, o in overrides_shown.items() if o.method},
                per_column_threshold={c: o.threshold for c, o in overrides_shown.items() if o.threshold is not None},
            )
        )
    definition = DataDefinition(
        numerical_columns=[c for c in columns if kinds[c] == NUMERICAL],
        categorical_columns=[c for c in columns if kinds[c] != NUMERICAL],
    )
    # evidently's charts call NumPy on numerical columns; pandas' nullable dtypes (Int64, Float64) reach it as
    # object arrays and fail, so numerical columns are handed over as plain float64.
    plain = {c: "float64" for c in definition.numerical_columns}
    snapshot = Report(metrics, include_tests=True, metadata={"sampling": description}).run(
        Dataset.from_pandas(current_sample[columns].astype(plain), data_definition=definition),
        Dataset.from_pandas(reference_sample[columns].astype(plain), data_definition=definition),
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(path))
    return description


def _describe_sampling(
    current_kept: int, current_rows: int, reference_kept: int, reference_rows: int, cap: int | None, seed: int
) -> str:
    """One line on the rows each side uses, e.g. "sampled 5,000 of 120,000 current rows and ..."."""
    current_sampled, reference_sampled = current_kept < current_rows, reference_kept < reference_rows
    if not (current_sampled or reference_sampled):
        return f"not sampled: all {current_rows:,} current rows and all {reference_rows:,} reference rows"
    # Without a cap only a sketch's stored reference sample is sampled, with the sketch's seed.
    settings = "" if cap is None else f" (seed {seed}, at most {cap:,} rows per side)"
    if current_sampled and reference_sampled:
        return (
            f"sampled {current_kept:,} of {current_rows:,} current rows and "
            f"{reference_kept:,} of {reference_rows:,} reference rows{settings}"
        )

    def side(kept: int, rows: int, name: str) -> str:
        if kept < rows:
            return f"sampled {kept:,} of {rows:,} {name} rows"
        return f"used all {rows:,} {name} rows"

    current_side = side(current_kept, current_rows, "current")
    return f"{current_side} and {side(reference_kept, reference_rows, 'reference')}{settings}"


def _describe_tests(drift_share: float, overrides: Mapping[str, ColumnOverride]) -> str:
    """The thresholds the page applies, exactly (evidently's own widgets round them to two decimals)."""
    text = f" Dataset drift threshold: {drift_share:.4g} (share of compared columns)."
    if overrides:

        def test(override: ColumnOverride) -> str:
            method = override.method or "default method"
            threshold = "default threshold" if override.threshold is None else f"threshold {override.threshold:.4g}"
            return f"{method}, {threshold}"

        text += " Per-column tests: " + "; ".join(f"`{c}` {test(o)}" for c, o in overrides.items()) + "."
    return text


def _comparable_columns(
    kinds: Mapping[str, ColumnKind], current: pd.DataFrame, reference: pd.DataFrame
) -> tuple[list[str], dict[str, str]]:
    """Columns evidently can compare, and why the others cannot (evidently raises on them)."""
    columns: list[str] = []
    excluded: dict[str, str] = {}
    for name in kinds:
        if name not in current.columns:
            excluded[name] = "missing from current"
        elif not _has_values(current[name]):
            excluded[name] = "no non-missing values in the current rows"
        elif not _has_values(reference[name]):
            excluded[name] = "no non-missing values in the reference rows"
        else:
            columns.append(name)
    return columns, excluded


def _has_values(series: pd.Series) -> bool:
    """Whether anything is left once evidently drops nulls and infinities."""
    return bool(series.replace([-np.inf, np.inf], np.nan).notna().any())
