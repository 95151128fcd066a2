"""File-writing plumbing shared by every part of the project: atomic writes, CSV tables, figures, the git commit.

* Atomic writes: a reader sees the old file or the new one, never half of one. The payload goes to a temporary
  file in the destination folder, is flushed to disk (fsync), and is then renamed over the destination with
  ``os.replace``, which is atomic within one file system. On any error the temporary file is removed and the
  destination is left untouched. The file gets the mode an ordinary ``open(path, "w")`` would give it (0666
  minus the umask), not the temporary file's 0600.
* CSV: :func:`write_csv` is the one writer of tables (figure data, run reports, the cold-start experiment).
* Figures: :func:`save_figure` writes ``stem.png`` at :data:`DPI` and ``stem.pdf`` (or the chosen
  :data:`FORMATS`) atomically, with no timestamps or software versions in the files (the same figure gives the
  same bytes), keeping the layout its plot function gave it (``tight_layout``): the placeholder layout engine
  ``tight_layout`` leaves behind, or ``bbox_inches="tight"``, would make every ``savefig`` lay the figure out once
  more, a third of the drawing time.
* :func:`git_commit`: the commit recorded beside results.

This module imports only the standard library (matplotlib only inside :func:`save_figure`), so ``figures/``,
``sim/`` and ``llm/`` can all use it.
"""

from __future__ import annotations

import csv
import errno
import io
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence


def _umask() -> int:
    """The process's file-creation mask (read by setting it and putting it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` atomically, creating the parent folder if needed. A full disk is an
    ``OSError`` naming the file and the bytes it needed (the destination is left as it was)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; an ordinary file gets 0666 minus the umask
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            raise OSError(errno.ENOSPC, f"cannot write {path}: no space left on the device "
                                        f"({len(payload)} bytes to write)") from None
        raise


def apply_umask_modes(folder: str | Path) -> None:
    """Give ``folder`` and everything under it the modes ``open`` and ``mkdir`` would: 0666 and 0777 minus the
    umask. Folders made by ``tempfile.mkdtemp`` are 0700, and libraries that write through temporary files (the
    ``model.safetensors`` of ``save_pretrained``) leave 0600: call this on a folder written that way before it
    is renamed into place, so other users and serving processes can read what the umask lets them."""
    mask = _umask()
    for root, _, files in os.walk(folder):
        os.chmod(root, 0o777 & ~mask)
        for name in files:
            os.chmod(os.path.join(root, name), 0o666 & ~mask)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def check_writable_folder(path: str | Path, option: str) -> None:
    """Raise (``NotADirectoryError``/``PermissionError``, naming ``option`` and the path) unless ``path`` is a
    folder this process can write into or create; called before any expensive work, creates nothing."""
    path = Path(path)
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise NotADirectoryError(f"{option}={str(path)!r}: {existing} is a file, not a folder")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"{option}={str(path)!r}: cannot write into {existing}")


MAX_STEM_BYTES = 200
"""The longest file name stem accepted: file systems allow 255 bytes, and the longest name written from a stem
(an atomic write's temporary ``.<stem>.summary.json.<random>.tmp``) adds about 30."""


def check_file_stem(name: str, option: str) -> None:
    """Raise ``ValueError`` unless ``name`` is a plain file name stem (no folder separators, no leading dot, at
    most :data:`MAX_STEM_BYTES` bytes), so that files named after it stay inside their output folder and can be
    created."""
    if not name or "/" in name or "\\" in name or name.startswith(".") or name in ("..", "."):
        raise ValueError(f"{option}={name!r} must be a file name stem (no '/', no leading '.'), so its files stay "
                         f"inside the output folder")
    size = len(name.encode("utf-8"))
    if size > MAX_STEM_BYTES:
        raise ValueError(f"{option}={name[:40]!r}... is {size} bytes long; file names built from it need it to be "
                         f"at most {MAX_STEM_BYTES}")


def _cell(value: Any) -> str:
    """A CSV cell: floats (numpy's too) at full precision (``repr``), None as an empty cell, else ``str``."""
    if value is None:
        return ""
    if isinstance(value, float) or type(value).__name__ in ("float16", "float32", "float64", "longdouble"):
        return repr(float(value))
    return str(value)


def csv_text(rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """``rows`` as CSV text with ``\\n`` line ends. The header is ``columns`` (keys not in it are dropped) or, when
    None, the union of the rows' keys in first-seen order; a missing or None cell is empty."""
    rows = list(rows)
    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(key)) for key in columns])
    return buffer.getvalue()


def write_csv(path: str | Path, rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None) -> Path:
    """Write :func:`csv_text` of ``rows`` to ``path`` atomically; return the path. Raises ``ValueError`` naming
    ``path`` when there is neither a row nor a column to write."""
    rows = list(rows)
    if not rows and not columns:
        raise ValueError(f"no rows to write to {path}")
    atomic_write_text(path, csv_text(rows, columns))
    return Path(path)


def git_commit() -> str:
    """The current commit of the repository holding this file, or ``"unknown"`` outside git."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, check=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


DPI = 150
"""Resolution of every PNG. Figures are best made at it too (``plt.subplots(dpi=DPI)``), so that their layout
measures the text at the resolution it is drawn in: once, not at two."""

_NO_TIMESTAMPS = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Producer": None}}
FORMATS = tuple(_NO_TIMESTAMPS)
"""The file formats a figure can be saved in: ("png", "pdf")."""


def save_figure(fig, stem: str | Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Write ``fig`` to ``stem.png`` and ``stem.pdf`` (or ``formats``; see the module docstring), close it, return
    the paths."""
    import matplotlib.pyplot as plt

    unknown = [ext for ext in formats if ext not in _NO_TIMESTAMPS]
    if unknown or not formats:
        raise ValueError(f"figure formats must be among {FORMATS}, got formats={tuple(formats)!r}")
    fig.set_layout_engine(None)
    paths = []
    for ext in formats:
        buffer = io.BytesIO()
        fig.savefig(buffer, format=ext, dpi=DPI, metadata=_NO_TIMESTAMPS[ext])
        path = Path(stem).with_suffix(f".{ext}")
        atomic_write_bytes(path, buffer.getvalue())
        paths.append(path)
    plt.close(fig)
    return paths
