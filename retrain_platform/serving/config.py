"""The serving process's settings, typed and checked once (``retrain serve``'s options map onto them)."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from retrain_platform.settings import DEFAULT_SERVE_PORT, LOOPBACK


class ServeConfig(BaseModel):
    """How ``retrain serve`` listens, follows the alias, batches and logs.

    - ``host``/``port``: where it listens; loopback unless told otherwise, like everything else the platform runs.
    - ``poll_seconds``: how often the ``champion`` alias is read; a promotion or rollback is served within that.
    - ``max_rows``: the most rows one request may carry; ``max_batch_rows``: the most rows answered by one model
      call when concurrent requests are answered together.
    - ``log_flush_rows``/``log_flush_seconds``: the prediction log writes when that many rows wait or that much
      time has passed; ``log_capacity_rows``: rows it buffers before new records are dropped (and counted).
    - ``shutdown_seconds``: how long a stop waits for requests in flight before closing connections.
    - ``shadow``: also score each model's waiting challenger (a candidate on probation) in shadow: its answers
      go to the prediction log beside the champion's, never to the client.
    - ``reports``: whether ``/reports/...`` serves the drift reports of the lake; ``None`` (the default) serves
      them only when ``host`` is a loopback address, since the pages show the data's distributions.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = LOOPBACK
    port: Annotated[int, Field(ge=0, le=65535)] = DEFAULT_SERVE_PORT
    poll_seconds: Annotated[float, Field(gt=0)] = 10.0
    max_rows: Annotated[int, Field(ge=1)] = 10_000
    max_batch_rows: Annotated[int, Field(ge=1)] = 1_000
    log_flush_rows: Annotated[int, Field(ge=1)] = 10_000
    log_flush_seconds: Annotated[float, Field(gt=0)] = 5.0
    log_capacity_rows: Annotated[int, Field(ge=1)] = 1_000_000
    shutdown_seconds: Annotated[float, Field(gt=0)] = 30.0
    access_log: bool = False
    reports: bool | None = None
    shadow: bool = False

    @property
    def serves_reports(self) -> bool:
        """Whether the drift reports are served: as ``reports`` says, else only on a loopback address."""
        return _is_loopback(self.host) if self.reports is None else self.reports

    @property
    def reports_refusal(self) -> str:
        """Why the drift reports are not served, and how to change it (for the routes' 404)."""
        if self.reports is False:
            return "drift reports are not served by this process (started with --no-reports)"
        return (
            f"drift reports are not served by this process: it listens on {self.host}, beyond this machine, and the "
            "pages show the data's distributions; start it with --reports to serve them there, or open "
            "RETRAIN_HOME/reports/<model>/drift/<day>.html"
        )

    @model_validator(mode="after")
    def _capacity_holds_a_flush(self) -> ServeConfig:
        if self.log_capacity_rows < self.log_flush_rows:
            raise ValueError(
                f"log_capacity_rows ({self.log_capacity_rows}) is below log_flush_rows ({self.log_flush_rows}): the "
                "buffer would drop records before a flush could start; raise the capacity or lower the flush size"
            )
        if self.log_capacity_rows < self.max_rows:
            raise ValueError(
                f"log_capacity_rows ({self.log_capacity_rows}) is below max_rows ({self.max_rows}): a full-size "
                "request could never be logged; raise the capacity or lower max_rows"
            )
        return self


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: it may resolve to anything
        return False
