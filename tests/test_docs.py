"""Every Python block of README.md and docs/*.md runs verbatim, in order, one namespace per document, in a
fresh working folder (what a newcomer pasting them into a notebook gets).

A block preceded by ``<!-- no-run: why -->`` needs something that cannot exist here (a user's own file) and
is only compiled; a block reading ``../shared/data`` runs when the real data sets are there (reached from the
working folder as from a checkout beside them) and is only compiled otherwise. Example item ids must come from
the data they are used with: an ``UnknownItemWarning`` fails the test.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA
from xsell.errors import UnknownItemWarning

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(?:<!--\s*no-run:(?P<why>[^>]*)-->\s*\n)?^```python\n(?P<code>.*?)^```", re.S | re.M)
SHARED = "../shared/data"


@dataclass(frozen=True)
class Block:
    code: str
    line: int
    no_run: str | None  # why the block is only compiled

    @property
    def needs_shared_data(self) -> bool:
        return SHARED in self.code


def python_blocks(path: Path) -> list[Block]:
    text = path.read_text()
    return [Block(m["code"], text.count("\n", 0, m.start("code")) + 1, m["why"] and m["why"].strip())
            for m in BLOCK.finditer(text)]


def test_every_python_block_is_found():
    """The parser sees every fence, and a no-run mark always says why."""
    for path in DOCUMENTS:
        text = path.read_text()
        assert len(python_blocks(path)) == len(re.findall(r"^```python$", text, re.M)), path
        assert all(block.no_run for block in python_blocks(path) if block.no_run is not None), path
        assert text.count("no-run:") == sum(block.no_run is not None for block in python_blocks(path)), path


@pytest.mark.parametrize("path", [p for p in DOCUMENTS if python_blocks(p)], ids=lambda p: p.name)
def test_python_blocks_run_verbatim(path, tmp_path, monkeypatch):
    work = tmp_path / "checkout"
    work.mkdir()
    if SHARED_DATA.is_dir():
        (tmp_path / "shared").symlink_to(SHARED_DATA.parent, target_is_directory=True)
    monkeypatch.chdir(work)
    namespace: dict = {"__name__": "__main__"}
    ran = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownItemWarning)
        for block in python_blocks(path):
            code = compile(block.code, f"{path.relative_to(ROOT)}:{block.line}", "exec")
            if block.no_run is not None or (block.needs_shared_data and not SHARED_DATA.is_dir()):
                continue
            exec(code, namespace)
            ran += 1
    assert ran > 0
