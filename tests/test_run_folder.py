"""One run per run folder: the second claim of a folder fails, naming the run that owns it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from xsell.errors import OutputError
from xsell.run_folder import RUN_MARKER, claim_run_folder, reenter_run_folder, release_run_folder

ROOT = Path(__file__).resolve().parents[1]


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


def test_a_resumed_run_reenters_its_folder_while_no_process_trains_there(tmp_path):
    """The claiming process holds a lock while it trains: its folder cannot be re-entered by another process
    until it releases it (or dies); then a resume re-enters it, keeping the run id and noting the resumption."""
    folder = tmp_path / "run"
    run_id = claim_run_folder(folder)
    other = subprocess.run([sys.executable, "-c", f"from xsell.run_folder import reenter_run_folder as r; r({str(folder)!r})"],
                           capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert other.returncode != 0 and f"run folder {folder} is in use: its run (run {run_id}" in other.stderr
    assert reenter_run_folder(folder) == run_id  # the process that holds it may continue its own run
    release_run_folder(folder)
    again = subprocess.run([sys.executable, "-c", f"from xsell.run_folder import reenter_run_folder as r; print(r({str(folder)!r}))"],
                           capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert again.returncode == 0 and again.stdout.strip() == run_id, again.stderr
    record = json.loads((folder / RUN_MARKER).read_text())
    assert record["run_id"] == run_id and len(record["resumed"]) == 2
    with pytest.raises(OutputError, match="already belongs to another run"):
        claim_run_folder(folder)  # a new run is still refused


def test_a_folder_without_a_claim_cannot_be_reentered(tmp_path):
    with pytest.raises(OutputError, match=rf"run folder {tmp_path} has no {RUN_MARKER}: .*no run to continue"):
        reenter_run_folder(tmp_path)
