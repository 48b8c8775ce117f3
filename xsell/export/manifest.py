"""What a bundle says about itself (``manifest.json``) and the checks that make it trustworthy.

The manifest records the model, its resolved training config, a fingerprint of the training data, the
run's metrics, the versions that wrote it and the SHA-256 of every other file. :func:`verify` re-hashes
the files and checks the format and torch versions before anything is loaded.
"""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch

import xsell
from xsell.data.sequences import EncodedLog
from xsell.errors import BundleError

FORMAT = "xsell-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SCRIPTED = "scorer.pt"
EXPORTED = "scorer.pt2"
ITEMS = "items.parquet"
CARD = "README.md"
REQUIRED_FILES = (SCRIPTED, EXPORTED, ITEMS, CARD)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def data_fingerprint(log: EncodedLog) -> str:
    """SHA-256 of the encoded log a model was trained and evaluated on: the item vocabulary (original ids
    in index order) and every event's user, item, event type, time-gap bucket and split part."""
    digest = hashlib.sha256()
    digest.update("\n".join(log.item_vocab.ids).encode())
    for array in (log.user, log.item, log.event, log.time_gap, log.part):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def versions() -> dict[str, str]:
    """The versions a bundle is written with (and checked against when it is loaded)."""
    import polars

    return {"xsell": xsell.__version__, "torch": torch.__version__, "python": platform.python_version(),
            "polars": polars.__version__}


def file_entries(folder: Path, names: tuple[str, ...] = REQUIRED_FILES) -> dict[str, dict[str, Any]]:
    """``{name: {"sha256", "bytes"}}`` of the files of a bundle folder."""
    return {name: {"sha256": sha256_file(folder / name), "bytes": (folder / name).stat().st_size}
            for name in names}


def _release(version: str) -> tuple[int, int]:
    major, minor = version.split("+")[0].split(".")[:2]
    return int(major), int(minor)


def verify(folder: Path) -> dict[str, Any]:
    """The manifest of a bundle folder, after checking format, versions, files and checksums.

    Raises ``BundleError`` naming the file when the folder or a file is missing, the manifest is not an
    xsell bundle manifest of a supported version, the running torch is older than the one that wrote the
    bundle, or a file's SHA-256 differs from the manifest's.
    """
    if not folder.is_dir():
        raise BundleError(f"bundle not found: {folder}")
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise BundleError(f"partial bundle: {path} is missing") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"unreadable bundle manifest {path}: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{path} is not an xsell bundle manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{path}: bundle format version {manifest.get('format_version')} is not supported "
                          f"(this xsell {xsell.__version__} reads version {FORMAT_VERSION})")
    written = manifest.get("versions", {}).get("torch", "0.0")
    if _release(torch.__version__) < _release(written):
        raise BundleError(f"{path}: the bundle was written with torch {written}; this is torch "
                          f"{torch.__version__} (upgrade torch to load it)")
    files = manifest.get("files", {})
    for name in REQUIRED_FILES:
        if name not in files:
            raise BundleError(f"{path} lists no checksum for {name}")
    for name, entry in files.items():
        file = folder / name
        if not file.is_file():
            raise BundleError(f"partial bundle: {file} is missing")
        if sha256_file(file) != entry.get("sha256"):
            raise BundleError(f"checksum mismatch: {file} differs from the file the bundle was written with "
                              "(tampered with or corrupted)")
    return manifest
