"""``retrain demo-live``: the production half of the loop, end to end, on one machine.

The churn example is replayed until it has a champion (through the same sensors and automation as
``retrain demo``); then ``retrain serve`` answers live traffic on 127.0.0.1 while the world changes (the
generator's competitor scenario: long-standing customers now leave). Labels for that traffic come back as a label
file; the feedback sensor scores the day's live traffic, its ``live_performance`` check fails, and the sensor
requests the retrain. The new days have landed meanwhile, so the candidate learns the new world; the gate promotes
it and the service swaps to it while requests keep coming. A local webhook receiver gets the alerts.

Everything runs in this process against the persistent instance under ``RETRAIN_HOME`` (``make ui`` shows it
afterwards); the service is real uvicorn on a free loopback port, the client real HTTP.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
from dagster import DagsterInstance, build_sensor_context
from sklearn.metrics import roc_auc_score

from retrain_platform.demo.generator import churn_day, land
from retrain_platform.demo.replay import EXAMPLES
from retrain_platform.feedback.sensor import feedback_sensor_name
from retrain_platform.keys import ModelKeys
from retrain_platform.notify.sensor import NOTIFICATIONS_SENSOR
from retrain_platform.orchestration.replay import DayRow, Replay
from retrain_platform.resources import resolved_resources
from retrain_platform.serving import ServeConfig, build_service, create_app
from retrain_platform.spec import load_spec, parse_spec

WEBHOOK_ENV = "RETRAIN_DEMO_WEBHOOK"
LOOPBACK = "127.0.0.1"
NO_PRICING_CHANGE = dt.date(2100, 1, 1)


@dataclass
class Traffic:
    """What the live client sent and got: rows with their answers, versions answering, failed requests."""

    sent: list[pd.DataFrame] = field(default_factory=list)
    versions: Counter = field(default_factory=Counter)
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def frame(self) -> pd.DataFrame:
        return pd.concat(self.sent, ignore_index=True) if self.sent else pd.DataFrame()


@dataclass
class LiveDemoResult:
    """The live demo's outcome, as printed and as ``--json`` writes it."""

    home: str
    champion_before: str
    champion_after: str
    requests: int
    failed_requests: int
    answered_by: dict[str, int]
    live_auc_by_version: dict[str, float]
    live_check: str
    retrain_trigger: str
    alerts: list[str]
    seconds: float

    def to_json(self) -> dict:
        """A JSON-ready dict."""
        return self.__dict__.copy()


def live_spec():
    """The churn example with delayed labels, alerts to the demo's receiver, and no drift trigger (the live
    check is what should notice this change)."""
    data = load_spec(EXAMPLES / "churn.yaml").model_dump(by_alias=True, exclude_none=True)
    data["triggers"] = {**data["triggers"], "drift": False}
    data["feedback"] = {"path": "feedback/churn", "label_delay_days": 2, "min_labels": 200}
    data["notifications"] = {
        "webhook": {"url_env": WEBHOOK_ENV},
        "events": ["check_failed", "trigger_fired", "promoted", "rejected", "retrain_failed", "rollback"],
    }
    return parse_spec(data, Path("<demo-live churn spec>"))


@contextlib.contextmanager
def _webhook_receiver():
    received: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append(json.loads(body).get("text", ""))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}/demo-hook", received
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def _served(spec, resources, config: ServeConfig):
    import uvicorn

    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port = probe.getsockname()[1]
    service = build_service({spec.name: spec}, resources["registry"], resources["lake"], config)
    server = uvicorn.Server(uvicorn.Config(create_app(service), host=LOOPBACK, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://{LOOPBACK}:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if urllib.request.urlopen(url + "/readyz", timeout=1).status == 200:
                break
        time.sleep(0.1)
    else:
        raise RuntimeError("retrain serve did not become ready within 60 s")
    try:
        yield url
    finally:
        server.should_exit = True  # a clean stop: requests in flight answered, the prediction log written
        thread.join(timeout=60)


def _client(url: str, model: str, rows: pd.DataFrame, traffic: Traffic, stop: threading.Event, batch: int):
    """Send ``rows`` in requests of ``batch`` rows, round and round, until ``stop``."""
    features = rows.drop(columns=["churned"])
    i = 0
    while not stop.is_set():
        start = (i * batch) % len(rows)
        chunk = rows.iloc[start : start + batch]
        request_id = f"live-{i}"
        records = json.loads(features.iloc[start : start + batch].to_json(orient="records"))
        request = urllib.request.Request(
            f"{url}/v1/models/{model}/predict",
            data=json.dumps({"records": records}).encode(),
            headers={"Content-Type": "application/json", "X-Request-ID": request_id},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                body = json.loads(answer.read())
            traffic.versions[body["version"]] += 1
            traffic.sent.append(
                chunk.assign(
                    request_id=request_id, row=range(len(chunk)), answer=body["predictions"], version=body["version"]
                )
            )
        except Exception as err:  # noqa: BLE001 (every failure is counted, whatever it is)
            traffic.failed += 1
            traffic.errors.append(f"{type(err).__name__}: {err}")
        i += 1


def run_live_demo(
    home: Path, instance: DagsterInstance, *, seed: int = 0, days: int = 21, new_days: int = 7, echo=print
) -> LiveDemoResult:
    """Run the live demo into ``home`` (see the module docstring)."""
    started = time.perf_counter()
    spec = live_spec()
    start = spec.partitions.start_date
    competitor = start + dt.timedelta(days=days)
    with _webhook_receiver() as (hook_url, alerts):
        os.environ[WEBHOOK_ENV] = hook_url
        resources = resolved_resources(home)
        replay = Replay(home, instance, [spec], resources)
        landing = replay.lake.landing_dir(spec)

        def land_day(day: dt.date, rows: dict[str, DayRow]) -> None:
            land(churn_day(day, NO_PRICING_CHANGE, seed, competitor_from=competitor), landing, day, "parquet")

        echo(f"1. replaying {days} days of churn into {home} until it has a champion")
        for i in range(days):
            replay.day(start + dt.timedelta(days=i), land_day)
        before = resources["registry"].champion(spec.name)
        if before is None:
            raise RuntimeError("the replay did not promote a first churn model; see the runs with make ui")
        echo(f"   champion v{before.version}")
        notifier = _SensorTicker(replay, NOTIFICATIONS_SENSOR, resources)
        notifier.tick()  # notifications start from now
        feedback = _SensorTicker(replay, feedback_sensor_name(spec.name), resources)

        world = pd.concat(
            [
                churn_day(competitor + dt.timedelta(days=i), NO_PRICING_CHANGE, seed + 1, competitor_from=competitor)
                for i in range(3)
            ],
            ignore_index=True,
        )
        traffic, stop = Traffic(), threading.Event()
        config = ServeConfig(poll_seconds=0.5, log_flush_rows=500, log_flush_seconds=0.2)
        with _served(spec, resources, config) as url:
            client = threading.Thread(target=_client, args=(url, spec.name, world, traffic, stop, 20), daemon=True)
            client.start()
            echo(f"2. retrain serve answers live traffic on {url}; a competitor launched: long-tenured customers leave")
            _wait(lambda: sum(len(f) for f in traffic.sent) >= 2000, 120, "live traffic")
            served_so_far = traffic.frame()
            time.sleep(0.5)  # the prediction log flushes every 0.2 s
            today = dt.datetime.now(dt.UTC).date().isoformat()
            labels = served_so_far[["request_id", "row", "churned"]]
            folder = replay.lake.feedback_dir(spec)
            folder.mkdir(parents=True, exist_ok=True)
            labels.to_parquet(folder / f".{today}.partial")
            (folder / f".{today}.partial").replace(folder / f"{today}.parquet")
            echo(f"3. labels came back for {len(labels)} of those predictions ({folder.name}/{today}.parquet)")
            feedback.tick()
            live_check = _latest_live_check(instance, spec)
            echo(f"   live_performance: {live_check}")
            echo(f"4. {new_days} days of the new world land and are validated (no retrain yet: drift trigger off)")
            for i in range(new_days):
                day = competitor + dt.timedelta(days=i)
                rows = {spec.name: DayRow(day=day.isoformat())}
                land_day(day, rows)
                replay.tick_sensors(rows)
            runs = feedback.tick()
            trigger = next((r.dagster_run.tags.get("retrain/trigger", "") for r in runs), "none")
            after = resources["registry"].champion(spec.name)
            echo(f"5. the feedback sensor requested a retrain (trigger {trigger}); champion now v{after.version}")
            _wait(lambda: traffic.versions.get(after.version, 0) >= 50, 60, f"answers from v{after.version}")
            stop.set()
            client.join(timeout=30)
        notifier.tick()
    frame = traffic.frame()
    auc = {
        v: float(roc_auc_score(g["churned"], g["answer"]))
        for v, g in frame.groupby("version")
        if g["churned"].nunique() == 2
    }
    result = LiveDemoResult(
        home=str(home),
        champion_before=before.version,
        champion_after=after.version,
        requests=sum(traffic.versions.values()) + traffic.failed,
        failed_requests=traffic.failed,
        answered_by=dict(sorted(traffic.versions.items())),
        live_auc_by_version={v: round(a, 4) for v, a in sorted(auc.items())},
        live_check=live_check,
        retrain_trigger=trigger,
        alerts=[a.splitlines()[0] for a in alerts],
        seconds=round(time.perf_counter() - started, 1),
    )
    echo(
        f"6. {result.requests} requests, {result.failed_requests} failed; answered by "
        f"{', '.join(f'v{v}: {n}' for v, n in result.answered_by.items())}; live ROC AUC by version "
        f"{', '.join(f'v{v} {a:.3f}' for v, a in result.live_auc_by_version.items())}"
    )
    echo(f"7. alerts delivered to the local webhook ({len(result.alerts)}):")
    for alert in result.alerts:
        echo(f"   {alert}")
    return result


class _SensorTicker:
    """Ticks one sensor of the replay's definitions, keeping its cursor, and executes what it requests."""

    def __init__(self, replay: Replay, name: str, resources: dict):
        self.replay, self.name, self.resources, self.cursor = replay, name, resources, None

    def tick(self) -> list:
        sensor = self.replay.defs.resolve_sensor_def(self.name)
        context = build_sensor_context(instance=self.replay.instance, cursor=self.cursor, resources=self.resources)
        result = sensor(context)
        self.cursor = getattr(result, "cursor", None) or context.cursor
        runs = []
        for request in getattr(result, "run_requests", None) or []:
            job = self.replay.defs.resolve_job_def(request.job_name)
            runs.append(
                job.execute_in_process(
                    instance=self.replay.instance,
                    partition_key=request.partition_key,
                    tags=request.tags,
                    raise_on_error=False,
                    run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
                )
            )
        return runs


def _latest_live_check(instance: DagsterInstance, spec) -> str:
    check = ModelKeys(spec.name).live_performance_check
    records = instance.event_log_storage.get_asset_check_execution_history(check, limit=1)
    if not records or records[0].evaluation is None:
        return "not evaluated"
    evaluation = records[0].evaluation
    return ("passed: " if evaluation.passed else "FAILED: ") + (evaluation.description or "")


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.1)
