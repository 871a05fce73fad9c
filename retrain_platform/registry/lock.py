"""The per-model promotion lock: at most one gate or rollback of a model moves its champion at a time.

MLflow has no compare-and-set on an alias, so two writers that read "the champion is v4" and then both move it
would each record v4 as their predecessor, and the later one would overwrite the earlier one's promotion unseen.
The platform therefore serialises every champion move of a model behind one lock, and the registry checks the
alias again under it (:meth:`ModelRegistry.move_champion`).

The lock lives with the registry it protects, so every writer that can reach the registry reaches the lock too,
and a writer that dies (kill -9, a lost pod) releases it without anyone's help:

- a PostgreSQL-backed MLflow store: a session-level advisory lock in that database (released when the
  connection drops);
- anything else (SQLite, or an MLflow server): an ``flock`` on a file in ``lock_dir`` (released when the process
  dies). With an MLflow server, ``lock_dir`` must be on storage every writer shares (``RETRAIN_HOME``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

_POLL_SECONDS = 0.05


class PromotionBusy(TimeoutError):
    """Another gate or rollback of the same model held the lock for longer than the caller would wait."""


def _advisory_key(model: str) -> int:
    # Advisory locks take a signed 64-bit key; a stable hash of the model name keeps models independent.
    digest = hashlib.sha256(f"retrain_platform/promotion/{model}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def _postgres_lock(url: str, model: str, timeout: float) -> Iterator[None]:
    import sqlalchemy

    from retrain_platform.storage.sql import engine  # not at import: the storage package loads pandas

    key = _advisory_key(model)
    deadline = time.monotonic() + timeout
    with engine(url).connect() as connection:
        while not connection.execute(sqlalchemy.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
            connection.rollback()
            if time.monotonic() >= deadline:
                raise PromotionBusy(f"another promotion or rollback of {model!r} held the lock for {timeout:.0f} s")
            time.sleep(_POLL_SECONDS)
        try:
            yield
        finally:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            connection.commit()


@contextlib.contextmanager
def _file_lock(path: Path, model: str, timeout: float) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with path.open("a") as handle:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise PromotionBusy(
                        f"another promotion or rollback of {model!r} held {path} for {timeout:.0f} s"
                    ) from None
                time.sleep(_POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def promotion_lock(tracking_uri: str, lock_dir: Path, model: str, timeout: float = 300.0):
    """A context manager holding ``model``'s promotion lock; raises :class:`PromotionBusy` after ``timeout`` s."""
    if tracking_uri.startswith("postgresql"):
        return _postgres_lock(tracking_uri, model, timeout)
    return _file_lock(lock_dir / f"{model}.promotion.lock", model, timeout)
