"""One run per run folder: the second claim of a folder fails, naming the run that owns it."""

from __future__ import annotations

import json

import pytest

from xsell.errors import OutputError
from xsell.run_folder import RUN_MARKER, claim_run_folder


def test_a_folder_is_claimed_once(tmp_path):
    folder = tmp_path / "runs" / "2026-12-02_10-00-00"
    run_id = claim_run_folder(folder)
    record = json.loads((folder / RUN_MARKER).read_text())
    assert record["run_id"] == run_id and len(run_id) == 32
    with pytest.raises(OutputError, match=rf"run folder {folder} already belongs to another run \(run {run_id}, "
                                          r"started .*\): every run needs its own folder"):
        claim_run_folder(folder)
    assert json.loads((folder / RUN_MARKER).read_text()) == record  # the owner's claim is untouched
    assert claim_run_folder(tmp_path / "other") != run_id
