"""SQL sources, live on the local PostgreSQL: each day's rows extracted, validated and versioned like a landed file.

Each test gets its own table in the server's ``test`` database (dropped at the end). The source sensor is ticked
at a chosen clock, then the landing sensor and ingest runs take over exactly as for dropped files.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pandas as pd
import pytest
from dagster import SkipReason, build_sensor_context

from retrain_platform.ingest.sql_source import SourceError, build_source_sensor, rows_digest
from retrain_platform.spec import SpecError
from retrain_platform_tests.conftest import START, credit_frame, make_spec
from retrain_platform_tests.ingest.driving import launch, requests
from retrain_platform_tests.integration.test_postgres import HOST, PORT, SCHEME, USER, _connect, _in_ci

pytestmark = [pytest.mark.postgres]
DB = "test"
URL_ENV = "RETRAIN_TEST_SOURCE_URL"
DAYS = [START, START + dt.timedelta(days=1), START + dt.timedelta(days=3)]  # nothing on the third day


@pytest.fixture
def table(monkeypatch):
    """A fresh table of credit applications dated by ``applied_at`` in the ``test`` database."""
    try:
        connection = _connect(DB)
    except Exception as err:
        message = f"PostgreSQL database {DB!r} at {HOST}:{PORT} is not reachable ({' '.join(str(err).split())})"
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    connection.autocommit = True
    name = f"credit_{uuid.uuid4().hex[:10]}"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {name} (applied_at timestamp NOT NULL, income double precision, debt_ratio "
            "double precision, age integer, channel text, has_mortgage boolean, defaulted integer, "
            "updated_at timestamp NOT NULL DEFAULT clock_timestamp())"
        )
    monkeypatch.setenv(URL_ENV, f"{SCHEME}://{USER}@{HOST}:{PORT}/{DB}")
    yield Table(name, connection)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")
    connection.close()


class Table:
    """The test table and the SQL the tests use to change it."""

    def __init__(self, name, connection):
        self.name, self.connection = name, connection

    def insert(self, day: dt.date, frame: pd.DataFrame) -> None:
        rows = [
            (dt.datetime.combine(day, dt.time(9)) + dt.timedelta(seconds=i), *row)
            for i, row in enumerate(frame.astype(object).where(frame.notna(), None).itertuples(index=False))
        ]
        columns = ", ".join(["applied_at", *frame.columns])
        with self.connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {self.name} ({columns}) VALUES ({', '.join(['%s'] * (len(frame.columns) + 1))})", rows
            )

    def execute(self, sql: str) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(sql.format(table=self.name))


def at(day: dt.date) -> float:
    """Noon UTC of ``day`` as seconds since the epoch (the source sensor's clock)."""
    return dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC).timestamp()


def tick_source(platform, now: float, cursor: str | None):
    """One tick of the platform's source sensor at ``now``; returns its message and the new cursor."""
    sensor = build_source_sensor(platform.spec, clock=lambda: now)
    context = build_sensor_context(instance=platform.instance, cursor=cursor, resources={"lake": platform.lake})
    result = sensor(context)
    assert isinstance(result, SkipReason)
    return result.skip_message, context.cursor


def ingest_landings(platform) -> list[str]:
    """Tick the landing sensor and run what it asks for; returns the partitions ingested."""
    done = []
    for request in requests(platform.tick()):
        assert launch(platform, request).success
        done.append(request.partition_key)
    return sorted(done)


def sql_spec(ignore_extra_columns: bool = True, **source):
    """A test spec reading from the SQL source ``source`` describes; the table's other columns (``updated_at``)
    are dropped, as a model reading a wider table would say."""
    return make_spec(
        source={"kind": "sql", "url_env": URL_ENV, **source},
        landing={"path": "landing/sql"},
        ignore_extra_columns=ignore_extra_columns,
    )


def test_table_days_are_extracted_validated_and_a_changed_day_is_reingested(table, platform_factory):
    platform = platform_factory(sql_spec(table=table.name, timestamp_column="applied_at"))
    for day in DAYS:
        table.insert(day, credit_frame(day, rows=120, seed=day.day))
    now = at(START + dt.timedelta(days=5))

    message, cursor = tick_source(platform, now, None)
    assert "landed 3 day(s)" in message
    landed = sorted(p.name for p in platform.lake.landing_dir(platform.spec).iterdir())
    assert landed == [f"{day}.parquet" for day in DAYS]  # the day without rows is not a partition
    assert ingest_landings(platform) == [str(day) for day in DAYS]
    features = platform.lake.read_features(platform.spec.name, [str(DAYS[1])])
    assert len(features) == 120 and "applied_at" not in features  # the dating column is not a feature

    # Nothing changed: nothing lands, nothing is re-ingested.
    message, cursor = tick_source(platform, now, cursor)
    assert "landed" not in message and "re-read, unchanged" in message
    assert ingest_landings(platform) == []

    # A correction to one old day (outside the lookback) lands that day again, and only that day.
    table.execute(f"UPDATE {{table}} SET income = income + 1 WHERE applied_at::date = '{DAYS[0]}'")
    message, cursor = tick_source(platform, now, cursor)
    assert "landed" not in message  # same row count, outside the lookback: not seen by the count query
    table.execute(f"DELETE FROM {{table}} WHERE applied_at = '{DAYS[0]} 09:00:00'")
    message, cursor = tick_source(platform, now, cursor)
    assert f"landed 1 day(s): {DAYS[0]}" in message
    assert ingest_landings(platform) == [str(DAYS[0])]
    assert len(platform.lake.read_features(platform.spec.name, [str(DAYS[0])])) == 119

    # A day that loses every row keeps its landing and is reported once.
    table.execute(f"DELETE FROM {{table}} WHERE applied_at::date = '{DAYS[1]}'")
    message, cursor = tick_source(platform, now, cursor)
    assert f"no rows any more for {DAYS[1]}" in message and "files are kept" in message
    assert (platform.lake.landing_dir(platform.spec) / f"{DAYS[1]}.parquet").exists()
    message, _ = tick_source(platform, now, cursor)
    assert "no rows any more" not in message


def test_a_query_source_reads_day_by_day_and_picks_up_late_rows_in_the_lookback(table, platform_factory):
    spec = sql_spec(
        query=f"SELECT income, debt_ratio, age, channel, has_mortgage, defaulted FROM {table.name} "
        "WHERE applied_at >= :start AND applied_at < :end ORDER BY applied_at",
        lookback_days=2,
        max_days_per_tick=3,
    )
    platform = platform_factory(spec)
    table.insert(DAYS[0], credit_frame(DAYS[0], rows=80))
    now = at(START + dt.timedelta(days=5))  # days START .. START+4 have ended

    message, cursor = tick_source(platform, now, None)
    assert f"landed 1 day(s): {DAYS[0]}" in message and "2 more day(s)" in message  # bounded per tick
    message, cursor = tick_source(platform, now, cursor)
    assert "landed" not in message
    assert json.loads(cursor)["read_through"] == str(START + dt.timedelta(days=4))

    # Rows for a recent day arrive late: the lookback re-reads it.
    late = START + dt.timedelta(days=4)
    table.insert(late, credit_frame(late, rows=90, seed=4))
    message, cursor = tick_source(platform, now, cursor)
    assert f"landed 1 day(s): {late}" in message
    assert ingest_landings(platform) == [str(DAYS[0]), str(late)]


def test_a_changed_column_reveals_a_row_corrected_in_place_on_an_old_day(table, platform_factory):
    platform = platform_factory(
        # Strict columns: the bookkeeping column must not reach the data contract (it would quarantine the day).
        sql_spec(False, table=table.name, timestamp_column="applied_at", changed_column="updated_at", lookback_days=1)
    )
    for day in DAYS:
        table.insert(day, credit_frame(day, rows=50, seed=day.day))
    now = at(START + dt.timedelta(days=6))
    _, cursor = tick_source(platform, now, None)
    assert ingest_landings(platform) == [str(day) for day in DAYS]
    table.execute(
        f"UPDATE {{table}} SET channel = 'web', updated_at = clock_timestamp() WHERE applied_at = '{DAYS[0]} 09:00:01'"
    )
    message, cursor = tick_source(platform, now, cursor)
    assert f"landed 1 day(s): {DAYS[0]}" in message
    assert ingest_landings(platform) == [str(DAYS[0])]
    assert "updated_at" not in platform.lake.read_features(platform.spec.name, [str(DAYS[0])])


def test_a_lost_cursor_does_not_rewrite_unchanged_days(table, platform_factory):
    platform = platform_factory(sql_spec(table=table.name, timestamp_column="applied_at"))
    table.insert(DAYS[0], credit_frame(DAYS[0], rows=60))
    now = at(START + dt.timedelta(days=2))
    tick_source(platform, now, None)
    path = platform.lake.landing_dir(platform.spec) / f"{DAYS[0]}.parquet"
    written = path.stat().st_mtime_ns
    message, _ = tick_source(platform, now, None)  # a reset sensor: the landed file's rows are compared instead
    assert "landed" not in message and path.stat().st_mtime_ns == written


def test_an_unreachable_database_fails_the_tick_without_showing_the_password(table, platform_factory, monkeypatch):
    platform = platform_factory(sql_spec(table=table.name, timestamp_column="applied_at"))
    monkeypatch.setenv(URL_ENV, f"{SCHEME}://{USER}:s3cret-pw@{HOST}:1/{DB}")
    with pytest.raises(SourceError) as caught:
        tick_source(platform, at(START + dt.timedelta(days=2)), None)
    text = str(caught.value)
    assert "s3cret-pw" not in text and "***" in text and "the next tick tries again" in text
    monkeypatch.delenv(URL_ENV)
    with pytest.raises(SourceError, match=f"{URL_ENV}, which is not set"):
        tick_source(platform, at(START + dt.timedelta(days=2)), None)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"query": "SELECT * FROM t"}, "must select one day"),
        ({"query": "SELECT * FROM t WHERE d = :date"}, "uses :date"),
        ({"table": "t"}, "needs timestamp_column"),
        ({"table": "t; drop table x", "timestamp_column": "d"}, "is not a table name"),
        ({"table": "t", "timestamp_column": "d", "query": "SELECT 1 WHERE :day"}, "not both"),
        ({"url_env": "postgresql://u:p@h/db", "table": "t", "timestamp_column": "d"}, "not an environment variable"),
    ],
)
def test_bad_source_sections_are_refused_with_what_to_write(source, message):
    with pytest.raises(SpecError, match=message):
        make_spec(source={"kind": "sql", "url_env": URL_ENV, **source})


def test_the_row_hash_ignores_how_rows_were_stored_but_not_what_they_say():
    frame = credit_frame(START, rows=30)
    assert rows_digest(frame) == rows_digest(frame.copy())
    changed = frame.copy()
    changed.loc[0, "income"] += 1
    assert rows_digest(changed) != rows_digest(frame)


def test_a_slow_source_is_read_within_the_ticks_budget_and_finished_on_later_ticks(tmp_path):
    """Reading stops once the budget is spent (checked between days); the rest is read on the next ticks."""
    from retrain_platform.ingest.sql_source import extract
    from retrain_platform.storage.lake import Lake

    spec = sql_spec(query="SELECT * FROM t WHERE d = :day", max_days_per_tick=10)
    now = [0.0]

    class SlowSource:
        """Answers every day with a few rows, each read taking 20 s of the fake clock."""

        def day_counts(self, since, until):
            return None

        def read_day(self, day):
            now[0] += 20.0
            return credit_frame(day, rows=5)

    lake, cursor, today = Lake(root=str(tmp_path)), {}, START + dt.timedelta(days=6)
    first = extract(spec, lake, cursor, today, SlowSource(), budget_seconds=30.0, clock=lambda: now[0])
    assert len(first.landed) == 2 and first.pending == 4  # 2 reads fit in 30 s; 6 ended days in all
    second = extract(spec, lake, cursor, today, SlowSource(), budget_seconds=30.0, clock=lambda: now[0])
    assert second.landed == [str(START + dt.timedelta(days=i)) for i in (2, 3)]
