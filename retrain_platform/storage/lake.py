"""The lake: the platform's files, laid out by model, asset and partition.

Assets write their outputs here themselves rather than through an IO manager, because training reads a
*window* of partitions and the drift check reads a reference sketch by model version: both are easier to reason
about as plain paths than as IO-manager inputs. Layout under the root::

    landing/<model>/<YYYY-MM-DD>.<fmt>        files as users drop them (never modified)
    lake/<model>/raw/<YYYY-MM-DD>.<fmt>       unchanged copy of the current landing of a partition
    lake/<model>/raw/superseded/...           earlier landings of the same partition (nothing is lost)
    lake/<model>/features/<YYYY-MM-DD>.parquet  typed, validated partitions (the footer records the raw file's hash)
    lake/<model>/quarantine/<YYYY-MM-DD>.json   why a partition was refused
    lake/<model>/reference/<version>/         the reference sketch of a model version
    lake/<model>/candidates/<version>/holdout.parquet  a candidate's holdout rows and its predictions on them
    lake/<model>/predictions/<YYYY-MM-DD>/part-*.parquet  what the serving process answered (by UTC day)
    reports/<model>/drift/<YYYY-MM-DD>.html   evidently reports (``retrain serve`` serves them, never through a link)

The root is a local folder or any fsspec URL (``s3://bucket/prefix``; universal-pathlib gives it pathlib's
interface). The guarantees are the same on both, kept by different means: on disk a file is written under a
dot-name and renamed over its target, and opened without following a symbolic link; on an object store a file is
one PUT, which readers see whole or not at all, and an object store has no links to follow. Listings of an object
store are read fresh each time (fsspec caches them per process, and other processes write). Files that are only a
local cache of something kept elsewhere (reference sketches, also logged to MLflow) go to ``scratch`` when the
root is remote.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import io
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dagster import ConfigurableResource
from upath import UPath

from retrain_platform.failpoints import failpoint
from retrain_platform.spec.model_spec import ModelSpec

PARTITION_COLUMN = "_partition"
_REPORT_NAME = re.compile(r"\d{4}-\d{2}-\d{2}\.html")
# Dot-named parts are writes in progress on disk, skipped like anything else not named as a part.
_PART_NAME = re.compile(r"part-[^/]+\.parquet")
# Parquet schema metadata key under which a features file records the SHA-256 of the raw copy it was computed from.
RAW_SHA256_KEY = b"retrain.raw_sha256"


class UnsafeLanding(Exception):
    """A landing the lake refuses to copy: a symbolic link, or not a regular file."""


class UnsafePath(Exception):
    """A lake file the lake refuses to read: reached through a symbolic link, or not a regular file."""


# The column(s) of a stored holdout holding the candidate's own predictions (one per class for probabilities).
HOLDOUT_PREDICTION = "_candidate_prediction"


def is_remote(path: Path | UPath) -> bool:
    """Whether ``path`` is on an fsspec filesystem other than the local disk (pathlib paths are local)."""
    return not isinstance(path, Path)


def lake_path(location: str) -> Path | UPath:
    """A local path, or a universal-pathlib path for a URL (``s3://...``); ``file://`` URLs are local paths."""
    if "://" not in location:
        return Path(location)
    path = UPath(location)
    return Path(path.path) if path.protocol in ("file", "local") else path


def list_folder(folder: Path | UPath) -> list[Path | UPath]:
    """What a folder holds now (nothing when there is no folder); an object store's listing is read afresh."""
    if is_remote(folder):
        folder.fs.invalidate_cache(folder.path)
    return list(folder.iterdir()) if folder.is_dir() else []


def lexists(path: Path | UPath) -> bool:
    """Whether anything is at ``path``, a dangling symbolic link included."""
    return path.exists() if is_remote(path) else os.path.lexists(path)


def _is_day(name: str) -> bool:
    try:
        dt.date.fromisoformat(name)
    except ValueError:
        return False
    return len(name) == 10


def _sha256_of(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: Path | UPath) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks so large landings do not load into memory."""
    with path.open("rb") as handle:
        return _sha256_of(handle)


@contextmanager
def _staged(path: Path) -> Iterator[Path]:
    # A temporary name beside the target, renamed over it by the caller, so a crash never leaves a half-written
    # file a reader could load; whatever is left at the name on the way out (an error, or nothing to replace)
    # is removed.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: Path | UPath, write: Callable[[BinaryIO], object]) -> None:
    """Write ``path`` through ``write(handle)`` so that no reader ever sees part of it, nor a failed write."""
    if is_remote(path):
        # Buffered, then one PUT: fsspec's writable files upload what they hold when closed, even when the
        # writer failed, so streaming into one would publish half a file.
        buffer = io.BytesIO()
        write(buffer)
        path.fs.pipe_file(path.path, buffer.getvalue())
        return
    with _staged(path) as tmp:
        # Through a file we close ourselves: given a path, pyarrow keeps the file open when a write fails (ENOSPC)
        # for as long as the exception is referenced, so the deleted temporary would go on holding the space.
        with tmp.open("wb") as handle:
            write(handle)
        os.replace(tmp, path)


def write_frame(path: Path | UPath, frame: pd.DataFrame, fmt: str) -> None:
    """Write ``frame`` as a ``csv`` or ``parquet`` file at ``path``, atomically (see :func:`atomic_write`)."""
    if fmt == "csv":
        atomic_write(path, lambda handle: frame.to_csv(handle, index=False))
    else:
        atomic_write(path, lambda handle: frame.to_parquet(handle, index=False))


def _read_parquet(path: Path | UPath, columns: list[str] | None = None) -> pd.DataFrame:
    if not is_remote(path):
        return pd.read_parquet(path, columns=columns)
    with path.open("rb") as handle:
        return pd.read_parquet(handle, columns=columns)


def _parquet_footer(path: Path | UPath, read: Callable):
    """``read`` (``pq.read_schema`` or ``pq.read_metadata``) of a Parquet file, local or remote."""
    if not is_remote(path):
        return read(path)
    with path.open("rb") as handle:
        return read(handle)


def _open_landing(source: Path | UPath) -> BinaryIO:
    """Open a landed file for reading without following a symbolic link; refuse anything but a regular file.

    Checking first and opening after would leave a window in which the file can be swapped for a link (to
    /etc/passwd, or to another model's lake); the checks are made on the open file instead. ``O_NONBLOCK`` keeps
    a named pipe from blocking the open until someone writes to it. An object store has neither links nor
    special files: a "folder" (a prefix) is the only thing there that is not an object.
    """
    if is_remote(source):
        if source.is_dir():
            raise UnsafeLanding(f"{source} is a folder; land each day as one object.")
        return source.open("rb")
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise UnsafeLanding(
                f"{source} is a symbolic link; the lake never copies through a link. "
                "Land the file itself (copy it into the landing folder under a dot-name, then rename it)."
            ) from err
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafeLanding(f"{source} is not a regular file; land each day as one regular file.")
    return os.fdopen(fd, "rb")


def _plain_parts(parts: tuple[str, ...]) -> tuple[str, ...]:
    for part in parts:
        if part in ("", ".", "..") or "/" in part or "\0" in part or (os.altsep and os.altsep in part):
            raise ValueError(f"{part!r} is not a plain file or folder name; refusing to build a lake path from it")
    return parts


def _open_folders(root: Path, folders: tuple[str, ...]) -> int:
    """A descriptor of ``root/folders...``, each folder opened relative to the last one without following a link.

    Opening component by component closes the window in which a checked folder could be swapped for a link; a
    symbolic link (or a file) where a folder should be is refused (:class:`UnsafePath`). The root itself is the
    operator's choice and may be a link.
    """
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for depth, name in enumerate(_plain_parts(folders)):
            try:
                inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as err:
                if err.errno in (errno.ELOOP, errno.ENOTDIR):
                    where = "/".join(folders[: depth + 1])
                    raise UnsafePath(
                        f"{where} is a symbolic link or not a folder; the lake never reads through one"
                    ) from err
                raise
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_below(root: Path | UPath, parts: tuple[str, ...]) -> BinaryIO:
    """Open the regular file ``root/parts...`` for reading, refusing a symbolic link anywhere below ``root``."""
    if is_remote(root):
        return root.joinpath(*_plain_parts(parts)).open("rb")
    *folders, name = _plain_parts(parts)
    folder = _open_folders(root, tuple(folders))
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise UnsafePath(f"{'/'.join(parts)} is a symbolic link; the lake never reads through one") from err
        raise
    finally:
        os.close(folder)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafePath(f"{'/'.join(parts)} is not a regular file")
    return os.fdopen(fd, "rb")


def _copy_hashing(handle: BinaryIO, target: Path) -> str:
    """Copy an open file to ``target`` (keeping its modification time); the SHA-256 of exactly the bytes copied."""
    digest = hashlib.sha256()
    with target.open("wb") as out:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
            out.write(chunk)
    source = os.fstat(handle.fileno())
    os.utime(target, ns=(source.st_atime_ns, source.st_mtime_ns))
    return digest.hexdigest()


def _features_table(frame: pd.DataFrame, raw_sha256: str) -> pa.Table:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return table.replace_schema_metadata({**(table.schema.metadata or {}), RAW_SHA256_KEY: raw_sha256.encode()})


class Lake(ConfigurableResource):
    """The platform's file store, rooted at ``root`` (``RETRAIN_HOME`` by default)."""

    root: str
    """A local folder or an fsspec URL such as ``s3://bucket/prefix`` (credentials come from the environment, as
    the filesystem's library reads them: ``AWS_*`` variables, ``AWS_ENDPOINT_URL`` for an S3-compatible store)."""
    scratch: str | None = None
    """A local folder for files the lake can rebuild or re-download (reference sketches) when ``root`` is remote;
    a folder in the system's temporary directory when not given."""

    @property
    def root_path(self) -> Path | UPath:
        """The root as a path (a universal-pathlib path for a URL)."""
        return lake_path(self.root)

    @property
    def remote(self) -> bool:
        """Whether the root is on an object store (or any fsspec filesystem but the local disk)."""
        return is_remote(self.root_path)

    def relative(self, path: Path | UPath) -> str:
        """``path`` as recorded in Dagster metadata: relative to the root when below it, so a lake can be moved or
        restored elsewhere; a path outside the root (an absolute landing folder) is kept whole."""
        root = self.root_path
        try:
            return path.relative_to(root).as_posix() if is_remote(path) == is_remote(root) else str(path)
        except ValueError:
            return str(path)

    def landing_dir(self, spec: ModelSpec) -> Path | UPath:
        """Where ``spec``'s files land (the spec's ``landing.path``, relative to the root unless absolute or a URL)."""
        if "://" in spec.landing.path:
            return lake_path(spec.landing.path)
        path = Path(spec.landing.path)
        return path if path.is_absolute() else self.root_path / spec.landing.path

    def land(self, spec: ModelSpec, partition: str, frame: pd.DataFrame) -> Path | UPath:
        """Write a day extracted from a source into the landing folder, atomically, in the landing's format (the
        landing sensor never sees a half-written file: it ignores the dot-named temporary)."""
        path = self.landing_dir(spec) / f"{partition}{spec.landing.suffix}"
        write_frame(path, frame, spec.landing.format)
        return path

    def landed_digest(self, spec: ModelSpec, partition: str, digest) -> str | None:
        """``digest`` of the frame a day's landed file holds, or ``None`` when there is none or it cannot be read
        (the extraction then writes it again)."""
        path = self.landing_dir(spec) / f"{partition}{spec.landing.suffix}"
        if not path.is_file() or path.is_symlink():
            return None
        try:
            with _open_landing(path) as handle:
                frame = pd.read_csv(handle) if spec.landing.format == "csv" else pd.read_parquet(handle)
        except Exception:  # a damaged or foreign file: re-extracting it is the repair
            return None
        return digest(frame)

    def model_dir(self, model: str) -> Path | UPath:
        """The lake folder of one model."""
        return self.root_path / "lake" / model

    def raw_path(self, spec: ModelSpec, partition: str) -> Path | UPath:
        """The lake copy of a partition's current landing."""
        return self.model_dir(spec.name) / "raw" / f"{partition}{spec.landing.suffix}"

    def features_path(self, model: str, partition: str) -> Path | UPath:
        """The validated features of one partition."""
        return self.model_dir(model) / "features" / f"{partition}.parquet"

    def quarantine_path(self, model: str, partition: str) -> Path | UPath:
        """The quarantine record of a refused partition."""
        return self.model_dir(model) / "quarantine" / f"{partition}.json"

    def reference_dir(self, model: str, version: str) -> Path:
        """The reference sketch of one registered model version: a local folder, under ``scratch`` when the root
        is remote (the sketch is also an artifact of the version's MLflow run, recovered from there when missing)."""
        if not self.remote:
            return self.model_dir(model) / "reference" / str(version)
        digest = hashlib.sha256(self.root.encode()).hexdigest()[:12]
        scratch = Path(self.scratch) if self.scratch else Path(tempfile.gettempdir()) / "retrain_platform-lake"
        return scratch / digest / "lake" / model / "reference" / str(version)

    def holdout_path(self, model: str, version: str) -> Path | UPath:
        """Where a candidate's holdout rows (and its predictions on them) are kept for the gate."""
        return self.model_dir(model) / "candidates" / str(version) / "holdout.parquet"

    def write_holdout(self, model: str, version: str, frame: pd.DataFrame, predictions: np.ndarray) -> Path | UPath:
        """Store a candidate's holdout rows with the predictions its validation fit made on them, atomically.

        The predictions travel with the rows because the registered model may be a refit on the whole window
        that has seen these rows: only the validation fit's predictions are an honest score of them.
        """
        values = np.asarray(predictions)
        columns = (
            {HOLDOUT_PREDICTION: values}
            if values.ndim == 1
            else {f"{HOLDOUT_PREDICTION}_{i}": values[:, i] for i in range(values.shape[1])}
        )
        table = pa.Table.from_pandas(frame.assign(**columns), preserve_index=False)
        path = self.holdout_path(model, version)
        atomic_write(path, lambda handle: pq.write_table(table, handle))
        return path

    def read_holdout(self, model: str, version: str) -> tuple[pd.DataFrame, np.ndarray | None]:
        """A candidate's holdout rows and its validation predictions (None for holdouts stored before them)."""
        frame = _read_parquet(self.holdout_path(model, version))
        stored = [c for c in frame.columns if c == HOLDOUT_PREDICTION or c.startswith(HOLDOUT_PREDICTION + "_")]
        if not stored:
            return frame, None
        predictions = frame[stored[0]].to_numpy() if stored == [HOLDOUT_PREDICTION] else frame[stored].to_numpy()
        return frame.drop(columns=stored), predictions

    def predictions_dir(self, model: str, day: str) -> Path | UPath:
        """The folder of one UTC day of ``model``'s prediction log (``retrain serve`` writes ``part-*.parquet``)."""
        return self.model_dir(model) / "predictions" / day

    def write_predictions(self, model: str, day: str, table: pa.Table, part: str) -> Path | UPath:
        """Add one part file to a day of the prediction log, atomically (readers skip the dot-named temporary).

        Parts are never rewritten: a flush adds a file, so a reader sees every flushed record exactly once.
        """
        path = self.predictions_dir(model, day) / f"part-{part}.parquet"
        atomic_write(path, lambda handle: pq.write_table(table, handle))
        return path

    def read_predictions(self, model: str, day: str, columns: list[str] | None = None) -> pd.DataFrame:
        """Every record (``columns`` only, if given) of one day of the prediction log (empty when none).

        Dot-named files are writes still in progress and are skipped, like symbolic links, which the lake never
        reads through.
        """
        frames = [_read_parquet(p, columns=columns) for p in self._prediction_parts(model, day)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def _prediction_parts(self, model: str, day: str) -> list[Path | UPath]:
        found = list_folder(self.predictions_dir(model, day))
        return sorted(p for p in found if _PART_NAME.fullmatch(p.name) and not p.is_symlink())

    def prediction_parts(self, model: str, day: str) -> int:
        """How many part files one day of the prediction log has (each flush adds one)."""
        return len(self._prediction_parts(model, day))

    def prediction_days(self, model: str) -> list[str]:
        """The days with a prediction log, oldest first."""
        found = list_folder(self.model_dir(model) / "predictions")
        return sorted(p.name for p in found if _is_day(p.name) and p.is_dir())

    def feedback_dir(self, spec: ModelSpec) -> Path | UPath:
        """Where ``spec``'s label files land (``feedback.path``, relative to the root unless absolute or a URL)."""
        if "://" in spec.feedback.path:
            return lake_path(spec.feedback.path)
        path = Path(spec.feedback.path)
        return path if path.is_absolute() else self.root_path / spec.feedback.path

    def label_files(self, spec: ModelSpec) -> dict[str, Path | UPath]:
        """The landed label files by arrival day (regular files named ``YYYY-MM-DD<suffix>``; links refused)."""
        suffix = spec.feedback.suffix
        found = {}
        for path in list_folder(self.feedback_dir(spec)):
            day = path.name.removesuffix(suffix)
            if path.name.endswith(suffix) and _is_day(day) and path.is_file() and not path.is_symlink():
                found[day] = path
        return dict(sorted(found.items()))

    def read_labels(self, spec: ModelSpec, path: Path | UPath) -> pd.DataFrame:
        """One label file as a frame, read without following a symbolic link."""
        with _open_landing(path) as handle:
            return pd.read_csv(handle) if spec.feedback.format == "csv" else pd.read_parquet(handle)

    def report_file(self, model: str, partition: str) -> str:
        """Where the evidently drift report of one partition is, relative to the root (a portable name)."""
        return "/".join(_plain_parts(("reports", model, "drift", f"{partition}.html")))

    def report_path(self, model: str, partition: str) -> Path | UPath:
        """The evidently drift report of one partition."""
        return self.root_path / self.report_file(model, partition)

    @contextmanager
    def writing_report(self, model: str, partition: str) -> Iterator[Path]:
        """A local file to write a partition's drift report into; published at its place only once written.

        A failed or interrupted write leaves the previous report (or none), never half a page.
        """
        target = self.report_path(model, partition)
        with tempfile.TemporaryDirectory(prefix="retrain-report-") as folder:
            local = Path(folder) / target.name
            yield local
            atomic_write(target, lambda handle: handle.write(local.read_bytes()))

    def open_report(self, model: str, partition: str) -> BinaryIO:
        """Open a partition's drift report for reading, never through a symbolic link below the root.

        Raises:
            FileNotFoundError: when there is no report.
            UnsafePath: when a folder on the way or the report itself is a symbolic link, or not a regular file
                (a link planted in ``reports/`` cannot make a reader serve a file from elsewhere).
        """
        return _open_below(self.root_path, tuple(self.report_file(model, partition).split("/")))

    def report_partitions(self, model: str) -> list[str]:
        """The partitions with a drift report (regular files named ``<YYYY-MM-DD>.html``), oldest first.

        Raises:
            UnsafePath: as :meth:`open_report`, for a folder on the way.
        """
        if self.remote:
            found = list_folder(self.root_path.joinpath(*_plain_parts(("reports", model, "drift"))))
            return sorted(p.name.removesuffix(".html") for p in found if _REPORT_NAME.fullmatch(p.name) and p.is_file())
        try:
            folder = _open_folders(self.root_path, ("reports", model, "drift"))
        except FileNotFoundError:
            return []
        try:
            with os.scandir(folder) as entries:
                names = [e.name for e in entries if e.is_file(follow_symlinks=False)]
        finally:
            os.close(folder)
        return sorted(n.removesuffix(".html") for n in names if _REPORT_NAME.fullmatch(n))

    def copy_raw(self, spec: ModelSpec, source: Path | UPath, partition: str) -> tuple[Path | UPath, str]:
        """Copy a landed file unchanged into the lake; keep any earlier, different landing. Returns path, sha256.

        The landing is read from one open file that is neither a symbolic link nor anything but a regular file
        (else :class:`UnsafeLanding`), and the hash returned is that of the bytes copied. When the content
        differs from the current raw copy, the partition's features are removed: they describe the old content,
        and if computing the new ones fails, none may remain for training to use under the new raw hash.
        """
        failpoint("lake.copy_raw")
        target = self.raw_path(spec, partition)
        if is_remote(source) or is_remote(target):
            return target, self._copy_raw_remote(spec, source, target, partition)
        with _open_landing(source) as handle, _staged(target) as tmp:
            digest = _copy_hashing(handle, tmp)
            previous = file_sha256(target) if target.exists() else None
            if previous != digest:
                if previous is not None:
                    self._supersede(spec, partition, previous)
                os.replace(tmp, target)
        return target, digest

    def _copy_raw_remote(self, spec: ModelSpec, source: Path | UPath, target: Path | UPath, partition: str) -> str:
        # In memory: a day's landing is one object PUT whole (see atomic_write), and hashing the very bytes
        # uploaded keeps the recorded hash true even if the landing is replaced meanwhile.
        with _open_landing(source) as handle:
            data = handle.read()
        digest = hashlib.sha256(data).hexdigest()
        previous = file_sha256(target) if target.exists() else None
        if previous != digest:
            if previous is not None:
                self._supersede(spec, partition, previous)
            atomic_write(target, lambda out: out.write(data))
        return digest

    def _supersede(self, spec: ModelSpec, partition: str, previous: str) -> None:
        # Features go before the raw copy is replaced: a crash in between leaves no features (recomputed on the
        # next ingest), never old features beside new raw data.
        current = self.raw_path(spec, partition)
        kept = current.parent / "superseded" / f"{partition}.{previous[:12]}{spec.landing.suffix}"
        if is_remote(kept):
            atomic_write(kept, lambda out: out.write(current.read_bytes()))
        else:
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(current, kept)
        self.features_path(spec.name, partition).unlink(missing_ok=True)

    def read_raw(self, spec: ModelSpec, partition: str) -> pd.DataFrame:
        """Read a partition's raw copy in its landing format (errors propagate: the caller reports them)."""
        return self.read_raw_and_hash(spec, partition)[0]

    def read_raw_and_hash(self, spec: ModelSpec, partition: str) -> tuple[pd.DataFrame, str]:
        """Read a partition's raw copy and the SHA-256 of the very bytes read (one open file, so a re-landing
        replacing the copy meanwhile cannot pair one file's rows with another's hash)."""
        with self.raw_path(spec, partition).open("rb") as handle:
            digest = _sha256_of(handle)
            handle.seek(0)
            frame = pd.read_csv(handle) if spec.landing.format == "csv" else pd.read_parquet(handle)
        return frame, digest

    def write_features(self, model: str, partition: str, frame: pd.DataFrame, *, raw_sha256: str) -> Path | UPath:
        """Store a validated partition, recording the SHA-256 of the raw copy it came from; lift any quarantine."""
        failpoint("lake.write_features")
        path = self.features_path(model, partition)
        atomic_write(path, lambda handle: pq.write_table(_features_table(frame, raw_sha256), handle))
        self.quarantine_path(model, partition).unlink(missing_ok=True)
        return path

    def features_raw_sha256(self, model: str, partition: str) -> str | None:
        """The SHA-256 of the raw copy a partition's features were computed from, read from the Parquet footer.

        None when the partition has no features, or when they were written before the hash was recorded.
        Training records this rather than hashing the raw copy, which may already hold a newer landing.
        """
        try:
            metadata = _parquet_footer(self.features_path(model, partition), pq.read_schema).metadata or {}
        except FileNotFoundError:
            return None
        value = metadata.get(RAW_SHA256_KEY)
        return value.decode() if value else None

    def quarantine(self, model: str, partition: str, record: dict) -> Path | UPath:
        """Refuse a partition: drop its features (if an earlier landing had any) and record why."""
        failpoint("lake.quarantine")
        self.features_path(model, partition).unlink(missing_ok=True)
        path = self.quarantine_path(model, partition)
        atomic_write(path, lambda handle: handle.write(json.dumps(record, indent=2, default=str).encode()))
        return path

    def is_quarantined(self, model: str, partition: str) -> bool:
        """Whether a partition's latest landing was refused."""
        return self.quarantine_path(model, partition).exists()

    def feature_partitions(self, model: str) -> list[str]:
        """Every partition with valid features, oldest first."""
        found = list_folder(self.model_dir(model) / "features")
        return sorted(p.stem for p in found if p.suffix == ".parquet" and _is_day(p.stem))

    def feature_rows(self, model: str, partitions: list[str]) -> int:
        """Row count of the given feature partitions, from Parquet footers (no data is read)."""
        return sum(_parquet_footer(self.features_path(model, p), pq.read_metadata).num_rows for p in partitions)

    def read_features(self, model: str, partitions: list[str]) -> pd.DataFrame:
        """Concatenate feature partitions in order, with their partition key in ``_partition``."""
        frames = [_read_parquet(self.features_path(model, p)).assign(**{PARTITION_COLUMN: p}) for p in partitions]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
