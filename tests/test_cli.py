"""Entry points end with status 0 on success, 2 and one line for bad input (traceback with XSELL_DEBUG=1),
and let internal failures through (status 1)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.errors import InstantiationException

from xsell.cli import run_cli
from xsell.data.cli import main as data_main
from xsell.errors import ConfigError, SchemaError

ROOT = Path(__file__).resolve().parents[1]


def run_module(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XSELL_DEBUG": "0"}
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_bad_input_exits_2_with_one_line(capsys, monkeypatch):
    monkeypatch.delenv("XSELL_DEBUG", raising=False)

    @run_cli
    def main(error: Exception):
        raise error

    for error, line in ((SchemaError("null values\nmore", source="log.csv", column="user_id"),
                         "error: SchemaError: null values"),
                        (InstantiationException("Error in call to target"), None)):
        if line is None:  # a Hydra wrapper around a bug is not bad input
            with pytest.raises(InstantiationException):
                main(error)
            continue
        with pytest.raises(SystemExit) as exit_info:
            main(error)
        assert exit_info.value.code == 2 and capsys.readouterr().err == line + "\n"
    wrapped = InstantiationException("Error in call to target 'SequenceDataModule'")
    wrapped.__cause__ = ConfigError("data.max_len=0 is not allowed")
    with pytest.raises(SystemExit):
        main(wrapped)
    assert capsys.readouterr().err == "error: ConfigError: data.max_len=0 is not allowed\n"
    with pytest.raises(RuntimeError, match="a bug"):  # internal failures keep their traceback (status 1)
        main(RuntimeError("a bug"))
    monkeypatch.setenv("XSELL_DEBUG", "1")
    with pytest.raises(SystemExit) as exit_info:
        main(SchemaError("null values", source="log.csv"))
    printed = capsys.readouterr().err
    assert exit_info.value.code == 2 and printed.startswith("Traceback") and "SchemaError: null values" in printed


def test_success_passes_the_return_value_through():
    assert run_cli(lambda x: x + 1)(1) == 2


def test_train_with_a_bad_value_exits_2_before_reading_data(tmp_path):
    """Through Hydra: its ``@hydra.main`` lets the wrapper's exit status through."""
    result = run_module("xsell.train", "trainer.max_epochs=abc", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == ("error: ConfigError: trainer.max_epochs='abc' is not allowed: "
                                                      "expected an integer >= 1 or -1")
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()  # nor Hydra's log of it


def test_a_failed_evaluation_leaves_no_folder_with_only_a_log(tmp_path):
    result = run_module("xsell.evaluate", f"ckpt={tmp_path / 'missing.ckpt'}", f"hydra.run.dir={tmp_path / 'eval'}",
                        cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.strip().endswith(f"checkpoint not found: {tmp_path / 'missing.ckpt'}")
    assert not (tmp_path / "eval").exists()


def test_a_failed_run_keeps_a_folder_holding_anything_but_hydras_files(tmp_path, monkeypatch):
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from xsell.cli import remove_hydra_only_folder

    folder = tmp_path / "run"
    (folder / ".hydra").mkdir(parents=True)
    for name in (".hydra/config.yaml", ".hydra/hydra.yaml", ".hydra/overrides.yaml", "evaluate.log"):
        (folder / name).write_text("x")
    hydra = OmegaConf.create({"runtime": {"output_dir": str(folder)}, "output_subdir": ".hydra",
                              "job": {"name": "evaluate"}})
    monkeypatch.setattr(HydraConfig, "initialized", staticmethod(lambda: True))
    monkeypatch.setattr(HydraConfig, "get", staticmethod(lambda: hydra))
    (folder / "metrics.json").write_text("{}")  # a file the command wrote: the folder is kept whole
    assert remove_hydra_only_folder() == [] and len(list(folder.rglob("*"))) == 6
    (folder / "metrics.json").unlink()
    assert len(remove_hydra_only_folder()) == 6 and not folder.exists()


def test_xsell_data_returns_none_so_its_console_script_exits_0(capsys):
    """Console scripts run ``sys.exit(main())``: anything but None would be status 1."""
    assert data_main(["--n-events", "2000", "--json"]) is None
    assert '"events": 2000' in capsys.readouterr().out
