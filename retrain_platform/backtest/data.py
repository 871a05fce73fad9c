"""The input of a backtest: a folder of daily files, one per partition, named like the landing folder's."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

_DAY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.(parquet|csv)$")


class BacktestInputError(ValueError):
    """A data folder or date range a backtest cannot use; the message says what to change."""


@dataclass(frozen=True)
class DayFile:
    """One day's file in the data folder."""

    day: dt.date
    path: Path

    @property
    def format(self) -> str:
        """``parquet`` or ``csv``, from the file's suffix."""
        return self.path.suffix.lstrip(".")


def daily_files(folder: Path, start: dt.date | None = None, end: dt.date | None = None) -> list[DayFile]:
    """The ``YYYY-MM-DD.parquet`` (or ``.csv``) files of ``folder`` within ``[start, end]``, oldest first.

    Other files are ignored (a README, a hidden file); one format per folder, because a model lands one format.
    """
    if not folder.is_dir():
        raise BacktestInputError(f"{folder} is not a folder; give a folder of daily files named YYYY-MM-DD.parquet")
    files = []
    for path in sorted(folder.iterdir()):
        match = _DAY_FILE.match(path.name)
        if not match or not path.is_file():
            continue
        try:
            day = dt.date.fromisoformat(match.group(1))
        except ValueError:
            raise BacktestInputError(f"{path.name} is not a calendar date; name each file YYYY-MM-DD") from None
        if (start is None or day >= start) and (end is None or day <= end):
            files.append(DayFile(day, path))
    if not files:
        window = f" between {start or 'the first'} and {end or 'the last day'}" if start or end else ""
        raise BacktestInputError(
            f"no daily files in {folder}{window}; name each file YYYY-MM-DD.parquet (or .csv), one per day"
        )
    formats = sorted({f.format for f in files})
    if len(formats) > 1:
        raise BacktestInputError(f"{folder} mixes {' and '.join(formats)} files; convert them to one format")
    return files
