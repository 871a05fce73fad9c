"""The ``source`` section of a spec: where a model's daily partitions come from when they are not files.

Only ``kind: sql`` exists today: each day's rows are extracted from a database into the model's landing folder,
so from there on a SQL day is a landed file like any other (same validation, content hash, quarantine, retries).
The connection URL is named by an environment variable, never written in the spec: it usually holds a password.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from retrain_platform.spec.secret_names import env_var_name

# A (schema-qualified) table or column name as written unquoted in SQL; quoting is left to the dialect.
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_PARAMETER = re.compile(r"(?<!:):([A-Za-z_][A-Za-z0-9_]*)")
PARAMETERS = frozenset({"day", "start", "end"})


class SqlSourceSpec(BaseModel):
    """A day's partition read from a SQL database through SQLAlchemy.

    Either ``query``, a SELECT with a ``:day`` parameter (the partition's date) or ``:start`` and ``:end`` (the
    day's first instant and the next day's, for a range an index can serve); or ``table`` plus
    ``timestamp_column``, which reads the table's rows whose timestamp falls on the day (the timestamp column is
    dropped unless it is a feature). ``url_env`` names the environment variable holding the SQLAlchemy URL.

    Every tick re-reads the last ``lookback_days`` ended days, so corrected or late rows of recent days land again;
    with ``table``, an older day is re-read when its row count changes, or, with ``changed_column`` (a column
    the database sets when a row is written, e.g. ``updated_at``), when its newest value moves: the one way to see
    a row corrected in place without reading every day on every tick. At most ``max_days_per_tick`` days are
    read per tick, so a first extraction of a long history is spread over ticks instead of blocking one.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["sql"]
    url_env: str
    query: str | None = None
    table: str | None = None
    timestamp_column: str | None = None
    changed_column: str | None = None
    lookback_days: Annotated[int, Field(ge=0, le=366)] = 3
    max_days_per_tick: Annotated[int, Field(ge=1, le=3660)] = 31

    @field_validator("url_env")
    @classmethod
    def _env(cls, value: str) -> str:
        return env_var_name(value, "the URL (it holds the password)", "RETRAIN_SALES_DB_URL")

    @field_validator("table")
    @classmethod
    def _table(cls, value: str | None) -> str | None:
        if value is not None and not all(_IDENTIFIER.match(part) for part in value.split(".", 1)):
            raise ValueError(f"source.table {value!r} is not a table name such as sales or analytics.sales")
        return value

    @field_validator("timestamp_column", "changed_column")
    @classmethod
    def _column(cls, value: str | None, info) -> str | None:
        if value is not None and not _IDENTIFIER.match(value):
            raise ValueError(f"source.{info.field_name} {value!r} is not a column name such as sold_at")
        return value

    @model_validator(mode="after")
    def _one_way(self) -> SqlSourceSpec:
        if (self.query is None) == (self.table is None):
            raise ValueError("a sql source needs either query (with :day, or :start and :end) or table, not both")
        if self.table is not None and self.timestamp_column is None:
            raise ValueError(f"source.table {self.table!r} needs timestamp_column: the column that dates each row")
        if self.query is not None:
            if self.timestamp_column is not None or self.changed_column is not None:
                raise ValueError(
                    "source.timestamp_column and changed_column go with table; a query selects its own day"
                )
            used = set(_PARAMETER.findall(self.query))
            if unknown := used - PARAMETERS:
                raise ValueError(
                    f"source.query uses {', '.join(':' + name for name in sorted(unknown))}; "
                    "the parameters are :day, :start and :end"
                )
            if "day" not in used and not {"start", "end"} <= used:
                raise ValueError(
                    "source.query must select one day: use :day (e.g. WHERE sold_on = :day) or :start and :end "
                    "(WHERE sold_at >= :start AND sold_at < :end)"
                )
        return self

    @property
    def parameters(self) -> frozenset[str]:
        """The parameters the query uses (the table form uses ``start`` and ``end``)."""
        if self.query is None:
            return frozenset({"start", "end"})
        return frozenset(_PARAMETER.findall(self.query))
