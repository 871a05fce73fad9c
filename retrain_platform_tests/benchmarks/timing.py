"""Timing and memory helpers shared by the benchmarks (kept apart so that one benchmark's imports stay its own)."""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from collections.abc import Callable


def best_time(call: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Shortest wall time of ``repeats`` runs, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - start)
    return best, result


def traced_peak(call: Callable[[], object]) -> int:
    """Peak bytes allocated (Python + NumPy/pandas, via tracemalloc) while ``call`` runs."""
    gc.collect()
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def parse_sizes(text: str) -> tuple[int, ...]:
    """``"10000,100000"`` -> ``(10000, 100000)``."""
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--sizes takes comma-separated row counts, e.g. 10000,100000; got {text!r}"
        ) from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"--sizes needs positive row counts; got {text!r}")
    return sizes
