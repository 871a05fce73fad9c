"""``retrain_notifications``: one sensor that tells people what the loop did, with a retrying outbox per channel.

Each tick reads the events since its cursor (:func:`~retrain_platform.notify.events.collect`), routes each to the
``notifications`` section of its model's spec (else the instance default, ``RETRAIN_NOTIFICATIONS``), keeps the
kinds the section asks for, and appends them to each of its channels' outboxes, which live in the cursor. Each
outbox is then sent in order; a channel that fails keeps the rest of its outbox for the next tick, so a receiver
that is down loses nothing (up to :data:`OUTBOX_LIMIT` waiting messages, after which the oldest are dropped and
counted) and one broken channel never holds back another. The tick itself does not fail for a delivery error: it
says what is waiting and why in its skip reason, visible in the UI.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict

from dagster import DefaultSensorStatus, SensorDefinition, SensorEvaluationContext, SkipReason, sensor

from retrain_platform.ingest.sensor import sensor_interval
from retrain_platform.notify.channels import Channel, DeliveryError, channels_of
from retrain_platform.notify.events import Notification, Position, collect
from retrain_platform.settings import ui_url
from retrain_platform.spec.model_spec import ModelSpec
from retrain_platform.spec.notifications import NotificationsSpec

NOTIFICATIONS_SENSOR = "retrain_notifications"
# Waiting messages kept per channel while it is down; the cursor holds them, so it stays bounded.
OUTBOX_LIMIT = 100


def _sections(note: Notification, specs: dict[str, ModelSpec], default: NotificationsSpec | None):
    if note.model is not None and note.model in specs:
        section = specs[note.model].notifications or default
        return [section] if section is not None else []
    if default is not None:
        return [default]
    # A platform-wide event with no instance default goes to every model's section, once each.
    unique = {s.model_dump_json(): s for s in (spec.notifications for spec in specs.values()) if s is not None}
    return list(unique.values())


def _load(cursor: str | None) -> tuple[Position, dict[str, list[dict]], dict[str, int]]:
    if not cursor:
        return Position(), {}, {}
    data = json.loads(cursor)
    return Position(**data["position"]), data.get("outbox", {}), data.get("dropped", {})


def build_notifications_sensor(
    specs: Sequence[ModelSpec], default: NotificationsSpec | None
) -> SensorDefinition | None:
    """The notifications sensor, or None when no spec and no instance default asks for notifications."""
    by_name = {spec.name: spec for spec in specs}
    sections = [s for s in (spec.notifications for spec in specs) if s is not None]
    if default is not None:
        sections.append(default)
    if not sections:
        return None
    channels: dict[str, Channel] = {c.id: c for section in sections for c in channels_of(section)}

    @sensor(
        name=NOTIFICATIONS_SENSOR,
        minimum_interval_seconds=sensor_interval(),
        default_status=DefaultSensorStatus.RUNNING,
        description="Sends quarantines, failed checks, retrains, gate decisions, rollbacks, run failures and "
        "sensor errors to each model's notification channels (webhook, email).",
    )
    def retrain_notifications(context: SensorEvaluationContext):
        """Collect new events, queue them per channel, and send every channel's queue in order."""
        position, outbox, dropped = _load(context.cursor)
        notes = collect(
            context.instance,
            specs,
            position,
            start=context.cursor is None,
            ui=ui_url(),
            own_sensor=NOTIFICATIONS_SENSOR,
        )
        for note in notes:
            for section in _sections(note, by_name, default):
                if note.kind in section.events:
                    for channel in channels_of(section):
                        outbox.setdefault(channel.id, []).append(note.as_dict())
        sent, problems = 0, []
        for channel_id, queue in list(outbox.items()):
            channel = channels.get(channel_id)
            if channel is None:  # the channel was removed from every spec: its queue goes with it
                del outbox[channel_id]
                continue
            while queue:
                try:
                    channel.send(Notification(**queue[0]))
                except DeliveryError as err:
                    problems.append(f"{len(queue)} waiting for {err}")
                    context.log.warning(f"notification not delivered, kept for the next tick: {err}")
                    break
                queue.pop(0)
                sent += 1
            if len(queue) > OUTBOX_LIMIT:
                dropped[channel_id] = dropped.get(channel_id, 0) + len(queue) - OUTBOX_LIMIT
                context.log.error(f"{channel_id}: dropped the oldest {len(queue) - OUTBOX_LIMIT} waiting messages")
                del queue[: len(queue) - OUTBOX_LIMIT]
            if not queue:
                del outbox[channel_id]
        context.update_cursor(json.dumps({"position": asdict(position), "outbox": outbox, "dropped": dropped}))
        summary = f"{len(notes)} new event(s), {sent} message(s) sent"
        return SkipReason("; ".join([summary, *problems]))

    return retrain_notifications
