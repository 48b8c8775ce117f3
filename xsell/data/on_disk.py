"""A log larger than memory, prepared range of users by range of users into memory-mapped files on disk.

The log (a lazy frame, e.g. :func:`xsell.data.readers.scan_event_shards`) is never collected whole. Users
are cut into contiguous ranges of their ids, sorted as the in-memory pipeline sorts them, of about
``chunk_events`` events each. Every cleaning and splitting step is per user (dedupe, chronological order,
leave-one-out, a temporal split at a fixed time, leave-last-session-out), so each range is read with polars'
streaming engine and prepared by :func:`xsell.data.pipeline.prepare_split` as a log of its own. The
vocabularies are then built from the ranges' counts, and every range is encoded and packed by the in-memory
code (:mod:`xsell.data.sequences`) into ``.npy`` files: the same arrays as the in-memory pipeline, in the same
order, whatever ``chunk_events`` is.

The folder (built beside its final name and renamed into place, ``manifest.json`` written last)::

    manifest.json  item_vocabulary.json  user_vocabulary.json  item_counts.npy
    log_{user,item,event,time_gap,part,user_start}.npy              the flat encoded log  [E]
    windows_{items,events,time_gaps,users,lengths}.npy              training windows      [W, T], [W]
    {validation,test}_{items,events,time_gaps,users,target,target_event,seen_start,row,lengths}.npy

:func:`open_prepared` maps them read-only (``np.load(mmap_mode="r", allow_pickle=False)``), so any number
of processes share one copy through the page cache. Not supported here (they need the whole log at once):
k-core filtering, a temporal cutoff given as a quantile, context columns and feature tables.
"""

from __future__ import annotations

import fcntl
import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from xsell.atomic import atomic_directory, write_json_atomic
from xsell.data.interactions import Interactions
from xsell.data.pipeline import SplitName, prepare_split
from xsell.data.preprocess import POSITION
from xsell.data.schema import DEFAULT_EVENT_TYPES, EVENT, ITEM, PAD_INDEX, TIMESTAMP, USER, EventTypes
from xsell.data.sequences import (
    EncodedLog,
    PackedSequences,
    PackedTargets,
    encode_split,
    pack_targets,
    pack_training_windows,
)
from xsell.data.splits import PART, TEST, TRAIN, VALIDATION, Split
from xsell.data.vocabulary import Vocabulary
from xsell.errors import ConfigError, EmptyDataError, FormatError

FORMAT = "xsell-prepared-log"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
LOG_COLUMNS = ("user", "item", "event", "time_gap", "part", "user_start")
WINDOW_COLUMNS = ("items", "events", "time_gaps", "users")
TARGET_COLUMNS = ("items", "events", "time_gaps", "users", "target", "target_event", "seen_start", "row")
TARGET_PARTS = {"validation": VALIDATION, "test": TEST}


@dataclass(frozen=True)
class PrepareOptions:
    """What decides the prepared arrays (recorded in the manifest; a folder prepared otherwise is rebuilt).

    ``shift``: 1 for causal training windows, 0 for Cloze ones; ``stride``: see
    :func:`xsell.data.sequences.pack_training_windows`; the rest as :func:`xsell.data.pipeline.prepare_split`
    (``cutoff`` / ``validation_cutoff`` as epoch seconds).
    """

    max_len: int = 50
    shift: int = 1
    stride: int | None = None
    split: SplitName = "leave_one_out"
    drop_duplicates: bool = True
    session_gap_seconds: int | None = None
    cutoff: int | None = None
    validation_cutoff: int | None = None
    event_types: tuple[str, ...] = DEFAULT_EVENT_TYPES.names

    @staticmethod
    def seconds(value: int | float | datetime | None, key: str) -> int | None:
        """A cutoff as epoch seconds; a quantile (a fraction in (0, 1)) would need every timestamp at once."""
        if value is None:
            return None
        if isinstance(value, datetime):
            return int(value.timestamp())
        if isinstance(value, float) and 0.0 < value < 1.0:
            raise ConfigError(f"{key}={value} is a quantile; a log prepared on disk needs a time cutoff "
                              "(epoch seconds or a date)")
        return int(value)


@dataclass
class PreparedLog:
    """The arrays of a prepared folder, memory-mapped read-only (numpy arrays to every reader)."""

    folder: Path
    log: EncodedLog
    windows: PackedSequences
    validation: PackedTargets
    test: PackedTargets
    lengths: dict[str, np.ndarray]  # "windows" [W], "validation" [N], "test" [N]: non-padding events per row
    item_counts: np.ndarray  # [num_items] float64 training events per item index
    manifest: dict[str, Any]


def prepare_on_disk(
    events: pl.LazyFrame,
    folder: str | Path,
    options: PrepareOptions = PrepareOptions(),
    *,
    source: str = "events",
    fingerprint: Any = None,
    chunk_events: int = 5_000_000,
) -> PreparedLog:
    """Prepare ``events`` into ``folder`` (replacing an earlier prepared folder, never anything else).

    Args:
        events: a validated lazy log (canonical columns, see :func:`xsell.data.schema.validate_interactions`).
        folder: where the arrays go; built beside it and renamed into place, so it is complete or absent.
        options: the split and packing.
        source: the log's name in messages and in the manifest.
        fingerprint: anything JSON-able identifying the source's content (see :func:`files_fingerprint`);
            :func:`ensure_prepared` rebuilds when it changes.
        chunk_events: events per range of users read at once (memory grows with it; a user is never cut).

    Raises:
        EmptyDataError: the log, or a step of the split, leaves no rows.
        OutputError: ``folder`` exists and is not a prepared folder.
    """
    folder = Path(folder)
    with atomic_directory(folder, overwrite=True, owned=_is_prepared) as tmp:
        manifest = _prepare(events, tmp, options, source=source, fingerprint=fingerprint,
                            chunk_events=chunk_events)
        write_json_atomic(tmp / MANIFEST, manifest)  # last: a folder without it is not a prepared folder
    return open_prepared(folder)


def open_prepared(folder: str | Path) -> PreparedLog:
    """Map a prepared folder read-only; ``FormatError`` if it is not one, is of another version or is
    incomplete (a file missing or of another shape than the manifest says)."""
    folder = Path(folder)
    manifest = _read_manifest(folder)
    if manifest is None:
        raise FormatError(f"not a prepared log (no valid {MANIFEST} of format {FORMAT} v{FORMAT_VERSION})",
                          source=str(folder))
    arrays: dict[str, np.ndarray] = {}
    for name, (shape, dtype) in manifest["arrays"].items():
        path = folder / f"{name}.npy"
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise FormatError(f"unreadable array {name}.npy ({exc})", source=str(folder)) from exc
        if list(array.shape) != shape or str(array.dtype) != dtype:
            raise FormatError(f"{name}.npy is {array.dtype}{list(array.shape)}, the manifest says {dtype}{shape}",
                              source=str(folder))
        arrays[name] = array
    options = PrepareOptions(**{**manifest["options"], "event_types": tuple(manifest["options"]["event_types"])})
    log = EncodedLog(
        **{name: arrays[f"log_{name}"] for name in LOG_COLUMNS},
        item_vocab=Vocabulary.load(folder / "item_vocabulary.json"),
        user_vocab=Vocabulary.load(folder / "user_vocabulary.json"),
        event_types=EventTypes(options.event_types),
        has_events=manifest["has_events"],
    )
    targets = {part: PackedTargets(**{c: arrays[f"{part}_{c}"] for c in TARGET_COLUMNS}) for part in TARGET_PARTS}
    return PreparedLog(
        folder=folder,
        log=log,
        windows=PackedSequences(**{c: arrays[f"windows_{c}"] for c in WINDOW_COLUMNS}),
        validation=targets["validation"],
        test=targets["test"],
        lengths={part: arrays[f"{part}_lengths"] for part in ("windows", *TARGET_PARTS)},
        item_counts=arrays["item_counts"],
        manifest=manifest,
    )


def ensure_prepared(
    events: Callable[[], pl.LazyFrame],
    folder: str | Path,
    options: PrepareOptions = PrepareOptions(),
    *,
    source: str = "events",
    fingerprint: Any = None,
    chunk_events: int = 5_000_000,
) -> PreparedLog:
    """Open ``folder`` if it holds this source prepared with these options, else prepare it first.

    Processes that call this at once (the ranks of a DDP run) take turns on a lock file beside the folder:
    the first prepares, the others wait and open its files. A folder that is incomplete, of another version,
    or prepared from other data or options is rebuilt; a folder that xsell did not write is refused.
    """
    folder = Path(folder)
    with _locked(folder):
        manifest = _read_manifest(folder)
        if (manifest is not None and manifest["options"] == _jsonable(options)
                and manifest["fingerprint"] == _jsonable(fingerprint)):
            try:
                return open_prepared(folder)
            except FormatError:
                pass  # incomplete: rebuilt below
        return prepare_on_disk(events(), folder, options, source=source, fingerprint=fingerprint,
                               chunk_events=chunk_events)


def files_fingerprint(path: str | Path) -> list[list[Any]]:
    """``[relative path, bytes, mtime_ns]`` of every file under ``path`` (or of ``path``): changes when the
    data does, without reading it."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return [[str(p.relative_to(path)) if path.is_dir() else p.name, p.stat().st_size, p.stat().st_mtime_ns]
            for p in files]


# ---------------------------------------------------------------------------------------------- preparing


def _prepare(events: pl.LazyFrame, folder: Path, options: PrepareOptions, *, source: str, fingerprint: Any,
             chunk_events: int) -> dict[str, Any]:
    has_events = EVENT in events.collect_schema().names()
    ranges = _user_ranges(events, chunk_events, source)
    scratch = folder / "scratch"
    scratch.mkdir()
    # Pass 1: clean and split each range; count users and training items for the vocabularies.
    user_counts, item_counts, sizes = [], [], []
    columns = [USER, ITEM, TIMESTAMP, *([EVENT] if has_events else []), POSITION, PART]
    for k, condition in enumerate(ranges):
        chunk = events.filter(condition).collect(engine="streaming")
        split = prepare_split(Interactions(chunk, name=source), split=options.split,
                              drop_duplicates=options.drop_duplicates,
                              session_gap_seconds=options.session_gap_seconds, cutoff=options.cutoff,
                              validation_cutoff=options.validation_cutoff)
        frame = split.events.select(columns)
        del chunk, split
        frame.write_parquet(scratch / f"range-{k}.parquet")
        user_counts.append(frame.group_by(USER).agg(pl.len().alias("n")))
        item_counts.append(frame.filter(pl.col(PART) == TRAIN).group_by(ITEM).agg(pl.len().alias("n")))
        sizes.append(frame.height)
    user_vocab = Vocabulary.from_counts(pl.concat(user_counts), USER)
    item_vocab = Vocabulary.from_counts(pl.concat(item_counts).group_by(ITEM).agg(pl.col("n").sum()), ITEM)
    del user_counts, item_counts
    user_vocab.save(folder / "user_vocabulary.json")
    item_vocab.save(folder / "item_vocabulary.json")

    # Pass 2: encode and pack each range with the whole log's vocabularies; rows shift by the range's offset.
    n_events = sum(sizes)
    flat = {name: np.lib.format.open_memmap(folder / f"log_{name}.npy", mode="w+", dtype=dtype, shape=(n_events,))
            for name, dtype in zip(LOG_COLUMNS, (np.int32, np.int32, np.int8, np.int8, np.int8, np.int64),
                                   strict=True)}
    training_counts = np.zeros(len(item_vocab), dtype=np.float64)
    offset = 0
    for k, size in enumerate(sizes):
        frame = pl.read_parquet(scratch / f"range-{k}.parquet")
        part = encode_split(Split(frame, options.split), event_types=EventTypes(options.event_types),
                            item_vocab=item_vocab, user_vocab=user_vocab)
        del frame
        for name in LOG_COLUMNS:
            flat[name][offset:offset + size] = getattr(part, name) + (offset if name == "user_start" else 0)
        training_counts += part.training_item_counts()
        windows = pack_training_windows(part, options.max_len, shift=options.shift, stride=options.stride)
        pieces = {f"windows_{c}": getattr(windows, c) for c in WINDOW_COLUMNS}
        pieces["windows_lengths"] = _lengths(windows.items)
        for name, code in TARGET_PARTS.items():
            targets = pack_targets(part, code, options.max_len)
            targets.seen_start += offset
            targets.row += offset
            pieces.update({f"{name}_{c}": getattr(targets, c) for c in TARGET_COLUMNS})
            pieces[f"{name}_lengths"] = _lengths(targets.items)
        for name, array in pieces.items():
            np.save(scratch / f"{name}-{k}.npy", array, allow_pickle=False)
        offset += size
        del part, windows, pieces
    for array in flat.values():
        array.flush()
    np.save(folder / "item_counts.npy", training_counts, allow_pickle=False)
    names = [f"windows_{c}" for c in (*WINDOW_COLUMNS, "lengths")]
    names += [f"{p}_{c}" for p in TARGET_PARTS for c in (*TARGET_COLUMNS, "lengths")]
    for name in names:
        _concatenate([scratch / f"{name}-{k}.npy" for k in range(len(sizes))], folder / f"{name}.npy")
    shutil.rmtree(scratch)

    arrays = {path.stem: [list(a.shape), str(a.dtype)] for path in sorted(folder.glob("*.npy"))
              for a in [np.load(path, mmap_mode="r", allow_pickle=False)]}
    counts = {"events": n_events, "users": user_vocab.num_known, "item_vocabulary": len(item_vocab),
              "training_events": int(training_counts.sum()), "training_windows": arrays["windows_users"][0][0],
              "validation_targets": arrays["validation_target"][0][0], "test_targets": arrays["test_target"][0][0],
              "user_ranges": len(sizes)}
    return {"format": FORMAT, "version": FORMAT_VERSION, "source": source, "fingerprint": _jsonable(fingerprint),
            "options": _jsonable(options), "has_events": has_events, "counts": counts, "arrays": arrays}


def _user_ranges(events: pl.LazyFrame, chunk_events: int, source: str) -> list[pl.Expr]:
    """Filters selecting contiguous ranges of user ids (in sort order) of about ``chunk_events`` events."""
    if chunk_events < 1:
        raise ConfigError(f"chunk_events must be positive, got {chunk_events}")
    users = events.group_by(USER).agg(pl.len().alias("n")).sort(USER).collect(engine="streaming")
    if users.height == 0:
        raise EmptyDataError("the event log has no rows", source=source, rows=0)
    before = users.get_column("n").cum_sum() - users.get_column("n")  # events of the users sorted before
    first = users.filter((before // chunk_events).is_first_distinct()).get_column(USER).to_list()
    bounds = [*first[1:], None]
    return [(pl.col(USER) >= low) & (pl.col(USER) < high) if high is not None else pl.col(USER) >= low
            for low, high in zip(first, bounds, strict=True)]


def _lengths(items: np.ndarray) -> np.ndarray:
    """``[N]`` int32 non-padding events per packed row."""
    return (items != PAD_INDEX).sum(axis=1, dtype=np.int32)


def _concatenate(parts: list[Path], out: Path) -> None:
    """Join ``.npy`` files along their first axis into ``out`` without holding more than one in memory."""
    pieces = [np.load(p, mmap_mode="r", allow_pickle=False) for p in parts]
    shape = (sum(len(p) for p in pieces), *pieces[0].shape[1:])
    joined = np.lib.format.open_memmap(out, mode="w+", dtype=pieces[0].dtype, shape=shape)
    start = 0
    for piece in pieces:
        joined[start:start + len(piece)] = piece
        start += len(piece)
    joined.flush()


# ----------------------------------------------------------------------------------------------- the folder


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of a prepared folder of this version, or None."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or manifest.get("version") != FORMAT_VERSION:
        return None
    return manifest


def _is_prepared(folder: Path) -> bool:
    """Whether xsell wrote ``folder`` (any version): only such a folder is replaced."""
    try:
        return json.loads((folder / MANIFEST).read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``.NAME.lock`` beside ``folder`` (POSIX ``flock``: one machine)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with (folder.parent / f".{folder.name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _jsonable(value: Any) -> Any:
    """``value`` as it reads back from JSON (dataclasses as dicts, tuples as lists)."""
    if isinstance(value, PrepareOptions):
        value = asdict(value)
    return json.loads(json.dumps(value))
