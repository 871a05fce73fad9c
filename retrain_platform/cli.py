"""The ``retrain`` command: validate specs, run the demo, inspect and roll back models, serve champions."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from retrain_platform.settings import ensure_dagster_home, retrain_home, spec_paths


def _validate_spec(args) -> int:
    """Load each spec and (unless ``--no-fit``) fit its estimator on synthetic rows, reporting every problem."""
    from retrain_platform.spec import SpecError, load_spec
    from retrain_platform.spec.estimator import EstimatorError, smoke_fit
    from retrain_platform.spec.loader import spec_files

    failed, seen, loaded = 0, {}, []
    for path in spec_files(args.paths):
        try:
            spec = load_spec(path)
            if args.fit:
                # Only here, not when definitions load: a fit per spec is too slow for start-up with many specs.
                try:
                    smoke_fit(spec)
                except EstimatorError as err:
                    raise SpecError(Path(path), [str(err)]) from None
            if spec.name in seen:
                raise SpecError(
                    path, [f"name: model {spec.name!r} is already defined in {seen[spec.name]}; rename one"]
                )
            seen[spec.name] = path
            loaded.append(spec)
        except SpecError as err:
            print(err, file=sys.stderr)
            failed += 1
        else:
            print(f"{path}: ok (model {spec.name!r}, {spec.task}, {len(spec.features)} features)")
    if not seen and not failed:
        print("no spec files found (a folder's defaults.yaml is not a spec)", file=sys.stderr)
        return 1
    if not failed:
        failed += not _pools_agree(loaded)
    return 1 if failed else 0


def _pools_agree(specs) -> bool:
    """Whether the specs' compute sections agree on every shared pool's limit (printing why not)."""
    from retrain_platform.orchestration.compute import pool_limits

    try:
        pool_limits(specs)
    except ValueError as err:
        print(f"compute: {err}", file=sys.stderr)
        return False
    return True


def _instance():
    from dagster import DagsterInstance

    ensure_dagster_home()
    return DagsterInstance.get()


DEMO_MARKER = ".retrain-demo"


def _prepare_demo_home(home: Path, reset: bool) -> str | None:
    """Make ``home`` (and the lake, when ``RETRAIN_LAKE`` puts it elsewhere) ready for a replay; returns why it
    cannot be used, or None.

    A replay must start without platform data (it lands its own history). A home holding only a Dagster
    instance (``make ui`` run first, say) is fine. ``--reset`` only ever deletes a home, or a remote lake prefix,
    that a previous demo created (it carries a marker file), never one holding real models.
    """
    from retrain_platform.settings import lake_root
    from retrain_platform.storage.lake import atomic_write, is_remote, lake_path, list_folder

    lake = lake_path(lake_root(home))
    places = [(home, ("landing", "lake", "mlflow", "reports"))]
    if lake != home:
        places = [(home, ("mlflow",)), (lake, ("landing", "lake", "reports"))]
    held = [(root, [d for d in folders if list_folder(root / d)]) for root, folders in places]
    for root, data in held:
        if not data:
            continue
        if not (root / DEMO_MARKER).exists():
            return (
                f"{root} already holds platform data the demo did not create ({', '.join(data)}); "
                "set RETRAIN_HOME (and RETRAIN_LAKE, if set) to another place for the demo"
            )
        if not reset:
            return f"{root} holds a previous demo; pass --reset to replay from scratch (make demo does)"
    if reset:
        for root, data in held:
            if data and is_remote(root):
                root.fs.rm(root.path, recursive=True)
            elif data:
                shutil.rmtree(root)
    note = b"created by `retrain demo`; `retrain demo --reset` may delete this folder\n"
    for root, _ in places:
        if not is_remote(root):
            root.mkdir(parents=True, exist_ok=True)
        atomic_write(root / DEMO_MARKER, lambda handle: handle.write(note))
    return None


def _demo(args) -> int:
    from retrain_platform.demo.replay import format_timeline, run_demo, write_json

    started = time.perf_counter()
    home = retrain_home()
    if problem := _prepare_demo_home(home, args.reset):
        print(f"demo refused: {problem}", file=sys.stderr)
        return 1
    result = run_demo(home, _instance(), days=args.days, seed=args.seed)
    print(format_timeline(result))
    if args.json:
        write_json(result, Path(args.json))
        print(f"\ntimeline written to {args.json}")
    print(f"\ndemo finished in {time.perf_counter() - started:.1f} s; state in {home} (see it with: make ui)")
    return 0


def _demo_live(args) -> int:
    from retrain_platform.demo.live import run_live_demo

    home = retrain_home()
    if problem := _prepare_demo_home(home, args.reset):
        print(f"demo refused: {problem}", file=sys.stderr)
        return 1
    result = run_live_demo(home, _instance(), seed=args.seed)
    if args.json:
        Path(args.json).write_text(json.dumps(result.to_json(), indent=2))
        print(f"\nresult written to {args.json}")
    print(f"\nlive demo finished in {result.seconds:.1f} s; state in {home} (see it with: make ui)")
    return 0 if result.failed_requests == 0 and result.champion_after != result.champion_before else 1


def _schedules(text: str) -> list[int | None]:
    """``never,30,7,1`` → ``[None, 30, 7, 1]``: the fixed schedules a backtest compares with."""
    schedules = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        if item == "never":
            schedules.append(None)
        elif item.isdigit() and int(item) > 0:
            schedules.append(int(item))
        else:
            raise argparse.ArgumentTypeError(f"{item!r} is not a schedule; use 'never' or a number of days, e.g. 7")
    return schedules


def _date(text: str):
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write YYYY-MM-DD") from None


def _backtest(args) -> int:
    from retrain_platform.backtest import BacktestInputError, format_table, run_backtest, write_json, write_plot
    from retrain_platform.spec import SpecError, load_spec

    started = time.perf_counter()
    try:
        spec = load_spec(args.spec)
    except SpecError as err:
        print(err, file=sys.stderr)
        return 1
    try:
        result = run_backtest(spec, args.data, start=args.start, end=args.end, schedules=args.schedules, home=args.home)
    except BacktestInputError as err:
        print(f"backtest refused: {err}", file=sys.stderr)
        return 1
    print(format_table(result))
    if args.json:
        write_json(result, Path(args.json))
        print(f"results written to {args.json}")
    if args.plot:
        write_plot(result, Path(args.plot))
        print(f"plot written to {args.plot}")
    print(f"backtest finished in {time.perf_counter() - started:.1f} s")
    return 0


def _specs_by_name(build: bool = True):
    from retrain_platform.spec import load_specs

    return {spec.name: spec for spec in load_specs(spec_paths(), build=build)}


def _service_errors() -> tuple[type[Exception], ...]:
    from retrain_platform.registry import PromotionBusy, RegistryUnavailable

    return (RegistryUnavailable, PromotionBusy)


def _status(args) -> int:
    from retrain_platform.resources import resolved_resources
    from retrain_platform.status import format_table, status_board

    specs = _specs_by_name(build=False)  # status reads no estimator: scikit-learn stays unimported
    unknown = [name for name in args.models if name not in specs]
    if unknown:
        print(f"unknown model(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(specs))}", file=sys.stderr)
        return 2
    chosen = [specs[name] for name in (args.models or sorted(specs))]
    registry = resolved_resources()["registry"]
    if problem := registry.moved_home_problem():
        print(f"warning: {problem}", file=sys.stderr)
    from sqlalchemy.exc import OperationalError  # already loaded by dagster's storage

    try:
        rows = status_board(chosen, registry, _instance())
    except (*_service_errors(), OperationalError) as err:
        # The Dagster instance's database did not answer: no row can be filled in.
        print(f"status unavailable: {err}", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps([row.to_json() for row in rows], indent=2))
    else:
        print(format_table(rows, width=shutil.get_terminal_size((120, 24)).columns))
    # A row per model is shown whatever failed (the Dagster facts still are); when the registry failed for every
    # model, one line on stderr says why and the exit code says nothing could be read from it.
    if rows and all(row.error for row in rows):
        print(f"status unavailable: {rows[0].error}", file=sys.stderr)
        return 3
    return 0


def _pools(args) -> int:
    from retrain_platform.orchestration.compute import apply_pool_limits, pool_limits

    specs = list(_specs_by_name().values())
    if not _pools_agree(specs):
        return 2
    limits = pool_limits(specs)
    if not args.apply:
        for limit in limits:
            shown = "instance default" if limit.limit is None else limit.limit
            print(f"{limit.pool}: {shown} ({', '.join(limit.models)})")
        return 0
    for limit, before in apply_pool_limits(_instance(), limits):
        if limit.limit is None:
            print(f"{limit.pool}: left at the instance default ({', '.join(limit.models)})")
        else:
            was = "the instance default" if before is None else before
            change = "unchanged" if before == limit.limit else f"set (was {was})"
            print(f"{limit.pool}: {limit.limit} {change} ({', '.join(limit.models)})")
    return 0


def _relocate_home(args) -> int:
    from retrain_platform.registry.relocation import RelocationRefused, relocate_home, store_path
    from retrain_platform.settings import TRACKING_URI_ENV

    home, tracking_uri = retrain_home(), os.environ.get(TRACKING_URI_ENV)
    try:
        store = store_path(home, tracking_uri)
        done = relocate_home(home, args.old, dry_run=args.dry_run, tracking_uri=tracking_uri)
    except RelocationRefused as err:
        print(f"relocate-home refused: {err}", file=sys.stderr)
        return 1
    if not done.total:
        print(f"{store}: every artifact location is already under {done.new}; nothing to change")
        return 0
    verb = "would rewrite" if args.dry_run else "rewrote"
    print(f"{store}: {verb} {done.total} artifact locations from {done.old} to {done.new}")
    for column, count in done.changed.items():
        print(f"  {column}: {count}")
    if done.backup:
        print(f"backup of the store before the change: {done.backup}")
    if done.missing:
        print(
            f"warning: nothing at {len(done.missing)} of the new locations (e.g. {done.missing[0]}); copy the old "
            "home's mlflow/artifacts folder here too",
            file=sys.stderr,
        )
    return 0


def _rollback(args) -> int:
    from retrain_platform.operations import rollback
    from retrain_platform.resources import resolved_resources

    specs = _specs_by_name()
    if args.model not in specs:
        print(f"unknown model {args.model!r}; known: {', '.join(sorted(specs))}", file=sys.stderr)
        return 2
    resources = resolved_resources()
    try:
        version = rollback(
            specs[args.model],
            resources["registry"],
            resources["lake"],
            _instance(),
            to_version=args.to,
            reason=args.reason,
            who=args.who,
        )
    except ValueError as err:
        print(f"rollback refused: {err}", file=sys.stderr)
        return 1
    except _service_errors() as err:
        print(f"rollback not done, the champion is unchanged: {err}", file=sys.stderr)
        return 3
    print(f"{args.model}: champion is now v{version}")
    return 0


def _serve(args) -> int:
    from pydantic import ValidationError

    from retrain_platform.resources import resolved_resources
    from retrain_platform.serving import ServeConfig, serve

    specs = _specs_by_name()
    unknown = [name for name in args.models if name not in specs]
    if unknown:
        print(f"unknown model(s) {unknown}; known: {', '.join(sorted(specs))} (RETRAIN_SPECS)", file=sys.stderr)
        return 2
    chosen = {name: specs[name] for name in (args.models or sorted(specs))}
    try:
        config = ServeConfig(
            host=args.host,
            port=args.port,
            poll_seconds=args.poll_seconds,
            max_batch_rows=args.max_batch_rows,
            log_flush_rows=args.log_flush_rows,
            log_flush_seconds=args.log_flush_seconds,
            log_capacity_rows=args.log_capacity_rows,
            access_log=args.access_log,
            reports=args.reports,
            shadow=args.shadow,
        )
    except ValidationError as err:
        for problem in err.errors():
            field = "--" + "-".join(str(part) for part in problem["loc"]).replace("_", "-")
            message = problem["msg"].removeprefix("Value error, ")
            print(f"serve refused: {field if problem['loc'] else 'options'}: {message}", file=sys.stderr)
        return 1
    resources = resolved_resources()
    serve(chosen, resources["registry"], resources["lake"], config)
    return 0


def _serve_defaults():
    # Imported here, not at the top: the serving package pulls in FastAPI, which other commands do not need.
    from retrain_platform.serving.config import ServeConfig

    return ServeConfig()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``retrain`` (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(prog="retrain", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser(
        "validate-spec", help="check model spec files or folders (a folder's defaults.yaml is merged under each spec)"
    )
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument(
        "--no-fit",
        dest="fit",
        action="store_false",
        help="skip fitting each estimator on synthetic rows shaped like its spec",
    )
    p.set_defaults(func=_validate_spec)

    p = commands.add_parser("demo", help="replay both example models through the real automation")
    p.add_argument("--days", type=int, default=60, help="days to replay (default 60)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH", help="also write the timeline as JSON")
    p.add_argument("--reset", action="store_true", help="delete a previous demo's home first")
    p.set_defaults(func=_demo)

    p = commands.add_parser(
        "demo-live",
        help="serve the churn champion, bring labels back, and watch the live trigger retrain and swap it",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH", help="also write the result as JSON")
    p.add_argument("--reset", action="store_true", help="delete a previous demo's home first")
    p.set_defaults(func=_demo_live)

    p = commands.add_parser(
        "backtest", help="replay a folder of daily files through the platform and compare with fixed schedules"
    )
    p.add_argument("spec", type=Path, help="the model spec (its landing section is ignored)")
    p.add_argument("data", type=Path, help="a folder of daily files named YYYY-MM-DD.parquet (or .csv)")
    p.add_argument("--start", type=_date, help="first day to replay (default: the first file)")
    p.add_argument("--end", type=_date, help="last day to replay (default: the last file)")
    p.add_argument("--json", metavar="PATH", help="write per-day results and the comparison as JSON")
    p.add_argument("--plot", metavar="PATH", help="write a PNG of the metric and the retrain days over time")
    p.add_argument(
        "--schedules",
        type=_schedules,
        default=[None, 30, 7, 1],
        help="fixed schedules to compare with, in days (default: never,30,7,1)",
    )
    p.add_argument("--home", type=Path, help="keep the replay's state here (default: a temporary folder, deleted)")
    p.set_defaults(func=_backtest)

    p = commands.add_parser(
        "status",
        help="one row per model: champion, holdout and live metric, age, newest valid day, drift, last decision, "
        "failing checks, quarantined days, progress to the volume trigger, last failed run",
    )
    p.add_argument("models", nargs="*", metavar="MODEL", help="models to show (default: every spec)")
    p.add_argument("--json", action="store_true", help="print a JSON list of objects instead of the table")
    p.set_defaults(func=_status)

    p = commands.add_parser("rollback", help="move the champion alias back")
    p.add_argument("model")
    p.add_argument("--to", metavar="VERSION", help="version to restore (default: the previous champion)")
    p.add_argument("--reason", default="manual rollback")
    p.add_argument("--who", help="who asked for it (default: the current user)")
    p.set_defaults(func=_rollback)

    p = commands.add_parser(
        "pools", help="the Dagster pools the specs use (training, gate) and their limits; --apply writes them"
    )
    p.add_argument("--apply", action="store_true", help="set each pool's limit in the Dagster instance (DAGSTER_HOME)")
    p.set_defaults(func=_pools)

    p = commands.add_parser(
        "relocate-home",
        help="after moving or restoring RETRAIN_HOME, point its MLflow store's artifact locations at the new place",
    )
    p.add_argument(
        "--from",
        dest="old",
        metavar="OLD_HOME",
        help="the home's old folder (or its artifact root URI); needed only when the store points at several",
    )
    p.add_argument("--dry-run", action="store_true", help="say what would change and change nothing")
    p.set_defaults(func=_relocate_home)

    p = commands.add_parser(
        "serve", help="answer predictions over HTTP with each model's champion, following the alias as it moves"
    )
    p.add_argument("models", nargs="*", metavar="MODEL", help="models to serve (default: every spec)")
    # The defaults are ServeConfig's own, so the options and the typed settings cannot drift apart.
    defaults = _serve_defaults()
    p.add_argument(
        "--host", default=defaults.host, help="address to listen on (default %(default)s: this machine only)"
    )
    p.add_argument("--port", type=int, default=defaults.port, help="port to listen on (default %(default)s)")
    p.add_argument(
        "--poll-seconds",
        type=float,
        default=defaults.poll_seconds,
        help="how often the champion alias is read (default %(default)s)",
    )
    p.add_argument(
        "--max-batch-rows",
        type=int,
        default=defaults.max_batch_rows,
        help="most rows answered by one model call when concurrent requests are batched (default %(default)s)",
    )
    p.add_argument(
        "--shadow",
        action="store_true",
        default=defaults.shadow,
        help="also score each model's waiting challenger in shadow (logged beside the champion's answer, never "
        "returned)",
    )
    p.add_argument(
        "--log-flush-rows",
        type=int,
        default=defaults.log_flush_rows,
        help="write the prediction log once this many rows wait (default %(default)s)",
    )
    p.add_argument(
        "--log-flush-seconds",
        type=float,
        default=defaults.log_flush_seconds,
        help="...or once this many seconds have passed (default %(default)s)",
    )
    p.add_argument(
        "--log-capacity-rows",
        type=int,
        default=defaults.log_capacity_rows,
        help="rows the prediction log buffers before it drops (and counts) new ones (default %(default)s)",
    )
    p.add_argument("--access-log", action="store_true", help="log every request (costs throughput)")
    p.add_argument(
        "--reports",
        action=argparse.BooleanOptionalAction,
        default=defaults.reports,
        help="serve the lake's drift reports under /reports/MODEL/drift (default: only when --host is loopback)",
    )
    p.set_defaults(func=_serve)
    return parser


def _quiet_libraries() -> None:
    """Keep the command's output to what it reports: libraries' beta/preview notices are for developers."""
    import logging
    import warnings

    from dagster import BetaWarning, PreviewWarning

    for category in (BetaWarning, PreviewWarning, FutureWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", category=category)
    # MLflow configures its own loggers on import from this variable, so setting a level afterwards is lost.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    # A progress bar per downloaded artifact would interleave with the tables the commands print.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("alembic").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``retrain`` console script."""
    args = build_parser().parse_args(argv)
    _quiet_libraries()
    try:
        return args.func(args)
    except KeyboardInterrupt as err:
        # 128 + SIGINT, the shell's convention, so scripts can tell "stopped" from "failed".
        print(f"stopped: {err}" if str(err) else "stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
