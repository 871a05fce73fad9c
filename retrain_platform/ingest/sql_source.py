"""SQL sources: each ended day's rows extracted from a database into the model's landing folder.

The extraction only lands files; the landing sensor and ``raw_batch`` then treat an extracted day exactly like a
dropped file (validation, content hash, quarantine, retries), so a SQL model has no second ingest path to keep in
step. A day is written only when its rows differ from what was last landed (a hash of the rows, not the file), so
re-reading an unchanged day leaves its landing untouched and nothing downstream goes stale; a day with no rows is
not a partition and lands nothing. A day that had rows and has none any more keeps its landing (raw data is never
deleted by the platform) and is reported.

The ``<model>_source_sensor`` runs the extraction each tick; a database that cannot be reached fails the tick
(red in the UI, and a ``sensor_error`` notification) with the URL's password hidden.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
from dagster import DefaultSensorStatus, SensorDefinition, SensorEvaluationContext, SkipReason, sensor

from retrain_platform.ingest.sensor import sensor_interval
from retrain_platform.spec.model_spec import ModelSpec
from retrain_platform.spec.source import SqlSourceSpec
from retrain_platform.storage.lake import Lake
from retrain_platform.storage.sql import engine

# Half of the 60 s Dagster gives a sensor evaluation by default: a long first extraction (or a slow database)
# is spread over ticks instead of timing the tick out with nothing remembered.
TICK_BUDGET_SECONDS = 30.0


class SourceError(RuntimeError):
    """The source cannot be read (no URL, an unreachable database, a failing query); says what to do."""


def source_sensor_name(model: str) -> str:
    """The name of a model's SQL extraction sensor."""
    return f"{model}_source_sensor"


def rows_digest(frame: pd.DataFrame) -> str:
    """A hash of a day's rows: column names, dtypes and values, independent of how they were written to disk."""
    digest = hashlib.sha256(json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown by shape only: it may still hold a secret
        return "<unparsable URL>"


@dataclass
class SqlSource:
    """One model's SQL source: reads a day's rows and, for a table, how many rows each day has."""

    spec: ModelSpec
    environ: dict[str, str] = field(default_factory=lambda: os.environ)

    @property
    def source(self) -> SqlSourceSpec:
        """The spec's ``source`` section."""
        assert self.spec.source is not None
        return self.spec.source

    def url(self) -> str:
        """The SQLAlchemy URL from ``source.url_env`` (``postgresql://`` is read with psycopg2, the installed
        driver; SQLAlchemy 2.1 would otherwise look for psycopg 3)."""
        url = self.environ.get(self.source.url_env)
        if not url:
            raise SourceError(
                f"{self.spec.name}: source.url_env names {self.source.url_env}, which is not set; set it to the "
                "database's SQLAlchemy URL, e.g. postgresql+psycopg2://user:password@host:5432/db"
            )
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg2://" + url.split("://", 1)[1]
        return url

    def _run(self, statement, params: dict) -> pd.DataFrame:
        url = self.url()
        try:
            with engine(url).connect() as connection:
                return pd.read_sql(statement, connection, params=params)
        except Exception as err:
            first = " ".join(str(getattr(err, "orig", None) or err).split())[:300]
            raise SourceError(
                f"{self.spec.name}: reading {_redacted(url)} failed: {type(err).__name__}: {first}. Check that "
                f"the database is up and that source.{'query' if self.source.query else 'table'} is valid there; "
                "the next tick tries again"
            ) from None

    def _table_sql(self, db) -> tuple[str, str]:
        quote = db.dialect.identifier_preparer.quote
        table = ".".join(quote(part) for part in self.source.table.split(".", 1))
        return table, quote(self.source.timestamp_column)

    def read_day(self, day: dt.date) -> pd.DataFrame:
        """The rows of ``day`` (an ended UTC day), as the landing file will hold them."""
        import sqlalchemy

        start = dt.datetime.combine(day, dt.time())
        params = {"day": day, "start": start, "end": start + dt.timedelta(days=1)}
        if self.source.query is not None:
            used = self.source.parameters
            frame = self._run(sqlalchemy.text(self.source.query), {k: v for k, v in params.items() if k in used})
        else:
            table, column = self._table_sql(engine(self.url()))
            statement = sqlalchemy.text(f"SELECT * FROM {table} WHERE {column} >= :start AND {column} < :end")
            frame = self._run(statement, {"start": params["start"], "end": params["end"]})
            # The bookkeeping columns date and version rows; they are data only when the spec says so.
            bookkeeping = {self.source.timestamp_column, self.source.changed_column} - {None, self.spec.target.name}
            frame = frame.drop(columns=[c for c in bookkeeping if c not in self.spec.features], errors="ignore")
        return frame.reset_index(drop=True)

    def day_counts(self, since: dt.date, until: dt.date) -> dict[dt.date, list] | None:
        """For a table source, each day in ``[since, until)`` that has rows: ``[row count, newest changed_column
        value or None]``, in one query; ``None`` for a query source (it can only be asked day by day)."""
        if self.source.table is None:
            return None
        import sqlalchemy

        db = engine(self.url())
        table, column = self._table_sql(db)
        # SQLite has no DATE type to cast to; its date() reads the ISO text it stores timestamps as.
        as_day = f"date({column})" if db.dialect.name == "sqlite" else f"CAST({column} AS DATE)"
        changed = self.source.changed_column
        newest = f"MAX({db.dialect.identifier_preparer.quote(changed)})" if changed else "NULL"
        statement = sqlalchemy.text(
            f"SELECT {as_day} AS day, COUNT(*) AS n, {newest} AS changed FROM {table} "
            f"WHERE {column} >= :start AND {column} < :end GROUP BY {as_day}"
        )
        start = dt.datetime.combine(since, dt.time())
        frame = self._run(statement, {"start": start, "end": dt.datetime.combine(until, dt.time())})
        return {
            _as_date(day): [int(n), None if pd.isna(mark) else str(mark)]
            for day, n, mark in zip(frame["day"], frame["n"], frame["changed"], strict=True)
            if day is not None
        }


def _state(days: dict[str, list], day: dt.date) -> list:
    """A day's ``[row hash, row count, newest changed value]`` (``[None, 0, None]`` when never read)."""
    return days.get(day.isoformat(), [None, 0, None])


def _as_date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


@dataclass
class Extraction:
    """What one tick extracted: landed days (new or changed), unchanged re-reads and days that lost their rows."""

    landed: list[str] = field(default_factory=list)
    unchanged: int = 0
    emptied: list[str] = field(default_factory=list)
    pending: int = 0

    def summary(self) -> str:
        """One line for the tick's skip reason."""
        parts = []
        if self.landed:
            parts.append(f"landed {len(self.landed)} day(s): {', '.join(self.landed[:10])}")
        if self.unchanged:
            parts.append(f"{self.unchanged} day(s) re-read, unchanged")
        if self.emptied:
            parts.append(
                f"no rows any more for {', '.join(self.emptied)} (their landed files are kept; delete them to drop "
                "the partitions)"
            )
        if self.pending:
            parts.append(f"{self.pending} more day(s) to read on the next ticks")
        return "; ".join(parts) or "nothing new in the source"


def extract(
    spec: ModelSpec,
    lake: Lake,
    cursor: dict,
    today: dt.date,
    source: SqlSource | None = None,
    budget_seconds: float = math.inf,
    clock: Callable[[], float] = time.monotonic,
) -> Extraction:
    """Read the days that may have changed and land those whose rows differ from the last landing.

    Reading stops after ``budget_seconds`` (checked between days); the days left are read on the next tick.

    ``cursor`` (updated in place) maps each extracted day to its row hash, row count and newest
    ``changed_column`` value, plus ``read_through``, the newest day a query source has read. ``today`` is the
    current UTC day; only ended days are read.
    """
    source = source or SqlSource(spec)
    settings = spec.source
    days_state: dict[str, list] = cursor.setdefault("days", {})
    first = spec.partitions.start_date
    read_through = dt.date.fromisoformat(cursor["read_through"]) if cursor.get("read_through") else first - _DAY
    counts = source.day_counts(first, today)
    recent = {today - _DAY * (i + 1) for i in range(settings.lookback_days)}
    if counts is not None:
        # A table says which days have rows: new ones, ones whose count moved, and the recent ones.
        wanted = {day for day, seen in counts.items() if day in recent or _state(days_state, day)[1:] != seen}
        # ...and days that had rows and have none now (reported once, see below).
        landed = {dt.date.fromisoformat(d) for d, state in days_state.items() if state[1]}
        wanted |= landed - set(counts)
    else:
        # A query can only be asked day by day: every day not read yet, plus the recent ones again.
        wanted = {read_through + _DAY * (i + 1) for i in range((today - read_through).days - 1)} | recent
    wanted = sorted(day for day in wanted if first <= day < today)
    batch = wanted[: settings.max_days_per_tick]
    result = Extraction(pending=len(wanted) - len(batch))
    deadline = clock() + budget_seconds
    for done, day in enumerate(batch):
        if done and clock() > deadline:
            result.pending += len(batch) - done
            break
        key = day.isoformat()
        frame = source.read_day(day)
        seen = (counts or {}).get(day, [len(frame), None])
        if frame.empty:
            if _state(days_state, day)[1]:
                result.emptied.append(key)  # reported once: the state below no longer counts rows
            if key in days_state:
                days_state[key] = [None, 0, None]
        else:
            digest = rows_digest(frame)
            known = _state(days_state, day)[0] or lake.landed_digest(spec, key, rows_digest)
            if digest == known:
                result.unchanged += 1
            else:
                lake.land(spec, key, frame)
                result.landed.append(key)
            days_state[key] = [digest, len(frame), seen[1]]
        read_through = max(read_through, day) if counts is None else read_through
    if counts is None:
        cursor["read_through"] = read_through.isoformat()
    return result


_DAY = dt.timedelta(days=1)


def build_source_sensor(spec: ModelSpec, clock: Callable[[], float] = time.time) -> SensorDefinition:
    """The sensor that extracts ``spec``'s SQL source into its landing folder (the landing sensor takes over)."""

    @sensor(
        name=source_sensor_name(spec.name),
        minimum_interval_seconds=sensor_interval(),
        default_status=DefaultSensorStatus.RUNNING,
        description=f"Extracts each ended day of {spec.name}'s SQL source into {spec.landing.path}, "
        "again whenever a day's rows change; the landing sensor ingests what lands.",
    )
    def source_sensor(context: SensorEvaluationContext, lake: Lake) -> SkipReason:
        """Land new and changed days; the tick fails, saying why, when the database cannot be read."""
        cursor = json.loads(context.cursor) if context.cursor else {}
        today = dt.datetime.fromtimestamp(clock(), dt.UTC).date()
        try:
            result = extract(spec, lake, cursor, today, budget_seconds=TICK_BUDGET_SECONDS)
        finally:
            # Days landed before a failure stay landed; remembering them avoids writing them again.
            context.update_cursor(json.dumps(cursor, sort_keys=True))
        context.log.info(result.summary())
        return SkipReason(result.summary())

    return source_sensor
