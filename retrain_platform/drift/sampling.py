"""Bounded, reproducible row samples (for the HTML report and the sketch's stored sample)."""

from __future__ import annotations

import numpy as np
import pandas as pd

DEFAULT_SAMPLE_ROWS = 5000
"""Default cap on rows per side of the HTML report."""


def validate_sample_rows(sample_rows: int | None) -> int | None:
    """Check a row cap: a positive integer, or ``None`` for "no sampling".

    Raises:
        ValueError: otherwise.
    """
    if sample_rows is None:
        return None
    if isinstance(sample_rows, bool) or not isinstance(sample_rows, (int, np.integer)) or sample_rows < 1:
        raise ValueError(f"sample_rows must be a positive integer, or None to disable sampling; got {sample_rows!r}")
    return int(sample_rows)


def validate_seed(seed: int) -> int:
    """Check a sampling seed (a non-negative integer).

    Raises:
        ValueError: otherwise.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    return int(seed)


def sample_frame(frame: pd.DataFrame, max_rows: int | None, seed: int) -> pd.DataFrame:
    """At most ``max_rows`` rows drawn uniformly without replacement, in their original order.

    The same frame, cap and seed always give the same rows (NumPy ``default_rng(seed)``).
    With ``max_rows=None``, or a frame that already fits, the frame is returned as is.
    """
    max_rows = validate_sample_rows(max_rows)
    seed = validate_seed(seed)
    if max_rows is None or len(frame) <= max_rows:
        return frame
    rows = np.random.default_rng(seed).choice(len(frame), size=max_rows, replace=False)
    rows.sort()
    return frame.iloc[rows]
