"""Following the ``champion`` alias: load a new version off the request path, then swap one reference.

The request path only ever reads :meth:`ChampionFollower.current`, one dictionary lookup returning an immutable
:class:`~retrain_platform.serving.loaded.LoadedModel`. A background thread polls the registry; when the alias
points elsewhere (a promotion or a rollback) it loads and warms the new version completely, and only then
replaces the entry (a single assignment, atomic under the GIL). A request holding the old object finishes on it;
no request can see a half-loaded model. A failed read or load is logged and counted, the old version keeps
serving, and the next poll tries again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from retrain_platform.promotion.probation import PROBATION_TAG
from retrain_platform.registry import DECIDED_AT_TAG, ModelRegistry, VersionInfo
from retrain_platform.serving.loaded import LoadedModel, prepare
from retrain_platform.serving.metrics import ServeMetrics
from retrain_platform.spec.model_spec import ModelSpec

_log = logging.getLogger(__name__)


class ChampionFollower:
    """The loaded champion of each served model, kept in step with the registry by :meth:`start`'s poller."""

    def __init__(
        self,
        specs: dict[str, ModelSpec],
        registry: ModelRegistry,
        metrics: ServeMetrics,
        poll_seconds: float,
        load: Callable[[VersionInfo], Any] | None = None,
        shadow: bool = False,
    ):
        self.specs = specs
        self.registry = registry
        self.metrics = metrics
        self.poll_seconds = poll_seconds
        # The registry's own loader (trust policy, cache); replaceable so tests can make a load fail.
        self._load = load or registry.load
        self._current: dict[str, LoadedModel] = {}
        self.shadowing = shadow
        self._shadow: dict[str, LoadedModel] = {}
        self._failed: dict[str, str] = {}  # the last version that failed to load, so it is not logged every poll
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        for name in specs:
            metrics.served_version(name, None)

    def current(self, name: str) -> LoadedModel | None:
        """The version answering ``name``'s requests now (None until a champion has loaded)."""
        return self._current.get(name)

    def shadow(self, name: str) -> LoadedModel | None:
        """The waiting challenger scored in shadow for ``name`` (None when there is none, or shadowing is off)."""
        return self._shadow.get(name)

    def refresh_shadow(self, name: str) -> None:
        """Load ``name``'s waiting challenger (the newest version on probation the gate has not decided, newer
        than the champion) for shadow scoring, or drop the one loaded once it is decided. Never raises."""
        serving = self._current.get(name)
        try:
            versions = self.registry.versions(name)
        except Exception as err:  # keep shadowing what is loaded; the next poll reads again
            _log.warning("%s: could not list versions for the shadow: %s", name, err)
            return
        newer = int(serving.version) if serving is not None else 0
        waiting = [
            v for v in versions if PROBATION_TAG in v.tags and DECIDED_AT_TAG not in v.tags and int(v.version) > newer
        ]
        if not waiting:
            self._shadow.pop(name, None)
            return
        target = waiting[-1]
        shadowed = self._shadow.get(name)
        if shadowed is not None and shadowed.version == target.version:
            return
        try:
            self._shadow[name] = prepare(self.specs[name], target, self._load(target))
        except Exception as err:  # a challenger that cannot load is not shadowed; the champion is untouched
            self._shadow.pop(name, None)
            _log.error("%s: challenger v%s failed to load for the shadow: %s", name, target.version, err)
            return
        _log.info("%s: scoring challenger v%s in shadow", name, target.version)

    def missing(self) -> list[str]:
        """Served models without a loaded champion (what ``/readyz`` waits for)."""
        return [name for name in self.specs if name not in self._current]

    def refresh(self, name: str) -> bool:
        """Read ``name``'s alias once and load the version it names if it is not the one serving; True if swapped.

        Never raises: a registry that fails to answer, or a version that fails to load or to answer its warm-up,
        leaves the serving version in place (logged, and counted in ``retrain_serve_champion_poll_failures`` or
        ``retrain_serve_model_loads{outcome="failed"}``).
        """
        try:
            info = self.registry.champion(name)
        except Exception as err:  # any failure to read the alias means "keep serving", never "stop"
            self.metrics.polls_failed.labels(name).inc()
            _log.warning("%s: could not read the champion alias, still serving %s: %s", name, self._serving(name), err)
            return False
        serving = self._current.get(name)
        if info is None:
            if serving is not None:
                _log.warning("%s: the champion alias is gone; still serving v%s", name, serving.version)
            return False
        if serving is not None and serving.version == info.version:
            return False
        try:
            loaded = prepare(self.specs[name], info, self._load(info))
        except Exception as err:  # a bad artifact or an outage: the old version stays, the next poll retries
            self.metrics.loads.labels(name, "failed").inc()
            if self._failed.get(name) != info.version:
                _log.error("%s: v%s failed to load, still serving %s: %s", name, info.version, self._serving(name), err)
            self._failed[name] = info.version
            return False
        self._current[name] = loaded  # the swap: one reference assignment of a complete, immutable object
        self._failed.pop(name, None)
        self.metrics.loads.labels(name, "loaded").inc()
        self.metrics.served_version(name, loaded.version, loaded.loaded_at.isoformat())
        _log.info("%s: now serving v%s (was %s)", name, loaded.version, f"v{serving.version}" if serving else "none")
        return True

    def _serving(self, name: str) -> str:
        serving = self._current.get(name)
        return f"v{serving.version}" if serving else "nothing"

    def refresh_all(self) -> None:
        """:meth:`refresh` every served model."""
        for name in self.specs:
            if self._stop.is_set():
                return
            self.refresh(name)
            if self.shadowing:
                self.refresh_shadow(name)

    def start(self) -> None:
        """Poll the registry every ``poll_seconds`` in a daemon thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="champion-follower", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.refresh_all()

    def stop(self) -> None:
        """Stop polling; a load in progress is finished first, so nothing is swapped after this returns."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
