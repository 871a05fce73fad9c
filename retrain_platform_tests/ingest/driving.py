"""Driving the landing sensor the way the daemon does: ticks at a chosen time, and runs launched from its requests."""

from __future__ import annotations

from dagster import RunRequest, SensorResult, SkipReason, build_sensor_context

from retrain_platform.ingest.sensor import LandingTarget, build_landing_sensor
from retrain_platform.pipeline import ingest_job_name


def tick_at(platform, now: float):
    """Evaluate the platform's landing sensor as if the clock read ``now`` (cursor kept like ``Platform.tick``)."""
    job = platform.defs.resolve_job_def(ingest_job_name(platform.spec.name))
    sensor = build_landing_sensor([LandingTarget(platform.spec, job, job.partitions_def)], clock=lambda: now)
    context = build_sensor_context(
        instance=platform.instance, cursor=platform.sensor_cursor, resources={"lake": platform.lake}
    )
    result = sensor(context)
    platform.sensor_cursor = getattr(result, "cursor", None) or context.cursor
    return result


def requests(result) -> list[RunRequest]:
    """The run requests of a tick (none for a skip)."""
    if isinstance(result, SkipReason):
        return []
    assert isinstance(result, SensorResult)
    return list(result.run_requests)


def only_request(result) -> RunRequest:
    """The single run request of a tick."""
    (request,) = requests(result)
    return request


def skip_message(result) -> str:
    """The skip reason of a tick that requested nothing."""
    assert isinstance(result, SkipReason), result
    return result.skip_message


def launch(platform, request: RunRequest):
    """Run what the sensor requested, with its tags, the way the daemon would."""
    return platform.ingest(request.partition_key, tags=request.tags)


def ended(platform, run) -> float:
    """When a run ended (seconds since the epoch), as the sensor reads it."""
    return platform.instance.get_run_record_by_id(run.run_id).end_time
