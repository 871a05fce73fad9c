"""Notifications, end to end: the platform's own runs on a real instance, a real HTTP receiver and SMTP server.

The notifications sensor is evaluated the way the daemon evaluates it (a sensor context on the instance, its
cursor carried from tick to tick); the events it reports are the ones the runs really produced.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from dagster import build_sensor_context
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteInstigatorOrigin, RemoteRepositoryOrigin
from dagster._core.scheduler.instigation import (
    InstigatorState,
    InstigatorStatus,
    InstigatorType,
    TickData,
    TickStatus,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster_shared.error import SerializableErrorInfo
from pydantic import ValidationError

from retrain_platform.failpoints import ENV as FAILPOINTS_ENV
from retrain_platform.ingest.sensor import LANDING_SENSOR_NAME
from retrain_platform.notify.sensor import NOTIFICATIONS_SENSOR
from retrain_platform.spec.notifications import NotificationsSpec, load_default_notifications
from retrain_platform_tests.conftest import START, make_spec
from retrain_platform_tests.notify.receivers import smtp_server, webhook_receiver

HOOK_ENV = "TEST_RETRAIN_WEBHOOK"
BAD_DAY = START + dt.timedelta(days=3)


class Notifier:
    """Ticks the notifications sensor of a platform, keeping its cursor like the daemon does."""

    def __init__(self, platform):
        self.platform = platform
        self.cursor = None

    def tick(self):
        sensor = self.platform.defs.resolve_sensor_def(NOTIFICATIONS_SENSOR)
        context = build_sensor_context(instance=self.platform.instance, cursor=self.cursor)
        result = sensor(context)
        self.cursor = context.cursor
        return result


@pytest.fixture
def receivers(monkeypatch):
    with webhook_receiver() as hook, smtp_server() as mailbox:
        monkeypatch.setenv(HOOK_ENV, hook.url)
        yield hook, mailbox


def notifying_platform(platform_factory, mailbox, **section):
    notifications = {
        "webhook": {"url_env": HOOK_ENV},
        "email": {"to": ["ops@example.com"], "host": "127.0.0.1", "port": mailbox.port},
        **section,
    }
    return platform_factory(make_spec(notifications=notifications))


def quarantine_and_promote(platform):
    """Three good days, one file that is not the spec's, then a retrain whose first model is promoted."""
    platform.land_and_ingest(3)
    platform.land(BAD_DAY, raw=b"income,age\nlots,old\n")
    platform.ingest(BAD_DAY)
    assert platform.retrain().success


def test_a_quarantine_a_retrain_and_a_promotion_reach_the_webhook_and_the_mailbox_once(platform_factory, receivers):
    hook, mailbox = receivers
    platform = notifying_platform(platform_factory, mailbox)
    notifier = Notifier(platform)
    notifier.tick()  # turning notifications on starts from now

    quarantine_and_promote(platform)
    notifier.tick()
    notifier.tick()  # nothing new: nothing is sent twice

    name = platform.spec.name
    kinds = [text.splitlines()[0] for text in hook.texts]
    assert len(kinds) == 3, hook.texts
    assert kinds[0] == f"[{name}] partition {BAD_DAY} quarantined: it does not match the spec"
    assert "missing" in hook.texts[0].lower() or "column" in hook.texts[0].lower()
    assert kinds[1].startswith(f"[{name}] retrain (") and "candidate v1 trained" in kinds[1]
    assert kinds[2] == f"[{name}] v1 promoted to champion (was vnone)"
    assert mailbox.subjects == kinds
    assert all(m["To"] == "ops@example.com" for m in mailbox.messages)


def test_a_receiver_that_is_down_loses_nothing_and_does_not_hold_back_email(platform_factory, receivers):
    hook, mailbox = receivers
    platform = notifying_platform(platform_factory, mailbox)
    notifier = Notifier(platform)
    notifier.tick()
    hook.status = 500

    quarantine_and_promote(platform)
    skipped = notifier.tick()

    assert hook.texts == [] and len(mailbox.messages) == 3
    assert "3 waiting for webhook:TEST_RETRAIN_WEBHOOK: the webhook answered HTTP 500" in skipped.skip_message
    hook.status = 200
    notifier.tick()
    assert [t.splitlines()[0] for t in hook.texts] == mailbox.subjects  # all of them, in order
    assert len(mailbox.messages) == 3


def test_a_failed_retrain_is_reported_with_its_reason(platform_factory, receivers):
    hook, mailbox = receivers
    platform = notifying_platform(platform_factory, mailbox, events=["retrain_failed", "run_failed"])
    notifier = Notifier(platform)
    notifier.tick()

    platform.land_and_ingest(1)  # one day: training.min_partitions is 3
    assert not platform.retrain().success
    notifier.tick()

    [text] = hook.texts
    assert text.startswith(f"[{platform.spec.name}] retrain (") and " failed" in text.splitlines()[0]
    assert "training.min_partitions" in text  # the step's own error: what to fix
    assert "/runs/" in text  # a link to the run in the UI


def test_only_the_events_a_section_asks_for_are_sent(platform_factory, receivers):
    hook, mailbox = receivers
    platform = notifying_platform(platform_factory, mailbox, events=["promoted"])
    notifier = Notifier(platform)
    notifier.tick()

    quarantine_and_promote(platform)
    notifier.tick()

    assert [t.splitlines()[0] for t in hook.texts] == [f"[{platform.spec.name}] v1 promoted to champion (was vnone)"]


def test_a_missing_secret_is_named_and_the_message_waits(platform_factory, receivers, monkeypatch):
    hook, mailbox = receivers
    platform = notifying_platform(platform_factory, mailbox, events=["quarantine"])
    notifier = Notifier(platform)
    notifier.tick()
    monkeypatch.delenv(HOOK_ENV)

    platform.land(BAD_DAY, raw=b"not,the,spec\n")
    platform.ingest(BAD_DAY)
    skipped = notifier.tick()

    assert "the environment variable TEST_RETRAIN_WEBHOOK is not set" in skipped.skip_message
    assert hook.url not in skipped.skip_message  # secrets never reach the UI
    monkeypatch.setenv(HOOK_ENV, hook.url)
    notifier.tick()
    assert len(hook.texts) == 1 and "quarantined" in hook.texts[0]


def failed_tick(instance, sensor_name: str, error: str) -> None:
    """Record a failed tick of ``sensor_name`` as the daemon does when a sensor raises."""
    repository = RemoteRepositoryOrigin(
        InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name="retrain_platform.definitions")), "__repository__"
    )
    state = InstigatorState(
        RemoteInstigatorOrigin(repository, sensor_name), InstigatorType.SENSOR, InstigatorStatus.RUNNING
    )
    instance.add_instigator_state(state)
    instance.create_tick(
        TickData(
            instigator_origin_id=state.instigator_origin_id,
            instigator_name=sensor_name,
            instigator_type=InstigatorType.SENSOR,
            status=TickStatus.FAILURE,
            timestamp=time.time(),
            selector_id=state.selector_id,
            error=SerializableErrorInfo(error, [], "PermissionError"),
        )
    )


def test_a_failed_sensor_tick_is_reported(platform_factory, receivers):
    hook, mailbox = receivers
    platform = notifying_platform(platform_factory, mailbox, events=["sensor_error"])
    notifier = Notifier(platform)
    notifier.tick()

    failed_tick(platform.instance, LANDING_SENSOR_NAME, "PermissionError: landing folder\nmore")
    notifier.tick()
    notifier.tick()

    [text] = hook.texts
    assert f"sensor {LANDING_SENSOR_NAME} failed" in text
    assert "PermissionError: landing folder" in text and "more" not in text


def test_an_unreadable_landing_folder_is_reported_for_its_model_once(platform_factory, receivers, monkeypatch):
    hook, mailbox = receivers
    platform = notifying_platform(platform_factory, mailbox, events=["sensor_error"])
    notifier = Notifier(platform)
    notifier.tick()

    monkeypatch.setenv(FAILPOINTS_ENV, f"landing.scan.{platform.spec.name}=error")
    for _ in range(3):  # the folder stays unreadable for three ticks: one observation, one notification
        platform.tick()
    notifier.tick()
    notifier.tick()

    [text] = hook.texts
    assert text.startswith(f"[{platform.spec.name}] sensor {LANDING_SENSOR_NAME} could not read the landing folder")
    assert "InjectedFault" in text and str(platform.lake.landing_dir(platform.spec)) in text


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"webhook": {"url_env": "https://hooks.slack.com/services/T0/B0/x"}}, "not an environment variable name"),
        ({"email": {"to": []}}, "at least one address"),
        ({"email": {"to": ["ops@example.com"], "username_env": "SMTP_USER"}}, "both username_env and password_env"),
        ({"events": ["promotion"], "webhook": {"url_env": "HOOK"}}, "promoted"),
        ({}, "say where to send"),
    ],
)
def test_a_bad_section_says_what_to_fix(section, message):
    with pytest.raises(ValidationError, match=message):
        NotificationsSpec.model_validate(section)


def test_the_instance_default_names_the_file_and_the_field(tmp_path):
    path = tmp_path / "notifications.yaml"
    path.write_text("notifications:\n  webhook: {url_env: HOOK}\n  events: [everything]\n")

    with pytest.raises(ValueError, match=r"RETRAIN_NOTIFICATIONS=.*notifications\.events\.0"):
        load_default_notifications(path)
    path.write_text("notifications:\n  webhook: {url_env: HOOK}\n")
    assert load_default_notifications(path).webhook.url_env == "HOOK"


def test_turning_notifications_on_does_not_replay_the_history(platform_factory, receivers):
    hook, mailbox = receivers
    platform = notifying_platform(platform_factory, mailbox)
    quarantine_and_promote(platform)
    notifier = Notifier(platform)

    notifier.tick()
    assert hook.texts == [] and mailbox.messages == []
    later = BAD_DAY + dt.timedelta(days=1)
    platform.land(later, raw=b"not,the,spec\n")
    platform.ingest(later)
    notifier.tick()

    assert [t.splitlines()[0] for t in hook.texts] == [
        f"[{platform.spec.name}] partition {later} quarantined: it does not match the spec"
    ]
