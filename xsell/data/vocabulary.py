"""Id vocabularies: original ids <-> contiguous indices, with padding and unknown reserved, persisted.

Index 0 is padding and index 1 is the unknown id (anything not seen when the vocabulary was fitted, e.g.
a new item at serving time); known ids take 2, 3, ... in order of decreasing frequency. A vocabulary can
grow (new ids are appended) without moving the indices of the ids it already has.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import polars as pl

from xsell.atomic import write_json_atomic
from xsell.data.schema import FIRST_INDEX, PAD_INDEX, UNKNOWN_INDEX
from xsell.errors import FormatError

PAD_TOKEN = "[PAD]"
UNKNOWN_TOKEN = "[UNK]"


class Vocabulary:
    """A persisted mapping from string ids to indices.

    Args:
        ids: known ids in index order (the first gets index 2).
        name: what the ids are (``"item_id"``, ``"category"``), used in files and messages.
    """

    def __init__(self, ids: Iterable[str], name: str = "id") -> None:
        self.ids: list[str] = [str(i) for i in ids]
        self.name = name
        if len(set(self.ids)) != len(self.ids):
            raise ValueError(f"vocabulary {name!r} has duplicate ids")
        self._index = {id_: i + FIRST_INDEX for i, id_ in enumerate(self.ids)}

    @classmethod
    def fit(cls, column: pl.Series, name: str | None = None) -> Vocabulary:
        """Build a vocabulary from a column, most frequent id first (ties by id, so it is deterministic)."""
        return cls.from_counts(column.drop_nulls().cast(pl.String).value_counts(name="n"), column.name, name=name)

    @classmethod
    def from_counts(cls, counts: pl.DataFrame, column: str, name: str | None = None) -> Vocabulary:
        """Build a vocabulary from a table of ids (``column``, String) and their counts (``n``), ordered as
        :meth:`fit` orders them; the counts of parts of a log (each id in one part, or summed) give the
        vocabulary of the whole log."""
        ordered = counts.sort(["n", column], descending=[True, False])
        return cls(ordered.get_column(column).to_list(), name=name or column)

    def __len__(self) -> int:
        """Number of indices, padding and unknown included (the size of an embedding table)."""
        return len(self.ids) + FIRST_INDEX

    @property
    def num_known(self) -> int:
        return len(self.ids)

    def __contains__(self, id_: object) -> bool:
        return str(id_) in self._index

    def index(self, id_: str) -> int:
        """Index of one id (the unknown index if unseen)."""
        return self._index.get(str(id_), UNKNOWN_INDEX)

    def encode(self, column: pl.Expr) -> pl.Expr:
        """Polars expression: ids -> Int32 indices, unseen ids -> the unknown index, nulls -> padding."""
        mapping = pl.DataFrame(
            {"id": self.ids, "index": np.arange(FIRST_INDEX, len(self), dtype=np.int32)}
        )
        ids = column.cast(pl.String)
        indices = ids.replace_strict(
            mapping["id"], mapping["index"], default=UNKNOWN_INDEX, return_dtype=pl.Int32
        )
        return pl.when(ids.is_null()).then(pl.lit(PAD_INDEX, pl.Int32)).otherwise(indices)

    def decode(self, indices: Iterable[int]) -> list[str | None]:
        """Indices -> original ids; padding and unknown decode to None."""
        out: list[str | None] = []
        for i in indices:
            i = int(i)
            out.append(self.ids[i - FIRST_INDEX] if FIRST_INDEX <= i < len(self) else None)
        return out

    def grow(self, ids: Iterable[str]) -> Vocabulary:
        """A new vocabulary with unseen ``ids`` appended; existing indices are unchanged."""
        new = [str(i) for i in dict.fromkeys(ids) if str(i) not in self._index]
        return Vocabulary([*self.ids, *new], name=self.name)

    def to_dict(self) -> dict:
        return {"name": self.name, "pad": PAD_TOKEN, "unknown": UNKNOWN_TOKEN, "ids": self.ids}

    def save(self, path: str | Path) -> Path:
        """Write the vocabulary as JSON atomically (temp file in the same folder, then rename)."""
        return write_json_atomic(path, self.to_dict(), indent=None)

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        """Read a vocabulary written by :meth:`save`; a file of another shape raises ``FormatError``."""
        path = Path(path)
        try:
            payload = json.loads(path.read_text())
            return cls(payload["ids"], name=payload["name"])
        except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise FormatError(f"not an xsell vocabulary file ({exc})", source=str(path)) from exc

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.ids == other.ids and self.name == other.name

    def __repr__(self) -> str:
        return f"Vocabulary(name={self.name!r}, known={self.num_known})"
