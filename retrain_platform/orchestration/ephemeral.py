"""A throwaway in-memory Dagster instance for replays, with storage that costs less per event.

``DagsterInstance.ephemeral()`` keeps runs and events in in-memory SQLite (about 2.5 times faster for a replayed
day than a SQLite file in a temporary folder, which syncs every write), but its storages open a new SQLite
connection for every statement they run, set two pragmas on it, and read the ``asset_keys`` table's columns
back on every stored event to decide which columns to write. A replayed day stores about 45 events and runs
some 190 statements: with the connections, pragmas and column reads, about 670. The storages here are
Dagster's own in-memory SQL storages (the same tables and the same queries) that keep the one connection the
storage already holds for its lifetime and read the columns once: the schema of an in-memory database cannot
change under a running process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from dagster import DagsterInstance
from dagster._core.instance import InstanceType
from dagster._core.launcher.sync_in_memory_run_launcher import SyncInMemoryRunLauncher
from dagster._core.run_coordinator import DefaultRunCoordinator
from dagster._core.storage.event_log import InMemoryEventLogStorage
from dagster._core.storage.noop_compute_log_manager import NoOpComputeLogManager
from dagster._core.storage.root import LocalArtifactStorage
from dagster._core.storage.runs import InMemoryRunStorage
from sqlalchemy.engine import Connection


def _enable_foreign_keys(connection: Connection) -> None:
    # What Dagster's per-statement connections set each time; once is enough for a connection that is kept.
    connection.execute(sa.text("PRAGMA foreign_keys=ON;")).close()
    connection.commit()


class HeldConnectionEventLogStorage(InMemoryEventLogStorage):
    """Dagster's in-memory event log storage on one kept connection, with the table's columns read once."""

    def __init__(self):
        super().__init__()
        _enable_foreign_keys(self._held_conn)
        self._columns: dict[str, bool] = {}

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        """The kept connection in a transaction of its own, under the storage's lock (as Dagster's, one at a time)."""
        with self._db_lock, self._held_conn.begin():
            yield self._held_conn

    def _has_asset_key_col_on_connection(self, conn: Connection, column_name: str) -> bool:
        """Whether ``asset_keys`` has ``column_name``: asked of SQLite once per column, then remembered."""
        if column_name not in self._columns:
            self._columns[column_name] = super()._has_asset_key_col_on_connection(conn, column_name)
        return self._columns[column_name]


class HeldConnectionRunStorage(InMemoryRunStorage):
    """Dagster's in-memory run storage on one kept connection; a nested use joins the open transaction."""

    def __init__(self):
        super().__init__()
        _enable_foreign_keys(self._held_conn)
        # Re-entrant: Dagster's run storage may open a connection while it holds one (each was a new one before).
        self._lock = threading.RLock()

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """The kept connection, in a transaction unless it is already in one."""
        with self._lock:
            if self._held_conn.in_transaction():
                yield self._held_conn
            else:
                with self._held_conn.begin():
                    yield self._held_conn


def ephemeral_instance(tempdir: str) -> DagsterInstance:
    """What ``DagsterInstance.ephemeral(tempdir=...)`` builds (in-memory runs and events, runs launched in this
    process, artifacts under ``tempdir``), on the storages of this module."""
    return DagsterInstance(
        instance_type=InstanceType.EPHEMERAL,
        local_artifact_storage=LocalArtifactStorage(tempdir),
        run_storage=HeldConnectionRunStorage(),
        event_storage=HeldConnectionEventLogStorage(),
        compute_log_manager=NoOpComputeLogManager(),
        run_coordinator=DefaultRunCoordinator(),
        run_launcher=SyncInMemoryRunLauncher(),
    )
