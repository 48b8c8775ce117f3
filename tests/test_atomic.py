"""``xsell.atomic``: a folder appears complete or not at all."""

from __future__ import annotations

import pytest

from xsell.atomic import atomic_directory


def test_folder_appears_only_when_complete(tmp_path):
    target = tmp_path / "bundle"
    with atomic_directory(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".bundle.") and not target.exists()
        (tmp / "a.txt").write_text("a")
    assert (target / "a.txt").read_text() == "a" and [p.name for p in tmp_path.iterdir()] == ["bundle"]


def test_failure_removes_the_temp_folder_and_keeps_the_old_one(tmp_path):
    target = tmp_path / "bundle"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(FileExistsError):
        with atomic_directory(target):
            pass
    with pytest.raises(KeyError):
        with atomic_directory(target, overwrite=True) as tmp:
            (tmp / "new.txt").write_text("new")
            raise KeyError("half-way")
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"] and (target / "old.txt").read_text() == "old"
    with atomic_directory(target, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]
