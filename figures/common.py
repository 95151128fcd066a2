"""Shared plumbing of the figure scripts: data files, sidecars and the checks they report (plots are saved by
:func:`tsallis.files.save_figure`).

Every figure module in :mod:`figures` defines

* ``NAME``: the file stem (``NAME.csv``, ``NAME.json``, ``NAME.png``, ``NAME.pdf``),
* ``compute(quick, seed) -> (rows, config)``: runs the simulation; ``rows`` is a list of flat dicts,
* ``plot(data) -> Figure``: draws the figure from the table read back from the CSV (:func:`run_figure` saves it), and
* ``checks(data) -> list[Check]``: the numbers that verify the figure's claim, each with its relation to
  the prediction (≈ within a tolerance, a bound ≤ ≥ < >, or info),

and :func:`run_figure` chains them so that plotting and checking only ever read the written CSV.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import matplotlib.pyplot as plt  # without a display, matplotlib picks the Agg backend by itself
import numpy as np

from tsallis.files import FORMATS, atomic_write_bytes, git_commit, save_figure, write_csv

Q_COLOURS = {0.0: "#1f77b4", 0.25: "#2ca02c", 0.5: "#ff7f0e", 0.75: "#d62728", 1.0: "#9467bd"}


RELATIONS = ("≈", "≤", "≥", "<", ">", "info")
"""How a check's measured value relates to its ``predicted`` value: equal within ``tolerance`` (≈), a
bound (≤, ≥, <, >), or an observation reported without a prediction (info)."""


@dataclass(frozen=True)
class Check:
    """One verified number: what was measured, how it must relate to the theory's value, and whether it does.

    ``relation`` "≈" passes when |measured - predicted| <= tolerance; "≤", "≥", "<" and ">" pass when
    ``measured <relation> predicted`` (``predicted`` is then the bound and ``tolerance`` is NaN, not
    applicable); "info" is an observation with no prediction (``predicted`` and ``tolerance`` NaN,
    ``passed`` None). A NaN measurement fails every relation but info. ``passed`` is computed here,
    never given, so it always agrees with the relation.
    """

    figure: str
    claim: str
    regime: str
    measured: float
    relation: str
    predicted: float = float("nan")
    """The prediction (≈) or the bound (≤, ≥, <, >); NaN for info."""
    tolerance: float = float("nan")
    """Allowed |measured - predicted| for ≈ (finite, >= 0); NaN for the other relations."""
    passed: bool | None = field(init=False)
    """True/False for a prediction or bound; None for info."""

    def __post_init__(self) -> None:
        if self.relation not in RELATIONS:
            raise ValueError(f"relation must be one of {RELATIONS}, got relation={self.relation!r}")
        for name in ("measured", "predicted", "tolerance"):
            object.__setattr__(self, name, float(getattr(self, name)))
        tol_given = not np.isnan(self.tolerance)
        if self.relation == "≈" and not (tol_given and np.isfinite(self.tolerance) and self.tolerance >= 0):
            raise ValueError(f"relation '≈' needs a finite tolerance >= 0, got tolerance={self.tolerance!r} ({self.claim})")
        if self.relation != "≈" and tol_given:
            raise ValueError(f"tolerance applies to '≈' only, got relation={self.relation!r} ({self.claim})")
        if self.relation != "info" and np.isnan(self.predicted):
            raise ValueError(f"relation {self.relation!r} needs a predicted value or bound ({self.claim})")
        object.__setattr__(self, "passed", self._evaluate())

    def _evaluate(self) -> bool | None:
        m, p = self.measured, self.predicted
        if self.relation == "info":
            return None
        if not np.isfinite(m):
            return False
        return bool({"≈": abs(m - p) <= self.tolerance, "≤": m <= p, "≥": m >= p, "<": m < p, ">": m > p}[self.relation])

    @classmethod
    def within(
        cls, figure: str, claim: str, regime: str, measured: float, predicted: float, tolerance: float
    ) -> "Check":
        """A check that passes when |measured - predicted| <= tolerance (relation "≈")."""
        return cls(figure, claim, regime, measured, "≈", predicted, tolerance)


def _json_value(value: Any) -> str:
    """A sidecar value JSON cannot hold: numpy floats at full precision (``repr``), anything else as ``str``."""
    return repr(float(value)) if isinstance(value, np.floating) else str(value)


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
    atomic_write_bytes(path, (json.dumps(payload, indent=2, sort_keys=True, default=_json_value) + "\n").encode())


def q_colour(q: float) -> str:
    """A fixed colour per q of the standard grid, so every figure colours q alike."""
    return Q_COLOURS.get(round(float(q), 2), plt.cm.viridis(float(q)))


def plot_escape_medians(ax: plt.Axes, x: np.ndarray, data: Table, mask: np.ndarray, key: str, q: float) -> None:
    """Median escape time with its interquartile range as error bars: GRPO as black stars, GARL by q colour."""
    median = data["median"][mask]
    err = np.vstack([median - data["p25"][mask], data["p75"][mask] - median])
    if key == "grpo":
        ax.errorbar(x, median, yerr=err, fmt="k*", ms=9, mfc="none", capsize=2, label="GRPO (TRL std)")
    else:
        ax.errorbar(x, median, yerr=err, fmt="o", color=q_colour(q), ms=4, capsize=2, label=f"GARL q = {q:g}")


def run_figure(module: ModuleType, out_dir: Path, quick: bool, seed: int,
               formats: tuple[str, ...] = FORMATS) -> list[Check]:
    """compute -> write CSV + JSON sidecar -> plot from the CSV (saved in ``formats``) -> checks from the CSV."""
    out_dir = Path(out_dir)
    rows, config = module.compute(quick=quick, seed=seed)
    csv_path = out_dir / f"{module.NAME}.csv"
    write_csv(csv_path, rows)
    write_sidecar(out_dir / f"{module.NAME}.json", module.NAME, config, seed, quick)
    data = Table(csv_path)
    save_figure(module.plot(data), out_dir / module.NAME, formats)
    return module.checks(data)


def summary_rows(checks: list[Check]) -> list[dict[str, Any]]:
    """The checks as rows of ``summary.csv``: a value that does not apply (NaN) is an empty cell, and ``passed`` is
    written as ``True``, ``False`` or ``None`` (an observation without a prediction)."""
    return [{**{k: "" if isinstance(v, float) and np.isnan(v) else v for k, v in asdict(c).items()},
             "passed": str(c.passed)} for c in checks]
