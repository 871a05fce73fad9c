"""Real receivers the notification tests start on 127.0.0.1: an HTTP webhook endpoint and an SMTP server."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

from retrain_platform_tests.serving.processes import LOOPBACK, free_port


@dataclass
class Webhook:
    """What the webhook received; ``status`` is what it answers (set 500 to play a broken receiver)."""

    url: str = ""
    bodies: list[dict] = field(default_factory=list)
    status: int = 200

    @property
    def texts(self) -> list[str]:
        return [body.get("text", "") for body in self.bodies]


@contextlib.contextmanager
def webhook_receiver() -> Iterator[Webhook]:
    """A JSON webhook endpoint for the block."""
    hook = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if hook.status == 200:
                hook.bodies.append(json.loads(body))
            self.send_response(hook.status)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    hook.url = f"http://{LOOPBACK}:{server.server_address[1]}/hooks/test"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Mailbox:
    """Messages the SMTP server accepted."""

    port: int
    messages: list = field(default_factory=list)

    @property
    def subjects(self) -> list[str]:
        return [str(m["Subject"]).strip() for m in self.messages]


@contextlib.contextmanager
def smtp_server() -> Iterator[Mailbox]:
    """An SMTP server (aiosmtpd) for the block."""
    box = Mailbox(free_port())

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's naming)
            box.messages.append(message_from_bytes(envelope.content, policy=policy.default))
            return "250 OK"

    controller = Controller(Handler(), hostname=LOOPBACK, port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
