"""Signed bundles: with a key set, export signs (HMAC-SHA256 over the manifest digest) and loading accepts
only bundles signed with that key; without a key the checksums alone are checked."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.export.toy import COUNTS, ITEM_TABLE, MANIFEST, LastItem
from xsell.errors import BundleError
from xsell.export.bundle import load_bundle, write_bundle
from xsell.export.manifest import manifest_digest, sha256_file
from xsell.export.scorer import TopKScorer
from xsell.export.signing import KEY_ENV, SIGNATURE, bundle_key, sign


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    """A toy bundle exported with a key file (the environment key unset)."""
    folder = tmp_path_factory.mktemp("signed")
    key = folder / "bundle.key"
    key.write_text("s3cret-key\n")
    with pytest.MonkeyPatch.context() as env:
        env.delenv(KEY_ENV, raising=False)
        path = write_bundle(folder / "bundle", TopKScorer(LastItem(), COUNTS), ITEM_TABLE, MANIFEST, key_file=key)
    return path, key


@pytest.fixture
def copy(signed, tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    return shutil.copytree(signed[0], tmp_path / "bundle")


def test_export_signs_and_the_same_key_verifies(signed, monkeypatch):
    path, key = signed
    digest = (path / "manifest.sha256").read_text().strip()
    assert (path / SIGNATURE).read_text().strip() == sign(digest, b"s3cret-key")
    assert load_bundle(path, key_file=key).manifest["format"] == "xsell-bundle"
    monkeypatch.setenv(KEY_ENV, "s3cret-key")
    assert load_bundle(path).path == path
    monkeypatch.delenv(KEY_ENV)
    assert load_bundle(path).path == path  # no key set: checksums only


def test_another_key_or_no_signature_is_refused(copy, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "another-key")
    with pytest.raises(BundleError, match=rf"signature mismatch in .*{SIGNATURE}: .*another key"):
        load_bundle(copy)
    (copy / SIGNATURE).unlink()
    with pytest.raises(BundleError, match=f"unsigned bundle {copy}: a bundle key is set"):
        load_bundle(copy)


def test_a_re_hashed_tampered_bundle_passes_the_checksums_but_not_the_signature(copy, signed):
    """Someone without the key replaces a file and recomputes every checksum: only the signature catches it."""
    (copy / "README.md").write_text("# another card\n")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["files"]["README.md"]["sha256"] = sha256_file(copy / "README.md")
    manifest["files"]["README.md"]["bytes"] = (copy / "README.md").stat().st_size
    (copy / "manifest.json").write_text(json.dumps(manifest))
    (copy / "manifest.sha256").write_text(manifest_digest(manifest))
    assert load_bundle(copy).path == copy  # checksums alone cannot tell
    with pytest.raises(BundleError, match="signature mismatch"):
        load_bundle(copy, key_file=signed[1])


def test_key_sources(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    assert bundle_key() is None
    monkeypatch.setenv(KEY_ENV, "from-env")
    assert bundle_key() == b"from-env"
    (tmp_path / "k").write_text("  from-file \n")
    assert bundle_key(tmp_path / "k") == b"from-file"  # a key file wins over the environment
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(BundleError, match="key file .*empty is empty"):
        bundle_key(tmp_path / "empty")
    with pytest.raises(BundleError, match="cannot read the bundle key file .*missing"):
        bundle_key(tmp_path / "missing")
