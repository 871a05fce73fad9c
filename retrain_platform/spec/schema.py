"""The pandera schema a spec implies, and validation results shaped for a Dagster asset check.

Validation is lazy (every problem at once) and never raises for bad data: the caller decides to quarantine.
Problems a spec chose to tolerate (``on_unknown_category: map_to_unknown``, ``on_excess_nulls: warn``) are left
out of the schema and reported as *warnings* of a valid result instead, in the same shape as problems.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.engines import pandas_engine

from retrain_platform.spec.model_spec import INT64_RANGE, ColumnSpec, ModelSpec

_DTYPES = {"float": "float64", "int": "Int64", "bool": "boolean", "string": "string", "category": None}
_EXAMPLES = 5
_MIN_ROWS_ERROR = "fewer than {min_rows} row(s)"
_FINITE_ERROR = "finite (inf is not a value)"


def _null_tolerance(limit: float) -> pa.Check:
    return pa.Check(
        lambda s: len(s) == 0 or s.isna().mean() <= limit,
        element_wise=False,
        ignore_na=False,
        name="max_null_fraction",
        error=f"null fraction above {limit}",
    )


def _finite() -> pa.Check:
    # A bound would refuse inf anyway, but a float column without bounds would pass it on to training, where
    # scalers and estimators fail or silently produce nan: inf is never a valid feature value.
    return pa.Check(lambda s: np.isfinite(s), name="finite", error=_FINITE_ERROR)


def _column(name: str, spec: ColumnSpec, *, map_unknown: bool = False, warn_nulls: bool = False) -> pa.Column:
    """One column's pandera rules; the problems the spec tolerates for it are left to :func:`_warnings`."""
    checks: list[pa.Check] = [_finite()] if spec.type == "float" else []
    if spec.min is not None:
        checks.append(pa.Check.ge(spec.min))
    if spec.max is not None:
        checks.append(pa.Check.le(spec.max))
    if spec.categories is not None and not map_unknown:
        checks.append(pa.Check.isin(spec.categories))
    if spec.max_null_fraction > 0 and not warn_nulls:
        checks.append(_null_tolerance(spec.max_null_fraction))
    return pa.Column(
        _DTYPES[spec.type],
        checks=checks,
        nullable=spec.max_null_fraction > 0 or warn_nulls,
        coerce=_DTYPES[spec.type] is not None,
        required=True,
        description=spec.description,
        title=name,
    )


def build_schema(spec: ModelSpec) -> pa.DataFrameSchema:
    """The pandera schema for one partition of ``spec``'s data (features and target)."""
    return pa.DataFrameSchema(
        {
            name: _column(
                name,
                column,
                map_unknown=column.categories is not None and spec.unknown_category_policy(name) == "map_to_unknown",
                warn_nulls=spec.excess_nulls_policy(name) == "warn",
            )
            for name, column in spec.columns.items()
        },
        checks=[
            pa.Check(
                lambda df: len(df) >= spec.partitions.min_rows,
                name="min_rows",
                error=_MIN_ROWS_ERROR.format(min_rows=spec.partitions.min_rows),
            )
        ],
        strict="filter" if spec.ignore_extra_columns else True,
        ordered=False,
        name=spec.name,
    )


@dataclass
class ValidationResult:
    """The outcome of validating one partition: the typed frame if valid, else a per-problem summary.

    ``warnings`` (same shape as ``problems``) are what a valid partition's spec tolerates: values outside the
    categories that were mapped to null, and null shares above the tolerance that were kept.
    """

    frame: pd.DataFrame | None
    problems: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """True when the partition may be used downstream."""
        return self.frame is not None and not self.problems

    def describe(self, warnings: bool = False) -> str:
        """One line per problem (or per warning): which column, which check, how many rows, and examples."""
        return "\n".join(
            f"{p['column']}: {p['check']} failed on {p['rows']} row(s), e.g. {p['examples']}"
            for p in (self.warnings if warnings else self.problems)
        )


def _unreadable(series: pd.Series, column_type: str) -> pd.Series:
    """Which values a reader could not turn into ``column_type`` (a boolean mask over ``series``).

    These rules judge each value on its own, the way it would read once the file is fixed: a CSV column holding
    one bad value arrives as text, so ``"True"`` or ``"30"`` must count as good even though the coercion of that
    text column refuses them.
    """
    present = series.notna()
    if column_type in ("float", "int"):
        numbers = pd.to_numeric(series, errors="coerce")
        bad = present & numbers.isna()
        if column_type == "int":
            low, high = INT64_RANGE
            bad |= numbers.notna() & ((numbers % 1 != 0) | (numbers < low) | (numbers > high))
        return bad
    if column_type == "bool":
        text = series.astype(str).str.strip().str.lower()
        booleans = series.map(lambda v: isinstance(v, bool | np.bool_))
        return present & ~(booleans | text.isin(["true", "false", "1", "0", "1.0", "0.0"]))
    return pd.Series(False, index=series.index)


def _refused_by_coercion(values: pd.Series, dtype: str) -> list[str]:
    """The distinct values (as text) that pandera's own coercion to ``dtype`` refuses, found by bisection.

    A chunk that coerces holds no bad value, so only the halves that fail are split again: a few coercions of
    shrinking chunks for a few bad values, however many rows there are. A chunk that fails while both its halves
    coerce (values of mixed types that only fail together) is reported whole.
    """
    coerce = pandas_engine.Engine.dtype(dtype).coerce

    def refused(chunk: pd.Series) -> list[str]:
        try:
            coerce(chunk)
            return []
        except Exception:  # any coercion error means the same thing: a value in this chunk cannot be typed
            if len(chunk) == 1:
                return [str(chunk.iloc[0])]
            middle = len(chunk) // 2
            return refused(chunk.iloc[:middle]) + refused(chunk.iloc[middle:]) or chunk.astype(str).tolist()

    return refused(_distinct(values.dropna()))


def _unconvertible(series: pd.Series, column_type: str) -> pd.Index:
    """Rows whose value cannot become ``column_type``.

    pandera reports a failed coercion for the whole column (every row, or a single ``None``), which would send a
    user looking at valid rows; this finds the values that actually fail. When the reading rules find none (a
    value they do not model, such as a complex number), the coercion itself is asked, so a refused column never
    reports zero rows.
    """
    bad = _unreadable(series, column_type)
    if not bad.any():
        bad = series.notna() & series.astype(str).isin(_refused_by_coercion(series, _DTYPES[column_type]))
    return series.index[bad.to_numpy()]


def _distinct(values: pd.Series) -> pd.Series:
    # By text: drop_duplicates compares arrays (what a parquet list column reads as) by identity, so equal
    # values would be repeated as examples.
    return values[~values.astype(str).duplicated()]


def _problem(column: str, check: str, rows: pd.Index | int, examples: list) -> dict:
    count = rows if isinstance(rows, int) else len(rows)
    return {"column": column, "check": check, "rows": int(count), "examples": [str(x) for x in examples[:_EXAMPLES]]}


def _summarise(failure_cases: pd.DataFrame, frame: pd.DataFrame, spec: ModelSpec) -> list[dict]:
    cases = failure_cases.copy()
    table = cases["schema_context"].eq("DataFrameSchema")
    presence = table & cases["check"].isin(["column_in_dataframe", "column_in_schema"])
    cases.loc[presence, "column"] = cases.loc[presence, "failure_case"]
    cases.loc[table & ~presence, "column"] = "(table)"
    cases["column"] = cases["column"].fillna("(table)").astype(str)
    cases["check"] = cases["check"].astype(str)
    uncoercible = set(cases.loc[cases["check"].str.startswith("coerce_dtype"), "column"])
    # A column that cannot be typed fails every other check too; only the typing problem is worth reporting.
    cases = cases[~cases["column"].isin(uncoercible) | cases["check"].str.startswith("coerce_dtype")]
    problems = []
    for (column, check), group in cases.groupby(["column", "check"], sort=True):
        if column in uncoercible and column in frame and column in spec.columns:
            rows = _unconvertible(frame[column], spec.columns[column].type)
            problems.append(_problem(column, check, rows, _distinct(frame.loc[rows, column]).tolist()))
        elif check == _MIN_ROWS_ERROR.format(min_rows=spec.partitions.min_rows):
            problems.append(_problem(column, check, len(frame), [f"{len(frame)} row(s) in the file"]))
        elif check.startswith("null fraction above") and column in frame:
            nulls = frame.index[frame[column].isna()]
            problems.append(_problem(column, check, nulls, [f"row {i}" for i in nulls]))
        else:
            rows = group["index"].nunique() if group["index"].notna().any() else len(group)
            problems.append(_problem(column, check, int(rows), group["failure_case"].drop_duplicates().tolist()))
    return problems


UNKNOWN_CATEGORY_CHECK = "unknown category mapped to null"


def _excess_nulls_check(limit: float) -> str:
    return f"null fraction above {limit} (kept: on_excess_nulls is warn)"


def _warnings(typed: pd.DataFrame, spec: ModelSpec) -> tuple[pd.DataFrame, list[dict]]:
    """Apply the lenient policies to a validated frame: the frame to keep and what was tolerated.

    Nulls are judged before unknown categories are mapped, so a mapped value never counts against a column's
    null tolerance: it is reported once, as what it was.
    """
    found, mapped = [], {}
    for name, column in spec.features.items():
        values = typed[name]
        if spec.excess_nulls_policy(name) == "warn":
            nulls = values.isna()
            if len(values) and nulls.mean() > column.max_null_fraction:
                rows = typed.index[nulls.to_numpy()]
                found.append(
                    _problem(name, _excess_nulls_check(column.max_null_fraction), rows, [f"row {i}" for i in rows])
                )
        if column.categories is not None and spec.unknown_category_policy(name) == "map_to_unknown":
            unknown = values.notna() & ~values.isin(column.categories)
            if unknown.any():
                rows = typed.index[unknown.to_numpy()]
                found.append(_problem(name, UNKNOWN_CATEGORY_CHECK, rows, _distinct(values[unknown]).tolist()))
                mapped[name] = values.mask(unknown)
    return (typed.assign(**mapped) if mapped else typed), found


def validate_partition(frame: pd.DataFrame, spec: ModelSpec) -> ValidationResult:
    """Type and check ``frame`` against ``spec``; never raises for bad data."""
    try:
        typed = build_schema(spec).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        return ValidationResult(None, _summarise(err.failure_cases, frame, spec))
    kept, warnings = _warnings(typed[list(spec.columns)], spec)
    return ValidationResult(kept, warnings=warnings)
