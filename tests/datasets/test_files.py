"""Atomic file output: all or nothing, with the permissions of a plain ``open``."""

import os
import stat

import pytest

from setbench.datasets.files import atomic_output, find_visible


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_atomic_output_replaces_the_file_with_plain_open_permissions(tmp_path):
    target = tmp_path / "sub" / "table.md"
    with atomic_output(target, "w", encoding="utf-8") as out:
        out.write("new")
    plain = tmp_path / "plain.md"
    plain.write_text("x")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o666 & ~_umask()
    assert sorted(p.name for p in target.parent.iterdir()) == ["table.md"]  # no temporary file left


def test_atomic_output_keeps_the_old_file_and_removes_the_temporary_one_on_error(tmp_path):
    target = tmp_path / "table.md"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_output(target, "w", encoding="utf-8") as out:
            out.write("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["table.md"]


def test_find_visible_skips_hidden_folders(tmp_path):
    (tmp_path / ".extract-a.zip.x").mkdir()
    (tmp_path / ".extract-a.zip.x" / "apparel.csv").write_text("")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "apparel.csv").write_text("")
    assert find_visible(tmp_path, "apparel.csv") == [tmp_path / "data" / "apparel.csv"]
