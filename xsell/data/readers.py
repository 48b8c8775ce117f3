"""Readers that turn event logs on disk into :class:`~xsell.data.interactions.Interactions`.

Four layouts are understood:

* ``read_events``: a Parquet or CSV/TSV log with foreign column names mapped onto the schema, plus optional
  item / user feature tables;
* ``scan_event_shards``: a folder of Parquet shards (as Spark, DuckDB or polars write them, hive
  ``key=value`` folders included), returned lazily for logs larger than memory;
* ``read_atomic``: RecBole "atomic files" (``<name>.inter`` with optional ``.item`` / ``.user``, typed headers);
* ``read_sasrec_txt``: the SASRec ``user item`` text format (chronological lines, no timestamps).

Each reader builds a polars lazy query, reads the file once, checks the result through
:func:`xsell.data.schema.validate_interactions` and returns events in source order. Bad input raises one xsell
error (``SchemaError``, ``FormatError`` or ``EmptyDataError``) naming the file, the column and the number of
rows affected; polars' own exceptions are wrapped, never leaked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from xsell.data.feedback import validate_feedback
from xsell.data.interactions import Interactions
from xsell.data.schema import (
    ANCHOR,
    EVENT,
    ID_DTYPE,
    ITEM,
    RECOMMENDED,
    REQUIRED_COLUMNS,
    SESSION,
    TIMESTAMP,
    TIMESTAMP_DTYPE,
    USER,
    rename_columns,
    validate_interactions,
)
from xsell.errors import EmptyDataError, FormatError, SchemaError

__all__ = ["read_atomic", "read_events", "read_sasrec_txt", "scan_event_shards"]

PARQUET_SUFFIXES = (".parquet", ".pq")
TEXT_SEPARATORS = {".csv": ",", ".tsv": "\t", ".txt": ","}
ATOMIC_TYPES = ("token", "float", "token_seq", "float_seq")

# The canonical columns read as strings from text files (ids, behaviour names; timestamps are parsed here).
_STRING_COLUMNS = (USER, ITEM, TIMESTAMP, EVENT, SESSION)
# ISO-8601 layouts accepted for string timestamps ("Z" is rewritten to +00:00; ``%.f`` also matches no
# fraction). Exact seconds come first: polars parses them much faster than the ``%.f`` layouts.
_NAIVE_FORMATS = (
    "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M",
)
_ZONED_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%d %H:%M%z")
_SNIFF_BYTES = 1 << 16
_POLARS_ERRORS = (pl.exceptions.PolarsError,)


# ----------------------------------------------------------------------------------------------- public API


def read_events(
    path: str | Path,
    columns: Mapping[str, str] | None = None,
    *,
    format: str | None = None,
    context: Sequence[str] = (),
    items: str | Path | None = None,
    users: str | Path | None = None,
    feedback: str | Path | None = None,
    separator: str = ",",
) -> Interactions:
    """Read a Parquet or CSV event log (plus optional item / user feature tables and feedback answers).

    Args:
        path: the event log. The format comes from the suffix (``.parquet``/``.pq``; ``.csv``, ``.tsv``
            (tab separated), ``.txt``) unless ``format`` is given.
        columns: foreign name -> canonical name, e.g.
            ``{"visitorid": "user_id", "itemid": "item_id", "ts": "timestamp", "event": "event"}``.
            The same mapping is applied (where its names occur) to the feature tables.
        format: ``"parquet"``, ``"csv"`` or ``"tsv"``; overrides the suffix.
        context: canonical names of extra event columns to keep (``["device"]``); each must be present.
        items: optional item feature table (parquet or csv) keyed by ``item_id``.
        users: optional user feature table (parquet or csv) keyed by ``user_id``.
        feedback: optional explicit feedback table (see :func:`read_feedback`; the same ``columns`` mapping).
        separator: field separator of a CSV/TXT file (``.tsv`` files and ``format="tsv"`` use a tab).

    Returns:
        Interactions whose events hold ``user_id``, ``item_id`` (String), ``timestamp`` (Int64 seconds, or
        the source's integer clock), then ``event`` and ``session_id`` when present, then ``context``, in
        file order. Other columns of the log are dropped; list them in ``context`` to keep them.
        Timestamps may be integers, floats (rounded), date/times or strings holding numbers or ISO-8601
        dates (``2020-01-02``, ``2020-01-02T03:04:05[.fff][Z|+hh:mm]``; naive ones are read as UTC).

    Raises:
        FileNotFoundError: ``path`` (or a feature table) does not exist.
        SchemaError: a required / mapped / context column is missing, ids or timestamps are null, or
            timestamps are neither numbers nor dates.
        FormatError: the file is not in the claimed format (e.g. text passed as parquet, a binary file
            passed as CSV).
        EmptyDataError: the log has no rows.

    Example::

        data = read_events("events.csv", {"visitorid": "user_id", "itemid": "item_id", "ts": "timestamp"})
    """
    path = _existing_file(path)
    source = str(path)
    mapping = dict(columns or {})
    lazy = _scan_table(path, format, separator, string_columns=_foreign_names(mapping, _STRING_COLUMNS))
    names = _column_names(lazy, source)

    unknown = [foreign for foreign, canonical in mapping.items() if foreign not in names and canonical not in names]
    if unknown:
        raise SchemaError(
            f"column {unknown[0]!r} named in columns= is not in the file; found {names}",
            source=source, column=unknown[0], rows=_height(lazy, source),
        )
    lazy, present = _rename(lazy, names, mapping, source)
    wanted = _dedupe([*REQUIRED_COLUMNS, *(c for c in (EVENT, SESSION) if c in present), *context])
    missing = [c for c in wanted if c not in present]
    if missing:
        hint = "; map foreign names with columns={'their_name': 'user_id', ...}" if not mapping else ""
        raise SchemaError(
            f"missing column(s) {missing}; found {present}{hint}",
            source=source, column=missing[0], rows=_height(lazy, source),
        )

    raw = _collect(lazy.select(wanted), source)
    events = _finish_events(raw, source, context=context)
    return Interactions(
        events=events,
        items=None if items is None else _read_feature_table(items, ITEM, mapping, separator),
        users=None if users is None else _read_feature_table(users, USER, mapping, separator),
        name=source,
        feedback=None if feedback is None else read_feedback(feedback, mapping, separator=separator),
    )


def scan_event_shards(path: str | Path, columns: Mapping[str, str] | None = None) -> pl.LazyFrame:
    """A folder of Parquet shards as one lazy, validated event log (nothing is loaded but the null counts).

    Args:
        path: a folder whose ``*.parquet`` / ``*.pq`` files (at any depth) are the shards; ``key=value``
            folders are hive partitions whose keys become columns (``event=view/part-0.parquet``). Files
            and folders starting with ``.`` or ``_`` (``_SUCCESS``, ``.crc``) are ignored. Shards are read
            in path order, which is the log's source order (ties in time keep it).
        columns: foreign name -> canonical name, as for :func:`read_events`.

    Returns:
        A ``LazyFrame`` of ``user_id``, ``item_id`` (String), ``timestamp`` (Int64), then ``event`` and
        ``session_id`` when present, as :func:`xsell.data.schema.validate_interactions` returns it.

    Raises:
        FileNotFoundError: ``path`` is not a folder.
        EmptyDataError: the folder holds no shard.
        FormatError: a shard is not a Parquet file.
        SchemaError: a shard lacks a required column or types the timestamp unlike the first shard (both
            naming that shard), or ids / timestamps are null (naming the folder).
    """
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder of parquet shards: {folder}")
    source = str(folder)
    shards = sorted(
        file for file in folder.rglob("*")
        if file.suffix.lower() in PARQUET_SUFFIXES and file.is_file()
        and not any(part.startswith((".", "_")) for part in file.relative_to(folder).parts)
    )
    if not shards:
        raise EmptyDataError("the folder holds no parquet shard (*.parquet, *.pq)", source=source, rows=0)
    mapping = dict(columns or {})
    first: tuple[Path, pl.DataType] | None = None
    names: set[str] = set()
    for shard in shards:
        present = _shard_columns(shard, folder, mapping)
        names.update(present)
        missing = [c for c in REQUIRED_COLUMNS if c not in present]
        if missing:
            raise SchemaError(f"missing column(s) {missing}; found {list(present)}", source=str(shard),
                              column=missing[0])
        dtype = present[TIMESTAMP]
        if first is None:
            first = (shard, dtype)
        elif dtype != first[1]:
            raise SchemaError(f"timestamp is {dtype} here but {first[1]} in {first[0]}", source=str(shard),
                              column=TIMESTAMP)
    lazy = pl.scan_parquet(shards, hive_partitioning=True, missing_columns="insert", extra_columns="ignore")
    lazy, _ = _rename(lazy, _column_names(lazy, source), mapping, source)
    wanted = [*REQUIRED_COLUMNS, *(c for c in (EVENT, SESSION) if c in names)]
    try:
        with pl.Config(engine_affinity="streaming"):  # the null counts run over the whole log
            return validate_interactions(lazy.select(wanted), source)
    except _POLARS_ERRORS as exc:
        raise FormatError(f"cannot read the shards: {_first_line(exc)}", source=source) from exc


def read_feedback(
    path: str | Path, columns: Mapping[str, str] | None = None, *, format: str | None = None, separator: str = ","
) -> pl.DataFrame:
    """Read an explicit feedback table (parquet or csv): ``user_id``, ``anchor_item_id``,
    ``recommended_item_id``, ``helpful`` (Boolean or 0/1) and ``timestamp`` (integer seconds).

    ``columns`` maps foreign names onto those (names it does not find are ignored). Raises
    ``FileNotFoundError``, ``FormatError``, ``SchemaError`` (naming the file, the column and the rows) or
    ``EmptyDataError`` as :func:`xsell.data.feedback.validate_feedback` says.
    """
    path = _existing_file(path)
    source = str(path)
    mapping = dict(columns or {})
    lazy = _scan_table(path, format, separator, string_columns=_foreign_names(mapping, (USER, ANCHOR, RECOMMENDED)))
    lazy, _ = _rename(lazy, _column_names(lazy, source), mapping, source)
    return validate_feedback(_collect(lazy, source), source)


def read_atomic(path: str | Path) -> Interactions:
    """Read a RecBole atomic data set: ``<name>.inter`` plus optional ``<name>.item`` and ``<name>.user``.

    Args:
        path: a directory holding ``<dirname>.inter`` (or exactly one ``*.inter``), or a ``.inter`` file,
            in which case the sibling ``.item`` / ``.user`` files with the same stem are read too.

    Every file is tab separated with a typed header (``user_id:token  item_id:token  rating:float ...``);
    quotes are ordinary characters. The type suffix is stripped from the column names and decides the
    dtype: ``token`` -> String, ``float`` -> Float64, ``token_seq`` -> List[String] (split on spaces, a
    missing value is an empty list), ``float_seq`` -> List[Float64].

    Returns:
        Interactions whose events hold ``user_id``, ``item_id``, ``timestamp`` (float seconds rounded to
        Int64) first, then the remaining ``.inter`` columns (e.g. ``rating``) in file order; ``items`` /
        ``users`` are the typed ``.item`` / ``.user`` tables keyed by ``item_id`` / ``user_id``, or None.

    Raises:
        FileNotFoundError: no ``.inter`` file is found.
        FormatError: a header field lacks a ``:type`` suffix or has an unknown type, a line has too many
            fields, or a file is not text.
        SchemaError: ``user_id`` / ``item_id`` / ``timestamp`` (or a feature table's key) is missing or
            null, or a ``float`` value is not a number.
        EmptyDataError: the ``.inter`` file has no rows.
    """
    inter = _atomic_inter_file(Path(path))
    source = str(inter)
    frame = _read_atomic_table(inter)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"missing column(s) {missing} in the .inter header; found {frame.columns}",
            source=source, column=missing[0], rows=frame.height,
        )
    events = _finish_events(frame, source, keep_all=True)

    tables: dict[str, pl.DataFrame | None] = {}
    for suffix, key in ((".item", ITEM), (".user", USER)):
        sibling = inter.with_suffix(suffix)
        tables[key] = _keyed(_read_atomic_table(sibling), key, str(sibling)) if sibling.is_file() else None
    return Interactions(events=events, items=tables[ITEM], users=tables[USER], name=source)


def read_sasrec_txt(path: str | Path) -> Interactions:
    """Read a SASRec-style ``user item`` file (e.g. the SASRec paper's ``Video.txt``, "Games").

    Args:
        path: a text file with one whitespace-separated ``user item`` pair a line, each user's lines in
            chronological order, no timestamps.

    Returns:
        Interactions with ``user_id``, ``item_id`` (String) and ``timestamp`` = the 0-based line number
        (Int64), so sorting by time keeps the file's order.

    Raises:
        FormatError: a line (blank lines included) does not have exactly two fields; the message names
            the file, counts the bad lines and shows the first one. Also for a binary / non-UTF-8 file.
        EmptyDataError: the file has no lines.
    """
    path = _existing_file(path)
    source = str(path)
    _sniff_text(path, source)
    lines = pl.scan_csv(
        path, has_header=False, separator="\x00", quote_char=None, schema={"line": pl.String}
    ).with_row_index(TIMESTAMP)
    pair = r"^\s*(?<user_id>\S+)\s+(?<item_id>\S+)\s*$"
    frame = _collect(lines.select(TIMESTAMP, pl.col("line").str.extract_groups(pair)).unnest("line"), source)
    if frame.height == 0:
        raise EmptyDataError("the file has no lines", source=source, rows=0)
    bad = frame.get_column(USER).null_count()
    if bad:
        first = frame.filter(pl.col(USER).is_null()).item(0, TIMESTAMP)
        text = _collect(lines.filter(pl.col(TIMESTAMP) == first), source).item(0, "line")
        raise FormatError(
            f"{bad} line(s) do not have exactly two whitespace-separated fields 'user item' "
            f"(first: line {first + 1}: {_shorten(text)!r})",
            source=source, column="line", rows=bad,
        )
    events = frame.select(USER, ITEM, pl.col(TIMESTAMP).cast(TIMESTAMP_DTYPE))
    return Interactions(events=_collect(validate_interactions(events, source), source, SchemaError), name=source)


# ------------------------------------------------------------------------------------------ shared helpers


def _existing_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if not path.is_file():
        raise FormatError("expected a file, got a directory or special file", source=str(path))
    if path.stat().st_size == 0:
        raise EmptyDataError("the file is empty", source=str(path), rows=0)
    return path


def _sniff_text(path: Path, source: str) -> None:
    """Reject binary files (parquet, gzip, anything with NUL bytes) before a text parser sees them."""
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if head.startswith(b"PAR1"):
        raise FormatError("this is a parquet file, not text; pass format='parquet'", source=source)
    if head.startswith(b"\x1f\x8b"):
        raise FormatError("this is a gzip-compressed file; decompress it first", source=source)
    if b"\x00" in head:
        raise FormatError("this is a binary file (NUL bytes), not delimited text", source=source)


def _sniff_parquet(path: Path, source: str) -> None:
    with path.open("rb") as handle:
        head = handle.read(4)
        handle.seek(max(path.stat().st_size - 4, 0))
        tail = handle.read(4)
    if head != b"PAR1" or tail not in (b"PAR1", b"PARE"):
        raise FormatError(
            "not a parquet file (no PAR1 magic bytes); for delimited text pass format='csv'", source=source
        )


def _file_format(path: Path, format: str | None, separator: str) -> tuple[str, str]:
    """``("parquet" | "csv", separator)`` from an explicit format or the file suffix."""
    if format is not None:
        kind = format.lower().lstrip(".")
        if kind in ("parquet", "pq"):
            return "parquet", separator
        if kind in ("csv", "txt"):
            return "csv", separator
        if kind == "tsv":
            return "csv", "\t" if separator == "," else separator
        raise ValueError(f"unknown format {format!r}; use 'parquet', 'csv' or 'tsv'")
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return "parquet", separator
    if suffix in TEXT_SEPARATORS:
        return "csv", TEXT_SEPARATORS[suffix] if separator == "," else separator
    raise FormatError(
        f"cannot tell the format from the suffix {suffix!r}; pass format='parquet', 'csv' or 'tsv'",
        source=str(path),
    )


def _scan_table(path: Path, format: str | None, separator: str, *, string_columns: Sequence[str]) -> pl.LazyFrame:
    """A lazy scan of a parquet or delimited file; in text files ``string_columns`` (if present) stay String."""
    source = str(path)
    kind, separator = _file_format(path, format, separator)
    if kind == "parquet":
        _sniff_parquet(path, source)
        return pl.scan_parquet(path)
    _sniff_text(path, source)
    header = _column_names(pl.scan_csv(path, separator=separator, infer_schema=False), source)
    overrides = {name: pl.String for name in string_columns if name in header}
    return pl.scan_csv(path, separator=separator, schema_overrides=overrides, infer_schema_length=10_000)


def _foreign_names(mapping: Mapping[str, str], canonical: Sequence[str]) -> list[str]:
    """The names the file may use for the ``canonical`` columns: mapped foreign names and the names themselves."""
    return [*(foreign for foreign, target in mapping.items() if target in canonical), *canonical]


def _rename(
    lazy: pl.LazyFrame, names: Sequence[str], mapping: Mapping[str, str], source: str
) -> tuple[pl.LazyFrame, list[str]]:
    """Apply the mapping to the columns it names; returns the frame and its new column names."""
    renamed = [mapping.get(name, name) for name in names]
    clashes = sorted({name for name in renamed if renamed.count(name) > 1})
    if clashes:
        raise SchemaError(
            f"columns= maps onto a name the file already has, giving duplicate column(s) {clashes}",
            source=source, column=clashes[0],
        )
    return rename_columns(lazy, {k: v for k, v in mapping.items() if k in names}), renamed


def _column_names(lazy: pl.LazyFrame, source: str) -> list[str]:
    try:
        return lazy.collect_schema().names()
    except _POLARS_ERRORS as exc:
        raise FormatError(f"cannot read the file: {_first_line(exc)}", source=source) from exc


def _collect(lazy: pl.LazyFrame, source: str, error: type[FormatError | SchemaError] = FormatError) -> pl.DataFrame:
    """Run a query, turning polars' exceptions into one xsell error naming the file."""
    try:
        return lazy.collect()
    except _POLARS_ERRORS as exc:
        raise error(f"cannot read the file: {_first_line(exc)}", source=source) from exc


def _height(lazy: pl.LazyFrame, source: str) -> int:
    return int(_collect(lazy.select(pl.len()), source).item())


def _finish_events(
    frame: pl.DataFrame, source: str, *, context: Sequence[str] = (), keep_all: bool = False
) -> pl.DataFrame:
    """Type-check an event frame with canonical names and put the canonical columns first."""
    if frame.height == 0:
        raise EmptyDataError("the event log has no rows", source=source, rows=0)
    frame = _normalise_ids(_parse_timestamps(frame, source))
    lazy = validate_interactions(frame, source, context=context)
    leading = _dedupe([*REQUIRED_COLUMNS, *(c for c in (EVENT, SESSION) if c in frame.columns), *context])
    order = [*leading, *(c for c in frame.columns if c not in leading)] if keep_all else leading
    return _collect(lazy.select(order), source, SchemaError)


def _parse_timestamps(frame: pl.DataFrame, source: str) -> pl.DataFrame:
    """Turn string timestamps (numbers or ISO-8601 dates) into Int64 seconds; reject non-finite floats.

    ``validate_interactions`` handles numeric and date/time columns; this adds ISO date strings and clear
    errors (with the number of bad rows) for strings that are neither, and for NaN / infinite floats.
    Parsers are tried cheapest first and only while some value is still unparsed, so a clean column costs
    one or two passes.
    """
    dtype = frame.schema[TIMESTAMP]
    column = pl.col(TIMESTAMP)
    if dtype.is_float():
        bad = frame.select((column.is_not_null() & ~column.is_finite()).sum()).item()
        if bad:
            raise SchemaError("timestamps are NaN or infinite", source=source, column=TIMESTAMP, rows=int(bad))
        return frame
    if dtype != pl.String:
        return frame
    text = column.str.strip_chars()
    number = text.cast(pl.Float64, strict=False)
    zoned = text.str.replace(r"(?i)z$", "+00:00")
    parsers = [
        text.cast(TIMESTAMP_DTYPE, strict=False),
        pl.when(number.is_finite()).then(number.round(0)).cast(TIMESTAMP_DTYPE, strict=False),
        *(text.str.to_datetime(f, strict=False, time_unit="us").dt.epoch("s") for f in _NAIVE_FORMATS),
        *(zoned.str.to_datetime(f, strict=False, time_unit="us", time_zone="UTC").dt.epoch("s")
          for f in _ZONED_FORMATS),
        text.str.to_date("%Y-%m-%d", strict=False).dt.epoch("s"),
    ]
    nulls = frame.get_column(TIMESTAMP).null_count()
    parsed = pl.Series(TIMESTAMP, [], dtype=TIMESTAMP_DTYPE)
    numbers = 0  # values read by the two numeric parsers; dates after them must not share one clock
    for i, parser in enumerate(parsers):
        result = frame.select(parser.alias(TIMESTAMP)).to_series()
        parsed = result if i == 0 else parsed.fill_null(result)
        if i == 1:
            numbers = frame.height - parsed.null_count()
        if parsed.null_count() == nulls:
            dates = frame.height - nulls - numbers
            if i > 1 and numbers and dates:
                example = frame.filter(number.is_null() & column.is_not_null()).item(0, TIMESTAMP)
                raise SchemaError(f"timestamps mix numbers ({numbers} rows) and date strings ({dates} rows, e.g. "
                                  f"{_shorten(example)!r}): use one kind", source=source, column=TIMESTAMP, rows=dates)
            return frame.with_columns(parsed)
    bad = parsed.null_count() - nulls
    example = frame.filter(column.is_not_null() & parsed.is_null()).item(0, TIMESTAMP)
    raise SchemaError(
        f"timestamps are neither numbers nor ISO-8601 dates (e.g. {_shorten(example)!r})",
        source=source, column=TIMESTAMP, rows=int(bad),
    )


def _shard_columns(shard: Path, folder: Path, mapping: Mapping[str, str]) -> dict[str, pl.DataType]:
    """Canonical column name -> dtype of one shard: its Parquet schema plus its hive ``key=value`` folders."""
    _sniff_parquet(shard, str(shard))
    try:
        schema = dict(pl.read_parquet_schema(shard))
    except _POLARS_ERRORS as exc:
        raise FormatError(f"cannot read the parquet schema: {_first_line(exc)}", source=str(shard)) from exc
    for part in shard.relative_to(folder).parts[:-1]:
        key, equals, _ = part.partition("=")
        if equals:
            schema.setdefault(key, pl.String)
    return {mapping.get(name, name): dtype for name, dtype in schema.items()}


def _normalise_ids(frame: pl.DataFrame) -> pl.DataFrame:
    """Integral float ids (``123.0``, as pandas writes ints with nulls) become ``"123"``, not ``"123.0"``."""
    floats = [c for c in (USER, ITEM, SESSION) if c in frame.columns and frame.schema[c].is_float()]
    if not floats:
        return frame
    return frame.with_columns(
        pl.when(pl.col(c) == pl.col(c).floor())
        .then(pl.col(c).cast(pl.Int64, strict=False).cast(ID_DTYPE))
        .otherwise(pl.col(c).cast(ID_DTYPE))
        .alias(c)
        for c in floats
    )


def _keyed(frame: pl.DataFrame, key: str, source: str) -> pl.DataFrame:
    """Check a feature table's key (present, non-null, unique), make it String and put it first."""
    if key not in frame.columns:
        raise SchemaError(f"the feature table has no key column; found {frame.columns}",
                          source=source, column=key, rows=frame.height)
    frame = _normalise_ids(frame).with_columns(pl.col(key).cast(ID_DTYPE))
    nulls = frame.get_column(key).null_count()
    if nulls:
        raise SchemaError("null keys in the feature table", source=source, column=key, rows=nulls)
    duplicates = frame.height - frame.get_column(key).n_unique()
    if duplicates:
        raise SchemaError("duplicate keys in the feature table", source=source, column=key, rows=duplicates)
    return frame.select(key, pl.exclude(key))


def _read_feature_table(path: str | Path, key: str, mapping: Mapping[str, str], separator: str) -> pl.DataFrame:
    path = _existing_file(path)
    source = str(path)
    lazy = _scan_table(path, None, separator, string_columns=_foreign_names(mapping, (key,)))
    lazy, _ = _rename(lazy, _column_names(lazy, source), mapping, source)
    return _keyed(_collect(lazy, source), key, source)


# ------------------------------------------------------------------------------------------- atomic files


def _atomic_inter_file(path: Path) -> Path:
    if path.is_dir():
        named = path / f"{path.name}.inter"
        if named.is_file():
            return named
        found = sorted(path.glob("*.inter"))
        if len(found) == 1:
            return found[0]
        if not found:
            raise FileNotFoundError(f"no .inter file in {path}")
        raise FormatError(
            f"several .inter files and none named {named.name}: {[p.name for p in found]}; pass one of them",
            source=str(path),
        )
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix != ".inter":
        raise FormatError("expected a RecBole .inter file or a directory holding one", source=str(path))
    return path


def _atomic_header(path: Path, source: str) -> list[tuple[str, str]]:
    """``[(name, type), ...]`` from the first line ``name:type<TAB>name:type...``."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            first = handle.readline().rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise FormatError("the header is not UTF-8 text", source=source) from exc
    fields = []
    for field in first.split("\t"):
        name, colon, kind = field.rpartition(":")
        if not colon or not name or kind not in ATOMIC_TYPES:
            raise FormatError(
                f"header field {field!r} is not 'name:type' with type in {list(ATOMIC_TYPES)}",
                source=source, column=field,
            )
        fields.append((name, kind))
    names = [name for name, _ in fields]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise FormatError("duplicate header field", source=source, column=duplicated[0])
    return fields


def _read_atomic_table(path: Path) -> pl.DataFrame:
    """One atomic file, typed from its header; ``float`` values that are not numbers raise ``SchemaError``."""
    path = _existing_file(path)
    source = str(path)
    _sniff_text(path, source)
    fields = _atomic_header(path, source)
    lazy = pl.scan_csv(
        path, separator="\t", quote_char=None, infer_schema=False, new_columns=[name for name, _ in fields]
    )
    try:
        raw = lazy.collect()
    except _POLARS_ERRORS as exc:
        ragged = _count_ragged(path, len(fields))
        raise FormatError(
            f"cannot read the file ({_first_line(exc)})"
            + (f"; {ragged} line(s) have more than the header's {len(fields)} tab-separated fields" if ragged else ""),
            source=source, rows=ragged or None,
        ) from exc
    typed = raw.with_columns(_atomic_column(name, kind) for name, kind in fields)
    for name, kind in fields:
        if kind in ("float", "float_seq"):
            converted = typed.get_column(name)
            bad = converted.list.eval(pl.element().is_null()).list.any().sum() if kind == "float_seq" else (
                converted.null_count() - raw.get_column(name).null_count())
            if bad:
                raise SchemaError(f"{kind} values that are not numbers", source=source, column=name, rows=int(bad))
    return typed


def _atomic_column(name: str, kind: str) -> pl.Expr:
    column = pl.col(name)
    if kind == "token":
        return column
    if kind == "float":
        return column.str.strip_chars().cast(pl.Float64, strict=False)
    tokens = column.str.split(" ").list.eval(pl.element().filter(pl.element() != ""))
    if kind == "float_seq":
        tokens = tokens.list.eval(pl.element().str.strip_chars().cast(pl.Float64, strict=False))
    empty = pl.lit([], dtype=pl.List(pl.Float64 if kind == "float_seq" else pl.String))
    return pl.when(column.is_null()).then(empty).otherwise(tokens).alias(name)


def _count_ragged(path: Path, width: int) -> int:
    """Lines (header included) with more than ``width`` tab-separated fields; 0 if that cannot be told."""
    lines = pl.scan_csv(path, has_header=False, separator="\x00", quote_char=None, schema={"line": pl.String})
    try:
        return int(lines.select((pl.col("line").str.count_matches("\t", literal=True) >= width).sum()).collect().item())
    except _POLARS_ERRORS:
        return 0


# ------------------------------------------------------------------------------------------------- small


def _dedupe(names: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _shorten(text: str | None, limit: int = 80) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 3] + "..."
