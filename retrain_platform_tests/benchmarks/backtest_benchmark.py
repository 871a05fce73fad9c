"""Benchmark: seconds per replayed day of ``retrain backtest``'s policy replay, per instance configuration.

Run ``python -m retrain_platform_tests.benchmarks.backtest_benchmark [--dataset flights] [--days 60]
[--min-partitions 2] [--configs dagster,held] [--json PATH]``.

The dataset's first ``--days`` days are written with :mod:`retrain_platform_tests.benchmarks.backtest_data` and
replayed through the platform once per configuration with
:func:`~retrain_platform.backtest.policy.replay_policy` (the policy part of ``retrain backtest``: sensors, ingest,
automation, monitoring, training and the gate; the fixed-schedule baselines are not timed):

* ``dagster``: Dagster's own ``DagsterInstance.ephemeral()``, which the backtest used before;
* ``held``: :func:`~retrain_platform.orchestration.ephemeral.ephemeral_instance`, the backtest's instance.

Days are split into idle days (nothing was trained) and training days (a candidate was trained and gated);
each kind is reported as the median wall and CPU seconds per day. The first day is left out (imports and the
MLflow store's creation happen then). Other load on the machine moves both, CPU time less: read the ratios of
configurations run back to back. The "same" column says whether a configuration decided exactly what the first
one did on every day (champion version, retrain, decision); a speed-up that changes a decision is a bug.

``--min-partitions`` overrides the spec's ``training.min_partitions`` (default 2). With the shipped flights
spec's 1, the first model's volume trigger already fails at the replay's first automation evaluation, which
Dagster's ``since_last_handled`` treats as handled: the first model is never trained and every day is idle
without a champion, the cheapest kind of day. With 2 the first model is trained on day 2 and later days are
scored by a champion, as in a deployment.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from dagster import DagsterInstance

from retrain_platform.backtest import daily_files
from retrain_platform.backtest.policy import replay_policy
from retrain_platform.orchestration.ephemeral import ephemeral_instance
from retrain_platform.spec import load_spec
from retrain_platform.spec.model_spec import ModelSpec
from retrain_platform_tests.benchmarks import backtest_data

CONFIGS: dict[str, Callable[[str], DagsterInstance]] = {
    "dagster": lambda tempdir: DagsterInstance.ephemeral(tempdir=tempdir),
    "held": ephemeral_instance,
}


@dataclass
class Measurement:
    """One configuration's replay: per-day seconds and what it decided."""

    config: str
    idle_wall: list[float]
    idle_cpu: list[float]
    training_wall: list[float]
    training_cpu: list[float]
    total_s: float
    decisions: list[tuple]


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def measure(config: str, spec: ModelSpec, data: Path) -> Measurement:
    """Replay ``data`` under ``spec`` on ``config``'s instance in a throwaway home; per-day seconds and decisions."""
    files = daily_files(data)
    measurement = Measurement(config, [], [], [], [], 0.0, [])
    cpu_at = [time.process_time()]

    def on_day(row, seconds: float) -> None:
        cpu = time.process_time() - cpu_at[0]
        cpu_at[0] = time.process_time()
        if row.day == files[0].day.isoformat():
            return  # imports and the MLflow store's creation
        trained = row.candidate_version is not None
        (measurement.training_wall if trained else measurement.idle_wall).append(seconds)
        (measurement.training_cpu if trained else measurement.idle_cpu).append(cpu)

    with tempfile.TemporaryDirectory(prefix=f"backtest-benchmark-{config}-") as home:
        started = time.perf_counter()
        cpu_at[0] = time.process_time()
        result, _ = replay_policy(
            spec,
            files,
            Path(home),
            echo=lambda _: None,
            instance=CONFIGS[config](str(Path(home) / "dagster")),
            on_day=on_day,
        )
        measurement.total_s = time.perf_counter() - started
    measurement.decisions = [(d.day, d.champion_version, d.retrained, d.decision) for d in result.days]
    return measurement


HEADER = (
    f"{'config':<8} | {'idle days':>9} {'wall s/day':>10} {'cpu s/day':>9} | {'training days':>13} "
    f"{'wall s/day':>10} {'cpu s/day':>9} | {'total s':>7} | {'idle ratio':>10} | same"
)


def format_row(m: Measurement, first: Measurement) -> str:
    """One table line; the ratio is the first configuration's idle CPU s/day over this one's."""

    def optional(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    ratio = None
    if _median(m.idle_cpu) and _median(first.idle_cpu):
        ratio = _median(first.idle_cpu) / _median(m.idle_cpu)
    return (
        f"{m.config:<8} | {len(m.idle_wall):>9} {optional(_median(m.idle_wall)):>10} "
        f"{optional(_median(m.idle_cpu)):>9} | {len(m.training_wall):>13} {optional(_median(m.training_wall)):>10} "
        f"{optional(_median(m.training_cpu)):>9} | {m.total_s:>7.1f} | "
        f"{'-' if ratio is None else f'{ratio:.2f}x':>10} | {'yes' if m.decisions == first.decisions else 'NO'}"
    )


def parse_configs(text: str) -> list[str]:
    """``"dagster,held"`` -> ``["dagster", "held"]``."""
    configs = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(configs) - set(CONFIGS))
    if not configs or unknown:
        raise argparse.ArgumentTypeError(f"--configs takes some of {', '.join(CONFIGS)}; got {text!r}")
    return configs


def main(argv: list[str] | None = None) -> None:
    """Write the dataset, replay it under every configuration and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=sorted(backtest_data.DATASETS), default="flights")
    parser.add_argument("--days", type=int, default=60, help="days to replay (default 60)")
    parser.add_argument("--min-partitions", type=int, default=2, help="training.min_partitions (default 2)")
    parser.add_argument("--configs", type=parse_configs, default=list(CONFIGS), help="comma-separated")
    parser.add_argument("--json", type=Path, help="also write every per-day measurement as JSON")
    args = parser.parse_args(argv)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # as the CLI: no bars in the table

    with tempfile.TemporaryDirectory(prefix="backtest-benchmark-data-") as out:
        target = backtest_data.write_dataset(args.dataset, Path(out), days=args.days)
        spec = load_spec(target / "spec.yaml")
        spec = spec.model_copy(
            update={"training": spec.training.model_copy(update={"min_partitions": args.min_partitions})}
        )
        print(f"{args.dataset}: {args.days} days, training.min_partitions {args.min_partitions}", flush=True)
        print(HEADER, flush=True)
        results: list[Measurement] = []
        for config in args.configs:
            results.append(measure(config, spec, target / "days"))
            print(format_row(results[-1], results[0]), flush=True)
    if args.json:
        args.json.write_text(json.dumps([asdict(m) for m in results], indent=1))


if __name__ == "__main__":
    main()
