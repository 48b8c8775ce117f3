"""``manifest.json``: content, and verification that fails loudly (naming the file) on a partial, tampered or
unsupported bundle."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

import xsell
from xsell.errors import BundleError, CheckpointError
from xsell.export.bundle import load_bundle
from xsell.export.manifest import REQUIRED_FILES, data_fingerprint, manifest_digest, sha256_file, verify


@pytest.fixture
def bundle(export_of, tmp_path):
    """A private copy of the SASRec bundle, free to break."""
    return shutil.copytree(export_of("sasrec").path, tmp_path / "bundle")


def edit_manifest(path, change, *, rehash: bool = True) -> None:
    """Change the manifest; ``rehash`` also rewrites its digest (as a writer of another version would)."""
    manifest = json.loads((path / "manifest.json").read_text())
    change(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))
    if rehash:
        (path / "manifest.sha256").write_text(manifest_digest(manifest))


def test_manifest_records_the_model_data_metrics_versions_and_checksums(export_of, shop):
    path = export_of("sasrec").path
    manifest = verify(path)
    assert manifest["format"] == "xsell-bundle" and manifest["format_version"] == 1
    assert manifest["model"]["name"] == "SASRec" and manifest["model"]["num_items"] == shop.num_items
    assert manifest["model"]["max_len"] == 16 and manifest["model"]["dim"] == 16
    assert manifest["config"]["inputs"] == {"event_types": False, "time_gaps": False}
    assert manifest["data"]["fingerprint"] == data_fingerprint(shop.log)
    assert manifest["data"]["item_vocabulary"] == shop.num_items
    assert manifest["metrics"] == {"val": {"ndcg@10": 0.25}, "test": {"ndcg@10": 0.5}}
    assert manifest["versions"]["xsell"] == xsell.__version__ and manifest["versions"]["torch"] == torch.__version__
    assert set(manifest["files"]) == set(REQUIRED_FILES)
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == sha256_file(path / name) and entry["bytes"] == (path / name).stat().st_size
    assert manifest["scorer"]["inputs"] == ["items", "k", "exclude"]
    assert all(p["index_mismatches"] == 0 and p["max_abs_diff"] <= 1e-5 for p in manifest["parity"].values())
    card = (path / "README.md").read_text()
    assert card.startswith("# SASRec next-item scorer") and "| ndcg@10 | 0.2500 | 0.5000 |" in card


def test_fingerprint_changes_with_the_data(shop):
    log = shop.log
    before = data_fingerprint(log)
    assert before == data_fingerprint(log) and len(before) == 64
    original = log.item.copy()
    try:
        log.item[0] = np.int32(log.item[0] + 1)
        assert data_fingerprint(log) != before
    finally:
        log.item[:] = original


@pytest.mark.parametrize("name", REQUIRED_FILES)
def test_tampered_file_fails_naming_it(bundle, name):
    with (bundle / name).open("r+b") as f:
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(BundleError, match=rf"checksum mismatch: .*{name}"):
        load_bundle(bundle)


@pytest.mark.parametrize("name", [*REQUIRED_FILES, "manifest.json", "manifest.sha256"])
def test_partial_bundle_fails_naming_the_missing_file(bundle, name):
    (bundle / name).unlink()
    with pytest.raises(BundleError, match=rf"partial bundle: .*{name} is missing"):
        load_bundle(bundle)


def test_unsupported_or_foreign_manifests_fail(bundle, tmp_path):
    with pytest.raises(BundleError, match="bundle not found"):
        load_bundle(tmp_path / "nowhere")
    edit_manifest(bundle, lambda m: m["versions"].update(torch="99.0.0"))
    with pytest.raises(BundleError, match=r"written with torch 99\.0\.0"):
        load_bundle(bundle)
    edit_manifest(bundle, lambda m: m.update(format_version=2))
    with pytest.raises(BundleError, match="format version 2 is not supported"):
        load_bundle(bundle)
    edit_manifest(bundle, lambda m: m.update(format="something-else"))
    with pytest.raises(BundleError, match="not an xsell bundle manifest"):
        load_bundle(bundle)
    (bundle / "manifest.json").write_text("{ not json")
    with pytest.raises(BundleError, match="unreadable bundle manifest"):
        load_bundle(bundle)


def test_a_checksum_dropped_from_the_manifest_fails(bundle):
    edit_manifest(bundle, lambda m: m["files"].pop("scorer.pt2"))
    with pytest.raises(BundleError, match="lists no checksum for scorer.pt2"):
        load_bundle(bundle)


def test_bundle_errors_are_checkpoint_errors():
    assert issubclass(BundleError, CheckpointError)


@pytest.mark.parametrize("edit", [lambda m: m["model"].update(dim=m["model"]["dim"] + 1),
                                  lambda m: m["scorer"].update(max_len=1000),
                                  lambda m: m.update(source_checkpoint="/tmp/elsewhere/best.ckpt")],
                         ids=["dim", "scorer.max_len", "source_checkpoint"])
def test_an_edited_manifest_value_fails(bundle, edit):
    edit_manifest(bundle, edit, rehash=False)
    with pytest.raises(BundleError, match=r"manifest digest mismatch: .*manifest\.json .*edited or corrupted"):
        load_bundle(bundle)


def test_a_replaced_scorer_with_its_checksum_recomputed_fails(bundle, export_of):
    shutil.copy(export_of("gru4rec").path / "scorer.pt", bundle / "scorer.pt")
    edit_manifest(bundle, lambda m: m["files"]["scorer.pt"].update(sha256=sha256_file(bundle / "scorer.pt")),
                  rehash=False)
    with pytest.raises(BundleError, match="manifest digest mismatch"):
        load_bundle(bundle)


def test_extra_files_and_paths_outside_the_folder_fail(bundle):
    (bundle / "notes.txt").write_text("not part of the bundle")
    with pytest.raises(BundleError, match=r"unexpected file in bundle: .*notes\.txt is not listed"):
        load_bundle(bundle)
    (bundle / "notes.txt").unlink()
    edit_manifest(bundle, lambda m: m["files"].update({"../manifest.json": {"sha256": "0"}}))
    with pytest.raises(BundleError, match=r"lists '\.\./manifest\.json', which is not a file of the bundle"):
        load_bundle(bundle)
