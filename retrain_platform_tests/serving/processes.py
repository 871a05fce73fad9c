"""Real server processes for the slow test and the benchmark: ``retrain serve`` and ``mlflow models serve``."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from retrain_platform_tests.conftest import spec_dict
from retrain_platform_tests.training.seeded import SeededState

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port nothing listens on right now (bound and released by the OS)."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def bin_path(name: str) -> str:
    """A console script of the running interpreter's environment."""
    return str(Path(sys.executable).with_name(name))


def state_env(state: SeededState, model: str) -> dict[str, str]:
    """The environment the CLI reads, pointed at ``state`` with a spec file for ``model`` (as in test_cli)."""
    spec_file = state.root / "specs" / f"{model}.yaml"
    spec_file.parent.mkdir(parents=True, exist_ok=True)
    spec_file.write_text(yaml.safe_dump(spec_dict(model), sort_keys=False))
    env = {k: v for k, v in os.environ.items() if k != "RETRAIN_MLFLOW_ARTIFACTS"}
    return env | {
        "RETRAIN_HOME": str(state.home),
        "DAGSTER_HOME": str(state.dagster_home),
        "MLFLOW_TRACKING_URI": state.tracking_uri,
        "RETRAIN_SPECS": str(spec_file.parent),
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        # mlflow models serve starts `uvicorn` by name: the environment's scripts must be on PATH.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """Status and body of a GET (an HTTP error status is returned, not raised)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def post_json(url: str, body: dict, timeout: float = 10.0) -> tuple[int, dict]:
    """Status and decoded body of a JSON POST."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


@dataclass
class Server:
    """A started server process and where it listens."""

    process: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait(self, path: str, timeout: float) -> None:
        """Until ``path`` answers 200; fails with the server's output if it exits or never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.output()[-3000:]}")
            with contextlib.suppress(OSError):
                if get(self.url + path, timeout=1.0)[0] == 200:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"{self.url}{path} did not answer 200 within {timeout:.0f} s:\n{self.output()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        """Send ``sig`` and wait for the process to exit; returns its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@contextlib.contextmanager
def started(command: list[str], env: dict[str, str], port: int, log: Path) -> Iterator[Server]:
    """Run ``command`` (its output to ``log``) for the block; the process is stopped (SIGTERM) on the way out."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(process, port, log)
    try:
        yield server
    finally:
        server.stop()


def retrain_serve(env: dict[str, str], port: int, log: Path, *args: str) -> contextlib.AbstractContextManager[Server]:
    """``retrain serve ARGS --port PORT`` on loopback."""
    return started([bin_path("retrain"), "serve", *args, "--port", str(port)], env, port, log)


def mlflow_serve(
    env: dict[str, str], model_uri: str, port: int, log: Path
) -> contextlib.AbstractContextManager[Server]:
    """``mlflow models serve -m URI --env-manager local`` on loopback (one uvicorn worker, its default)."""
    command = [bin_path("mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local"]
    return started([*command, "-h", LOOPBACK, "-p", str(port)], env, port, log)
