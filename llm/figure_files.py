"""Save a matplotlib figure as PNG and PDF: atomically, reproducibly, and without laying it out again.

Every plot of the project (the theory figures, ``tsallis plot``, the cold-start figure) is saved here:

* ``stem.png`` at :data:`DPI` and ``stem.pdf`` (or the chosen :data:`FORMATS`), each written with
  :func:`llm.atomic.atomic_write_bytes`;
* no timestamps or software versions in the files, so the same figure gives the same bytes;
* the figure keeps the layout its plot function gave it (``tight_layout``): the placeholder layout engine
  ``tight_layout`` leaves behind, or ``bbox_inches="tight"``, would make every ``savefig`` lay the figure out
  once more (tick labels, mathtext and all), a third of the drawing time.
"""

from __future__ import annotations

import io
from pathlib import Path

from llm.atomic import atomic_write_bytes

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
