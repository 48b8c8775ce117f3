"""``xsell.atomic``: a folder appears complete or not at all."""

from __future__ import annotations

import pytest

from xsell.atomic import atomic_directory
from xsell.errors import OutputError


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


def test_overwrite_replaces_only_what_the_owner_check_accepts(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("x")
    owned = lambda path: (path / "ours").is_file()  # noqa: E731
    with pytest.raises(OutputError, match=f"{target} is not empty and not written by xsell"):
        with atomic_directory(target, overwrite=True, owned=owned):
            pass
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    (target / "ours").write_text("")
    with atomic_directory(target, overwrite=True, owned=owned) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with atomic_directory(empty, overwrite=True, owned=owned) as tmp:  # an empty folder holds nothing to lose
        (tmp / "a").write_text("a")
    assert (empty / "a").is_file()


def test_leftovers_of_a_killed_write_are_removed_by_the_next_one(tmp_path):
    for name in (".out.abc.tmp", ".out.def.old", ".other.abc.tmp"):
        (tmp_path / name).mkdir()
    (tmp_path / ".out.x.tmp").write_text("a file, not our temp folder")
    with atomic_directory(tmp_path / "out"):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.abc.tmp", ".out.x.tmp", "out"]
