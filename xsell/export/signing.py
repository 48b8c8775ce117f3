"""Bundle authenticity: an HMAC-SHA256 signature over the manifest digest, with a key the holder keeps.

The checksums of a bundle (every file's SHA-256 in the manifest, the manifest's own digest beside it)
catch corruption and edits by someone who does not re-hash; anyone can re-hash, though. A signature made
with a secret key adds that only a holder of the key can produce a bundle that verifies. The key comes
from a key file given by config or argument, else from the environment variable ``XSELL_BUNDLE_KEY``;
when a key is set, export signs and loading requires a valid signature.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from xsell.errors import BundleError

KEY_ENV = "XSELL_BUNDLE_KEY"
SIGNATURE = "manifest.sig"


def bundle_key(key_file: str | Path | None = None) -> bytes | None:
    """The signing key: the bytes of ``key_file`` (surrounding whitespace dropped) when given, else
    ``$XSELL_BUNDLE_KEY`` (UTF-8), else None. An empty or unreadable key file raises ``BundleError``."""
    if key_file is not None:
        path = Path(key_file)
        try:
            key = path.read_bytes().strip()
        except OSError as exc:
            raise BundleError(f"cannot read the bundle key file {path}: {exc.strerror or exc}") from exc
        if not key:
            raise BundleError(f"the bundle key file {path} is empty")
        return key
    value = os.environ.get(KEY_ENV, "")
    return value.encode() if value else None


def sign(digest: str, key: bytes) -> str:
    """Hex HMAC-SHA256 of a manifest digest under ``key``."""
    return hmac.new(key, digest.encode(), hashlib.sha256).hexdigest()


def write_signature(folder: Path, digest: str, key: bytes) -> Path:
    """Write the signature of ``digest`` into ``folder`` (the bundle being built)."""
    path = folder / SIGNATURE
    path.write_text(sign(digest, key) + "\n")
    return path


def check_signature(folder: Path, digest: str, key: bytes | None) -> None:
    """Nothing to do without a key; with one, the bundle must carry a signature of ``digest`` under it
    (compared in constant time). Raises ``BundleError`` naming the file otherwise."""
    if key is None:
        return
    path = folder / SIGNATURE
    if not path.is_file():
        raise BundleError(f"unsigned bundle {folder}: a bundle key is set ({KEY_ENV} or a key file), so only "
                          f"bundles signed with it load (no {SIGNATURE})")
    if not hmac.compare_digest(path.read_bytes().strip(), sign(digest, key).encode()):
        raise BundleError(f"signature mismatch in {path}: the bundle was signed with another key or changed "
                          "after signing")
