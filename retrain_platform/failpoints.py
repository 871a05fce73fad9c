"""Named fail points: where the fault suite makes a step crash, fail with an I/O error, or wait for a signal.

The platform's promise ("no person in the loop") is only as good as its behaviour when a process dies between two
writes. Crashes at exact points cannot be produced from outside a process reliably, so the write paths call
:func:`failpoint` at each step that matters (the idea of etcd's gofail and FreeBSD's fail(9)). In normal operation
``RETRAIN_FAILPOINTS`` is unset and a fail point costs one environment lookup.

``RETRAIN_FAILPOINTS`` holds comma-separated ``name=action`` pairs; actions:

- ``kill``: SIGKILL this process (what an OOM kill or a node loss does);
- ``enospc`` / ``erofs``: raise the ``OSError`` a full disk or a read-only file system raises;
- ``error``: raise :class:`InjectedFault` every time (a service that is down);
- ``error:N``: raise it on the first N hits in this process only (a service that blips, then answers);
- ``wait:PATH``: create ``PATH.reached``, then block until ``PATH.go`` exists (at most 120 s), so a test can
  line two processes up at exactly the point where they race.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from pathlib import Path

ENV = "RETRAIN_FAILPOINTS"
_WAIT_LIMIT_SECONDS = 120.0
_hits: dict[str, int] = {}


class InjectedFault(RuntimeError):
    """The error an ``error`` fail point raises."""


def _actions() -> dict[str, str]:
    value = os.environ.get(ENV, "")
    pairs = (item.split("=", 1) for item in value.split(",") if "=" in item)
    return {name.strip(): action.strip() for name, action in pairs}


def failpoint(name: str) -> None:
    """Act on fail point ``name`` if ``RETRAIN_FAILPOINTS`` names it; otherwise do nothing."""
    if ENV not in os.environ:
        return
    action = _actions().get(name)
    if action is None:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action in ("enospc", "erofs"):
        code = errno.ENOSPC if action == "enospc" else errno.EROFS
        raise OSError(code, f"{os.strerror(code)} (injected at fail point {name})")
    elif action == "error":
        raise InjectedFault(f"fault injected at fail point {name}")
    elif action.startswith("error:"):
        _hits[name] = _hits.get(name, 0) + 1
        if _hits[name] <= int(action.removeprefix("error:")):
            raise InjectedFault(f"fault injected at fail point {name} (hit {_hits[name]})")
    elif action.startswith("wait:"):
        path = Path(action.removeprefix("wait:"))
        path.with_name(path.name + ".reached").touch()
        deadline = time.monotonic() + _WAIT_LIMIT_SECONDS
        go = path.with_name(path.name + ".go")
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    else:
        raise ValueError(
            f"{ENV}: unknown action {action!r} for fail point {name}; "
            "use kill, enospc, erofs, error, error:N or wait:PATH"
        )
