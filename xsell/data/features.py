"""Item (or user) feature tables turned into integer feature ids aligned with an id vocabulary.

Categorical columns get their own vocabulary, numeric columns are cut into quantile buckets, token-list
columns (genres, title tokens) fill a fixed number of slots. Every vocabulary and bucket edge is fitted on
the rows of known ids only (the training vocabulary), so no feature leaks from the future.

With ``hash_buckets``, token-list columns use the hashing trick instead of a vocabulary: a token's id is
``2 + blake2b(token) mod hash_buckets``, a hash that is the same in every process and on every machine, so
a brand-new item whose tokens training never saw still gets token embeddings (shared with whatever tokens
fall in the same buckets), and an item table saved with raw tokens (a bundle's ``items.parquet``) encodes
again to the same ids given the bucket count recorded in its ``FeatureSpec``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from xsell.data.schema import FIRST_INDEX, PAD_INDEX, UNKNOWN_INDEX
from xsell.data.vocabulary import Vocabulary
from xsell.errors import SchemaError


@dataclass(frozen=True)
class FeatureSpec:
    """One feature column: ``slots`` consecutive columns of the table share one embedding of
    ``cardinality`` rows (padding and unknown included); ``hash_buckets > 0`` when the ids are hashed tokens
    (see :func:`hash_tokens`)."""

    name: str
    cardinality: int
    slots: int = 1
    hash_buckets: int = 0


@dataclass
class FeatureTable:
    """``ids[i]`` are the feature ids of vocabulary index ``i`` (row 0: padding, row 1: unknown)."""

    ids: np.ndarray  # [V, F] int64
    specs: list[FeatureSpec]
    values: dict[str, list[str]] = field(default_factory=dict)  # categorical column -> its values at ids 2, 3, ..

    @property
    def width(self) -> int:
        return sum(s.slots for s in self.specs)


def build_feature_table(
    table: pl.DataFrame,
    key: str,
    vocab: Vocabulary,
    columns: Sequence[str],
    *,
    num_buckets: int = 10,
    max_tokens: int = 4,
    hash_buckets: int | None = None,
    source: str = "features",
) -> FeatureTable:
    """Encode ``columns`` of ``table`` (keyed by ``key``) for every index of ``vocab``.

    Ids of the vocabulary that the table lacks get the unknown feature id in every slot. Token-list columns
    keep their first ``max_tokens`` tokens, encoded by a vocabulary or, with ``hash_buckets``, hashed.
    """
    if hash_buckets is not None and hash_buckets < 1:
        raise ValueError(f"hash_buckets must be a positive number of buckets or None, got {hash_buckets}")
    missing = [c for c in (key, *columns) if c not in table.columns]
    if missing:
        raise SchemaError(f"feature column(s) {missing} not in table {table.columns}", source=source,
                          column=missing[0])
    aligned = (
        pl.DataFrame({key: vocab.ids}, schema={key: pl.String})
        .join(table.with_columns(pl.col(key).cast(pl.String)).unique(key, keep="first"), on=key, how="left")
    )
    blocks, specs, values_of = [], [], {}
    for name in columns:
        values = aligned.get_column(name)
        if isinstance(values.dtype, pl.List):
            ids, spec = _token_slots(values, max_tokens, hash_buckets)
        elif values.dtype.is_numeric():
            ids, spec = _quantile_buckets(values, num_buckets)
        else:
            feature_vocab = Vocabulary.fit(values.cast(pl.String), name=name)
            ids = values.cast(pl.String).to_frame().select(feature_vocab.encode(pl.col(name)))
            ids = np.where(values.is_null().to_numpy(), UNKNOWN_INDEX, ids.to_series().to_numpy())[:, None]
            spec = FeatureSpec(name, len(feature_vocab))
            values_of[name] = list(feature_vocab.ids)
        blocks.append(ids.astype(np.int64))
        specs.append(spec)
    known = np.concatenate(blocks, axis=1) if blocks else np.zeros((vocab.num_known, 0), dtype=np.int64)
    width = known.shape[1]
    reserved = np.array([[PAD_INDEX] * width, [UNKNOWN_INDEX] * width], dtype=np.int64).reshape(2, width)
    return FeatureTable(ids=np.concatenate([reserved, known]), specs=specs, values=values_of)


def _quantile_buckets(values: pl.Series, num_buckets: int) -> tuple[np.ndarray, FeatureSpec]:
    array = values.cast(pl.Float64).to_numpy()
    finite = array[np.isfinite(array)]
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, num_buckets + 1)[1:-1])) if finite.size else []
    ids = np.searchsorted(edges, np.nan_to_num(array, nan=0.0), side="right") + FIRST_INDEX
    ids = np.where(np.isfinite(array), ids, UNKNOWN_INDEX)
    return ids[:, None], FeatureSpec(values.name, len(edges) + 1 + FIRST_INDEX)


def hash_tokens(tokens: pl.Series, buckets: int) -> pl.Series:
    """Tokens -> hashed ids in ``[2, 2 + buckets)`` (0 and 1 stay padding and unknown), null -> null.

    The hash is the first 8 bytes of BLAKE2b of the token's UTF-8 bytes: stable across processes, Python
    versions and machines (unlike ``hash()`` or polars' ``hash``). It runs once per distinct token.
    """
    unique = tokens.drop_nulls().unique()
    codes = [int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little") % buckets + FIRST_INDEX
             for t in unique.to_list()]
    mapping = pl.Series(codes, dtype=pl.Int64)
    return tokens.replace_strict(unique, mapping, default=None, return_dtype=pl.Int64)


def _token_slots(values: pl.Series, max_tokens: int, hash_buckets: int | None) -> tuple[np.ndarray, FeatureSpec]:
    tokens = values.cast(pl.List(pl.String))
    frame = pl.DataFrame({"t": tokens}).with_row_index("r").explode("t").drop_nulls("t")
    if hash_buckets:
        encoded = hash_tokens(frame.get_column("t"), hash_buckets)
        spec = FeatureSpec(values.name, hash_buckets + FIRST_INDEX, slots=max_tokens, hash_buckets=hash_buckets)
    else:
        vocab = Vocabulary.fit(tokens.explode().drop_nulls().rename(values.name), name=values.name)
        encoded = frame.select(vocab.encode(pl.col("t"))).to_series()
        spec = FeatureSpec(values.name, len(vocab), slots=max_tokens)
    frame = frame.with_columns(encoded.alias("id"), pl.int_range(pl.len()).over("r").alias("slot"))
    frame = frame.filter(pl.col("slot") < max_tokens)
    ids = np.zeros((len(values), max_tokens), dtype=np.int64)
    ids[frame.get_column("r").to_numpy(), frame.get_column("slot").to_numpy()] = frame.get_column("id").to_numpy()
    return ids, spec
