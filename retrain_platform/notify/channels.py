"""Delivering a notification: a webhook (Slack-compatible JSON) or an email (SMTP).

Written on the standard library (``urllib.request``, ``smtplib``, ``email``) rather than a notification library:
two channels of a few lines each, whose failures must be caught and retried by the sensor, need nothing more, and
the secrets they use are read from the environment at send time, never stored.
"""

from __future__ import annotations

import json
import os
import smtplib
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage

from retrain_platform.notify.events import Notification
from retrain_platform.spec.notifications import EmailSpec, NotificationsSpec, WebhookSpec


class DeliveryError(RuntimeError):
    """A channel could not deliver; the message says which channel and why (never a secret)."""


def _secret(name: str, what: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise DeliveryError(f"{what}: the environment variable {name} is not set; set it to the {what}'s secret")
    return value


@dataclass(frozen=True)
class WebhookChannel:
    """POST one JSON document per notification to the URL held by ``spec.url_env``."""

    spec: WebhookSpec

    @property
    def id(self) -> str:
        """A stable name, also the channel's cursor key: the variable's name, not the URL."""
        return f"webhook:{self.spec.url_env}"

    def send(self, note: Notification) -> None:
        """Deliver ``note``; raise :class:`DeliveryError` on anything but a 2xx answer."""
        url = _secret(self.spec.url_env, "webhook URL")
        body = {"text": note.text} if self.spec.format == "slack" else note.as_dict()
        request = urllib.request.Request(
            url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.spec.timeout_seconds) as answer:
                answer.read()
        except urllib.error.HTTPError as err:
            raise DeliveryError(f"{self.id}: the webhook answered HTTP {err.code}") from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise DeliveryError(f"{self.id}: cannot reach the webhook ({reason})") from None


@dataclass(frozen=True)
class EmailChannel:
    """Send one email per notification through ``spec.host``:``spec.port``."""

    spec: EmailSpec

    @property
    def id(self) -> str:
        """A stable name, also the channel's cursor key."""
        return f"email:{self.spec.host}:{self.spec.port}:{','.join(self.spec.to)}"

    def send(self, note: Notification) -> None:
        """Deliver ``note``; raise :class:`DeliveryError` when the server refuses it or cannot be reached."""
        message = EmailMessage()
        message["Subject"] = note.text.splitlines()[0]
        message["From"] = self.spec.sender
        message["To"] = ", ".join(self.spec.to)
        message.set_content(note.text + f"\n\nevent: {note.kind} ({note.severity}) at {note.at}\n")
        try:
            with smtplib.SMTP(self.spec.host, self.spec.port, timeout=self.spec.timeout_seconds) as smtp:
                if self.spec.starttls:
                    smtp.starttls()
                if self.spec.username_env:
                    smtp.login(
                        _secret(self.spec.username_env, "SMTP user"), _secret(self.spec.password_env, "SMTP password")
                    )
                smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as err:
            raise DeliveryError(f"{self.id}: {type(err).__name__}: {err}") from None


Channel = WebhookChannel | EmailChannel


def channels_of(section: NotificationsSpec) -> list[Channel]:
    """The channels a ``notifications`` section configures."""
    out: list[Channel] = []
    if section.webhook is not None:
        out.append(WebhookChannel(section.webhook))
    if section.email is not None:
        out.append(EmailChannel(section.email))
    return out
