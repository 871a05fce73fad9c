"""One SQLAlchemy engine per database URL, shared by everything the platform reads or locks in SQL.

Engines are cached so each URL's dialect and connection arguments are set up once per process; ``NullPool``
because the callers (a sensor tick every half minute, a promotion lock per gate) would otherwise keep idle
connections open between uses. Sensors are evaluated in threads, hence the lock.
"""

from __future__ import annotations

import threading

_ENGINES: dict[str, object] = {}
_ENGINES_LOCK = threading.Lock()


def engine(url: str):
    """The process's engine for ``url`` (created on first use; connections are checked before use)."""
    import sqlalchemy

    with _ENGINES_LOCK:
        if url not in _ENGINES:
            _ENGINES[url] = sqlalchemy.create_engine(url, pool_pre_ping=True, poolclass=sqlalchemy.pool.NullPool)
        return _ENGINES[url]
