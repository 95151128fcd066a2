"""Shared plumbing of the figure scripts: data files, sidecars, saving plots and the checks they report.

Every figure module in :mod:`figures` defines

* ``NAME``: the file stem (``NAME.csv``, ``NAME.json``, ``NAME.png``, ``NAME.pdf``),
* ``compute(quick, seed) -> (rows, config)``: runs the simulation; ``rows`` is a list of flat dicts,
* ``plot(data, path_stem)``: draws the figure from the table read back from the CSV, and
* ``checks(data) -> list[Check]``: the numbers that verify the figure's claim, against their prediction,

and :func:`run_figure` chains them so that plotting and checking only ever read the written CSV.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from llm.atomic import atomic_write_bytes  # noqa: E402

Q_COLOURS = {0.0: "#1f77b4", 0.25: "#2ca02c", 0.5: "#ff7f0e", 0.75: "#d62728", 1.0: "#9467bd"}


@dataclass(frozen=True)
class Check:
    """One verified number: what was measured, what the theory predicts, and whether they agree."""

    figure: str
    claim: str
    regime: str
    measured: float
    predicted: float
    tolerance: float
    passed: bool | None
    """True/False for a prediction checked within tolerance; None for an observation with no prediction."""

    @classmethod
    def within(
        cls, figure: str, claim: str, regime: str, measured: float, predicted: float, tolerance: float
    ) -> "Check":
        """A check that passes when |measured - predicted| <= tolerance."""
        ok = bool(np.isfinite(measured) and abs(measured - predicted) <= tolerance)
        return cls(figure, claim, regime, float(measured), float(predicted), float(tolerance), ok)


def git_commit() -> str:
    """The current commit of the repository holding this file, or "unknown" outside git."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _format(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write a list of flat dicts as CSV (the union of their keys is the header, missing cells empty)."""
    if not rows:
        raise ValueError(f"no rows to write to {path}")
    header: list[str] = []
    for row in rows:
        header.extend(key for key in row if key not in header)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _format(value) for key, value in row.items()})
    atomic_write_bytes(path, buffer.getvalue().encode())


class Table:
    """A CSV read back as columns: ``table["q"]`` is a float array when every cell parses, else strings."""

    def __init__(self, path: Path) -> None:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        if not rows:
            raise ValueError(f"{path} has no data rows")
        self.path = path
        self.columns: dict[str, np.ndarray] = {}
        for key in rows[0]:
            cells = [row[key] for row in rows]
            try:
                self.columns[key] = np.array([float(c) if c != "" else np.nan for c in cells])
            except ValueError:
                self.columns[key] = np.array(cells, dtype=object)

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self.columns:
            raise KeyError(f"{self.path} has no column {key!r}; columns are {list(self.columns)}")
        return self.columns[key]

    def where(self, **conditions: Any) -> np.ndarray:
        """Boolean mask of the rows matching every ``column=value`` condition (floats compared with isclose)."""
        mask = np.ones(len(next(iter(self.columns.values()))), dtype=bool)
        for key, value in conditions.items():
            col = self[key]
            if col.dtype == object:
                mask &= col == value
            else:
                mask &= np.isclose(col, float(value))
        return mask


def write_sidecar(path: Path, name: str, config: dict[str, Any], seed: int, quick: bool) -> None:
    """JSON beside the CSV: the figure's config, seed, quick flag and the git commit that produced it."""
    payload = {"figure": name, "seed": seed, "quick": quick, "git_commit": git_commit(), "config": config}
    atomic_write_bytes(path, (json.dumps(payload, indent=2, sort_keys=True, default=_format) + "\n").encode())


def save_figure(fig: plt.Figure, stem: Path) -> list[Path]:
    """Save ``fig`` as ``stem.png`` (150 dpi) and ``stem.pdf`` atomically, with no timestamps (reproducible)."""
    paths = []
    for ext, metadata in (("png", {"Software": None}), ("pdf", {"CreationDate": None, "Producer": None})):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=ext, dpi=150, metadata=metadata, bbox_inches="tight")
        path = stem.with_suffix(f".{ext}")
        atomic_write_bytes(path, buffer.getvalue())
        paths.append(path)
    plt.close(fig)
    return paths


def q_colour(q: float) -> str:
    """A fixed colour per q of the standard grid, so every figure colours q alike."""
    return Q_COLOURS.get(round(float(q), 2), plt.cm.viridis(float(q)))


def plot_escape_medians(ax: plt.Axes, x: np.ndarray, data: Table, mask: np.ndarray, key: str, q: float) -> None:
    """Median escape time with its interquartile range as error bars: GRPO as black stars, GARL by q colour."""
    median = data["median"][mask]
    err = np.vstack([median - data["q25"][mask], data["q75"][mask] - median])
    if key == "grpo":
        ax.errorbar(x, median, yerr=err, fmt="k*", ms=9, mfc="none", capsize=2, label="GRPO (TRL std)")
    else:
        ax.errorbar(x, median, yerr=err, fmt="o", color=q_colour(q), ms=4, capsize=2, label=f"GARL q = {q:g}")


def run_figure(module: ModuleType, out_dir: Path, quick: bool, seed: int) -> list[Check]:
    """compute -> write CSV + JSON sidecar -> plot from the CSV -> checks from the CSV."""
    out_dir = Path(out_dir)
    rows, config = module.compute(quick=quick, seed=seed)
    csv_path = out_dir / f"{module.NAME}.csv"
    write_rows(csv_path, rows)
    write_sidecar(out_dir / f"{module.NAME}.json", module.NAME, config, seed, quick)
    data = Table(csv_path)
    module.plot(data, out_dir / module.NAME)
    return module.checks(data)


def summary_rows(checks: list[Check]) -> list[dict[str, Any]]:
    return [asdict(c) for c in checks]
