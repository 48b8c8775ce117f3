"""What a bundle says about itself (``manifest.json``) and the checks that make it trustworthy.

The manifest records the model, its resolved training config, a fingerprint of the training data, the
run's metrics, the versions that wrote it and the SHA-256 of every other file; ``manifest.sha256`` beside it
holds the SHA-256 of the manifest's canonical JSON form (sorted keys, no spaces), so an edited value fails
too. :func:`verify` checks all of it, and the signature when a key is set (:mod:`xsell.export.signing`),
before anything is loaded; a bundle holds exactly the files its manifest lists, nothing more or less.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch

import xsell
from xsell.data.sequences import EncodedLog
from xsell.errors import BundleError
from xsell.export.signing import SIGNATURE, check_signature

FORMAT = "xsell-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DIGEST = "manifest.sha256"
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


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 of a model's state (every tensor's name, dtype, shape and bytes, in name order): two exports
    of the same weights share it, whichever checkpoint path or time they came from."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def export_identity(manifest: dict[str, Any]) -> dict[str, Any]:
    """What makes two exports interchangeable: the weights, the training data, the seen-items protocol and
    the cross-sell rules (not the time, the versions or the checkpoint's path). JSON-normalised, so a
    manifest about to be written compares equal to the same manifest read back."""
    identity = {"weights": manifest.get("model", {}).get("weights_sha256"),
                "data": manifest.get("data", {}).get("fingerprint"),
                "protocol": manifest.get("protocol"), "rules": manifest.get("rules")}
    return json.loads(json.dumps(identity))


def versions() -> dict[str, str]:
    """The versions a bundle is written with (and checked against when it is loaded)."""
    import polars

    return {"xsell": xsell.__version__, "torch": torch.__version__, "python": platform.python_version(),
            "polars": polars.__version__}


def file_entries(folder: Path, names: tuple[str, ...] = REQUIRED_FILES) -> dict[str, dict[str, Any]]:
    """``{name: {"sha256", "bytes"}}`` of the files of a bundle folder."""
    return {name: {"sha256": sha256_file(folder / name), "bytes": (folder / name).stat().st_size}
            for name in names}


def canonical(manifest: dict[str, Any]) -> bytes:
    """The manifest's canonical JSON form: sorted keys, no whitespace, ASCII only."""
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def manifest_digest(manifest: dict[str, Any]) -> str:
    """Hex SHA-256 of :func:`canonical` ``(manifest)``."""
    return hashlib.sha256(canonical(manifest)).hexdigest()


def write_manifest(folder: Path, manifest: dict[str, Any]) -> str:
    """Write ``manifest.json`` and its digest (``manifest.sha256``) into ``folder``; returns the digest
    of the manifest as it reads back from disk."""
    text = json.dumps(manifest, indent=2)
    (folder / MANIFEST).write_text(text)
    digest = manifest_digest(json.loads(text))
    (folder / DIGEST).write_text(digest + "\n")
    return digest


def is_bundle(folder: Path) -> bool:
    """Whether ``folder`` holds an xsell bundle manifest (checked before a bundle folder is replaced)."""
    try:
        return json.loads((folder / MANIFEST).read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _release(version: str) -> tuple[int, int]:
    major, minor = version.split("+")[0].split(".")[:2]
    return int(major), int(minor)


def verify(folder: Path, key: bytes | None = None) -> dict[str, Any]:
    """The manifest of a bundle folder, after checking the manifest's digest, the signature (when ``key`` is
    given), format, versions, the set of files and their checksums.

    Raises ``BundleError`` naming the file when the folder or a file is missing or extra, the manifest's
    digest differs (a value was edited), the signature is missing or wrong while a key is set, the manifest
    is not an xsell bundle manifest of a supported version, the running torch is older than the one that
    wrote the bundle, or a file's SHA-256 differs from the manifest's.
    """
    if not folder.is_dir():
        raise BundleError(f"bundle not found: {folder}")
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text())
        recorded = (folder / DIGEST).read_text().strip()
    except FileNotFoundError as exc:
        raise BundleError(f"partial bundle: {exc.filename} is missing") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"unreadable bundle manifest {path}: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{path} is not an xsell bundle manifest")
    digest = manifest_digest(manifest)
    if not hmac.compare_digest(recorded, digest):
        raise BundleError(f"manifest digest mismatch: {path} differs from the manifest the bundle was written "
                          f"with ({DIGEST}): edited or corrupted")
    check_signature(folder, digest, key)
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
    for name in files:
        if Path(name).name != name or name in (MANIFEST, DIGEST, SIGNATURE):
            raise BundleError(f"{path} lists {name!r}, which is not a file of the bundle folder")
    present = {entry.name for entry in folder.iterdir()}
    extra = sorted(present - set(files) - {MANIFEST, DIGEST, SIGNATURE})
    if extra:
        raise BundleError(f"unexpected file in bundle: {folder / extra[0]} is not listed in {path} "
                          f"({len(extra)} extra)")
    for name, entry in files.items():
        file = folder / name
        if not file.is_file() or file.is_symlink():
            raise BundleError(f"partial bundle: {file} is missing")
        if sha256_file(file) != entry.get("sha256"):
            raise BundleError(f"checksum mismatch: {file} differs from the file the bundle was written with "
                              "(tampered with or corrupted)")
    return manifest
