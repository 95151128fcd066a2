"""Atomic file writes: a reader sees the old file or the new one, never half of one.

The payload goes to a temporary file in the destination folder, is flushed to disk (fsync), and is
then renamed over the destination with ``os.replace``, which is atomic within one file system. On any
error the temporary file is removed and the destination is left untouched. The file gets the mode an
ordinary ``open(path, "w")`` would give it (0666 minus the umask), not the temporary file's 0600. Used for every output the
project writes: checkpoints' small files, metrics rewrites, evaluation results, figure data.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _umask() -> int:
    """The process's file-creation mask (read by setting it and putting it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` atomically, creating the parent folder if needed."""
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
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


def check_file_stem(name: str, option: str) -> None:
    """Raise ``ValueError`` unless ``name`` is a plain file name stem (no folder separators, no leading dot),
    so that files named after it stay inside their output folder."""
    if not name or "/" in name or "\\" in name or name.startswith(".") or name in ("..", "."):
        raise ValueError(f"{option}={name!r} must be a file name stem (no '/', no leading '.'), so its files stay "
                         f"inside the output folder")

