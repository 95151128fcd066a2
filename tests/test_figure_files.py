"""tsallis.files.save_figure: PNG + PDF, the same bytes for the same figure, no timestamps, figure closed."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from tsallis.files import DPI, save_figure


def _figure():
    fig, ax = plt.subplots(figsize=(4, 3), dpi=DPI)
    ax.loglog([1e-6, 1e-3, 1.0], [1.0, 10.0, 1e3], "o-", label="$T \\propto p_0^{-1}$")
    ax.legend()
    fig.tight_layout()
    return fig


def test_both_files_are_written_reproducibly_and_the_figure_is_closed(tmp_path):
    first = _figure()
    paths = save_figure(first, tmp_path / "a")
    assert [p.name for p in paths] == ["a.png", "a.pdf"]
    assert not plt.fignum_exists(first.number)
    save_figure(_figure(), tmp_path / "b")
    for ext in ("png", "pdf"):
        assert (tmp_path / f"a.{ext}").read_bytes() == (tmp_path / f"b.{ext}").read_bytes(), ext
    assert b"CreationDate" not in (tmp_path / "a.pdf").read_bytes()
    assert (tmp_path / "a.png").read_bytes()[16:24] == (4 * DPI).to_bytes(4, "big") + (3 * DPI).to_bytes(4, "big")
    assert not list(tmp_path.glob(".*tmp"))  # written atomically: no temporary file left behind


def test_formats_are_chosen_and_checked(tmp_path):
    assert [p.name for p in save_figure(_figure(), tmp_path / "c", ("png",))] == ["c.png"]
    assert not (tmp_path / "c.pdf").exists()
    for bad in (("svg",), ()):
        with pytest.raises(ValueError, match="figure formats must be among"):
            save_figure(_figure(), tmp_path / "d", bad)
    plt.close("all")


def test_the_one_csv_writer(tmp_path):
    """Header = the union of the keys in first-seen order (or the given columns), floats at full precision, None
    and missing cells empty; nothing to write is an error naming the file."""
    from tsallis.files import write_csv

    path = write_csv(tmp_path / "t.csv", [{"a": 0.1, "b": None}, {"c": 1, "a": 1 / 3}])
    assert path.read_text() == "a,b,c\n0.1,,\n0.3333333333333333,,1\n"
    write_csv(tmp_path / "u.csv", [{"a": 1, "extra": 2}], columns=("a", "b"))
    assert (tmp_path / "u.csv").read_text() == "a,b\n1,\n"
    with pytest.raises(ValueError, match="no rows to write to .*v.csv"):
        write_csv(tmp_path / "v.csv", [])


def test_a_full_disk_names_the_file_and_leaves_it_as_it_was(tmp_path, monkeypatch):
    import errno
    import os

    from tsallis.files import atomic_write_text

    target = tmp_path / "table.csv"
    atomic_write_text(target, "old\n")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match=f"cannot write {target}: no space left on the device \\(9 bytes to write\\)"):
        atomic_write_text(target, "new data\n")
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["table.csv"]
