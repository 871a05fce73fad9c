"""The ``notifications`` section of a spec (and of the instance-wide default): who is told what, and how.

Secrets never appear in a spec: a webhook URL (a Slack incoming webhook's URL is its credential) and an SMTP
login are named by the environment variables that hold them, read when a message is sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from retrain_platform.spec.secret_names import env_var_name

EventKind = Literal[
    "quarantine",
    "check_failed",
    "trigger_fired",
    "retrain_failed",
    "promoted",
    "rejected",
    "probation",
    "rollback",
    "run_failed",
    "sensor_error",
]
EVENT_KINDS: tuple[str, ...] = EventKind.__args__


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookSpec(_Strict):
    """An HTTP POST of JSON per event: ``{"text": ...}`` (Slack-compatible) or the whole event (``format: json``)."""

    url_env: str
    format: Literal["slack", "json"] = "slack"
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0

    _url_env = field_validator("url_env")(classmethod(lambda cls, v: env_var_name(v)))


class EmailSpec(_Strict):
    """One email per event through an SMTP server (``starttls`` and a login from the environment when given)."""

    to: list[str]
    sender: str = "retrain-platform@localhost"
    host: str = "localhost"
    port: Annotated[int, Field(ge=1, le=65535)] = 25
    starttls: bool = False
    username_env: str | None = None
    password_env: str | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0

    _names = field_validator("username_env", "password_env")(classmethod(lambda cls, v: env_var_name(v)))

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if "@" not in a]
        if not value or bad:
            raise ValueError(f"list at least one address like ops@example.com; not addresses: {bad}")
        return value

    @model_validator(mode="after")
    def _login_pair(self) -> EmailSpec:
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError("set both username_env and password_env, or neither")
        return self


class NotificationsSpec(_Strict):
    """Where a model's events go (``webhook``, ``email`` or both) and which events (``events``, default all)."""

    events: list[EventKind] = Field(default_factory=lambda: list(EVENT_KINDS))
    webhook: WebhookSpec | None = None
    email: EmailSpec | None = None

    @model_validator(mode="after")
    def _somewhere(self) -> NotificationsSpec:
        if self.webhook is None and self.email is None:
            raise ValueError("say where to send: a webhook (url_env) or email (to), or remove notifications")
        return self


def load_default_notifications(path: str | Path | None) -> NotificationsSpec | None:
    """The instance-wide default (``RETRAIN_NOTIFICATIONS``: a YAML file holding one ``notifications`` section).

    Raises ``ValueError`` naming the file and the field when it cannot be used.
    """
    if not path:
        return None
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as err:
        raise ValueError(f"RETRAIN_NOTIFICATIONS={path}: cannot read it: {err}") from None
    section = data.get("notifications", data) if isinstance(data, dict) else data
    try:
        return NotificationsSpec.model_validate(section)
    except ValidationError as err:
        problems = "; ".join(
            f"notifications.{'.'.join(map(str, e['loc']))}: {e['msg']}" if e["loc"] else e["msg"] for e in err.errors()
        )
        raise ValueError(f"RETRAIN_NOTIFICATIONS={path}: {problems}") from None
