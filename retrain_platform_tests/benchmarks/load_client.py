"""A bounded HTTP load client: a fixed number of keep-alive connections, each sending one request at a time.

Written on asyncio streams with hand-made HTTP/1.1 rather than an HTTP library so that the client's own cost per
request (a few tens of microseconds) stays small next to the servers it measures on the same two cores, and is
the same for every server. A request counts as failed when the connection breaks or the status is not 2xx.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class LoadResult:
    """What one load run measured."""

    sent: int
    elapsed: float
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> int:
        """Requests answered with a 2xx status."""
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def failed(self) -> int:
        """Requests that broke or were answered with anything but 2xx."""
        return self.sent - self.ok

    @property
    def throughput(self) -> float:
        """Answered requests per second."""
        return self.ok / self.elapsed if self.elapsed else 0.0

    def percentile(self, q: float) -> float:
        """Latency percentile ``q`` (0-100) in seconds, over every request sent."""
        return float(np.percentile(self.latencies, q)) if self.latencies else float("nan")


def _request(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)}
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"]))
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return status, b"".join(chunks)
            chunks.append(chunk[:-2])
    raise ValueError(f"response without a length: {headers}")


async def _worker(host, port, requests, result: LoadResult, check: Callable[[int, bytes], str | None] | None):
    reader = writer = None
    for path, body, headers in requests:
        started = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            writer.write(_request(host, port, path, body, headers))
            status, content = await _read_response(reader)
            if check is not None and 200 <= status < 300 and (problem := check(status, content)):
                result.errors.append(problem)
                status = -2
        except (OSError, asyncio.IncompleteReadError, ValueError) as err:
            status = -1
            result.errors.append(f"{type(err).__name__}: {err}")
            if writer is not None:
                writer.close()
            reader = writer = None
        result.latencies.append(time.perf_counter() - started)
        result.statuses[status] += 1
    if writer is not None:
        writer.close()


async def _run(host, port, make, total, concurrency, check) -> LoadResult:
    counter = itertools.count()
    result = LoadResult(sent=total, elapsed=0.0)

    def requests():
        while (i := next(counter)) < total:
            yield make(i)

    started = time.perf_counter()
    shared = requests()
    await asyncio.gather(*(_worker(host, port, shared, result, check) for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - started
    return result


def run_load(
    host: str,
    port: int,
    make: Callable[[int], tuple[str, bytes, dict[str, str]]],
    total: int,
    concurrency: int,
    check: Callable[[int, bytes], str | None] | None = None,
) -> LoadResult:
    """Send ``total`` requests (``make(i)`` -> path, body, headers) over ``concurrency`` connections.

    ``check`` may refuse a 2xx answer's body (returning why), which then counts as failed.
    """
    return asyncio.run(_run(host, port, make, total, concurrency, check))
