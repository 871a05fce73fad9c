"""Moving a home: the embedded MLflow store's artifact locations follow it.

MLflow records every artifact location as an absolute URI (``file:///old/home/mlflow/artifacts/...``) in its
store, so a home copied, restored or renamed elsewhere still points at the old folder: loading a champion fails
once the old folder is gone, and, worse, silently reads the *old* home's files while it is still there. Dagster's
instance has no such problem (its storage is found relative to ``DAGSTER_HOME``; the lake's metadata names files
relative to the lake root), so the MLflow store is the one thing to rewrite.

MLflow has no API to change a recorded artifact location (mlflow/mlflow#3144), hence direct SQL on the embedded
SQLite store, limited to the columns that hold locations and to an exact old prefix, in one transaction, after
a backup. A server-backed MLflow (``MLFLOW_TRACKING_URI``) keeps its own locations and is never touched.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from retrain_platform.settings import embedded_artifact_root, embedded_tracking_uri

LOCATION_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
    ("model_versions", "source"),
    ("model_versions", "storage_location"),
)
"""Where MLflow 3's SQL store records artifact locations."""
_ARTIFACTS_TAIL = "/mlflow/artifacts"


class RelocationRefused(Exception):
    """The store cannot be relocated as asked; the message says why and what to do."""


@dataclass
class Relocation:
    """What :func:`relocate_home` changed (or, with ``dry_run``, would change)."""

    old: str
    new: str
    changed: dict[str, int] = field(default_factory=dict)
    """Rows rewritten per ``table.column``."""
    missing: list[str] = field(default_factory=list)
    """Rewritten locations with nothing at the new place (artifacts not copied with the home)."""
    backup: Path | None = None

    @property
    def total(self) -> int:
        """Rows rewritten in all."""
        return sum(self.changed.values())


def store_path(home: Path, tracking_uri: str | None = None) -> Path:
    """The embedded SQLite store of ``home``; refuses any other tracking store.

    Raises:
        RelocationRefused: the tracking URI is not the home's own SQLite file, or the file is missing.
    """
    expected = embedded_tracking_uri(home)
    uri = tracking_uri or expected
    if uri != expected:
        raise RelocationRefused(
            f"MLFLOW_TRACKING_URI is {uri.split('@')[-1]!r}, not this home's embedded store ({expected}): a "
            "tracking server keeps its own artifact locations, so there is nothing to relocate here. Unset "
            "MLFLOW_TRACKING_URI to relocate the home's embedded store."
        )
    path = Path(expected.removeprefix("sqlite:///"))
    if not path.is_file():
        raise RelocationRefused(f"{path}: no MLflow store in this home; set RETRAIN_HOME to the moved home")
    return path


def _existing(db: sqlite3.Connection) -> list[tuple[str, str]]:
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    columns = {t: {row[1] for row in db.execute(f"PRAGMA table_info({t})")} for t in tables}
    return [(t, c) for t, c in LOCATION_COLUMNS if c in columns.get(t, ())]


def old_prefixes(home: Path, tracking_uri: str | None = None) -> set[str]:
    """The artifact roots of other homes the store still points at (empty when the home never moved)."""
    current = embedded_artifact_root(home)
    with sqlite3.connect(store_path(home, tracking_uri)) as db:
        found = set()
        for table, column in _existing(db):
            for (value,) in db.execute(f"SELECT DISTINCT {column} FROM {table} WHERE {column} LIKE 'file:%'"):
                if value == current or value.startswith(current + "/"):
                    continue
                head, tail, _ = value.partition(_ARTIFACTS_TAIL + "/")
                found.add(head + _ARTIFACTS_TAIL if tail else value)
    return found


def moved_home_problem(home: Path, tracking_uri: str | None = None) -> str | None:
    """A sentence telling the user to run ``retrain relocate-home``, when the embedded store points elsewhere."""
    try:
        found = old_prefixes(home, tracking_uri)
    except RelocationRefused:
        return None
    if not found:
        return None
    return (
        f"the MLflow store in {home} still records artifacts under {', '.join(sorted(found))} (the home was moved "
        "or restored elsewhere); run `retrain relocate-home` to point it at this home"
    )


def relocate_home(
    home: Path, old: str | None = None, *, dry_run: bool = False, tracking_uri: str | None = None
) -> Relocation:
    """Rewrite the embedded store's artifact locations from another home's artifact root to ``home``'s.

    ``old`` is the old home folder or its artifact root URI; by default the one the store points at. Only
    locations under exactly that root change. Idempotent: a second call finds nothing to rewrite.

    Raises:
        RelocationRefused: not an embedded store, or several old roots and no ``old`` to choose one.
    """
    path = store_path(home, tracking_uri)
    new = embedded_artifact_root(home)
    if old is None:
        found = old_prefixes(home, tracking_uri)
        if len(found) > 1:
            raise RelocationRefused(
                f"{path} points at several other places ({', '.join(sorted(found))}); pass --from with the one "
                "to replace (the others stay as they are)"
            )
        if not found:
            return Relocation(old="", new=new)
        old = found.pop()
    elif "://" not in old:
        old = embedded_artifact_root(Path(old).expanduser().resolve())
    old = old.rstrip("/")
    relocation = Relocation(old=old, new=new)
    if old == new:
        return relocation
    if not dry_run:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        relocation.backup = path.with_name(f"{path.name}.bak-{stamp}")
        # sqlite3's backup API copies a consistent snapshot even if a process has the store open.
        with sqlite3.connect(path) as source, sqlite3.connect(relocation.backup) as target:
            source.backup(target)
    db = sqlite3.connect(path)
    try:
        with db:  # one transaction: every location moves, or none does
            for table, column in _existing(db):
                # An exact root, then "/" or the end: /old/home2 is not under /old/home.
                where = f"{column} = :old OR substr({column}, 1, :n) = :prefix"
                arguments = {"old": old, "prefix": old + "/", "n": len(old) + 1}
                rows = db.execute(f"SELECT {column} FROM {table} WHERE {where}", arguments).fetchall()
                if not rows:
                    continue
                relocation.changed[f"{table}.{column}"] = len(rows)
                for (value,) in rows:
                    moved = new + value[len(old) :]
                    if not _file_uri_path(moved).exists() and moved not in relocation.missing:
                        relocation.missing.append(moved)
                if not dry_run:
                    db.execute(
                        f"UPDATE {table} SET {column} = :new || substr({column}, :n0) WHERE {where}",
                        {**arguments, "new": new, "n0": len(old) + 1},
                    )
    finally:
        db.close()
    return relocation


def _file_uri_path(uri: str) -> Path:
    return Path(unquote(urlsplit(uri).path))
