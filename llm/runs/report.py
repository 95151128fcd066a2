"""``tsallis report``: one table row per setting (recipe × algorithm × q or schedule), aggregated over its seeds.

Runs are read from their folders (``config.yaml``, ``metrics.jsonl``) and grouped by :func:`group_runs`: two
runs are seeds of one setting when their configs are equal in everything but :data:`SEED_KEYS`. A setting's
label is ``recipe · algo q=Q`` (q only for the estimators that use it, a schedule written out with its
fields), followed by the settings that tell it apart from other groups with the same recipe, algorithm and
q (e.g. ``optim.lr=2e-05``), so different recipes or overrides are never averaged as if they were seeds.
``tsallis plot`` groups the same way.

Per run (:func:`run_values`):

* ``final X`` / ``best X``: the value of X at the last step that logged it / its maximum over those steps, for
  the held-out maj@k, pass@k and mean@k (``eval/maj@k``, ``eval/pass@k``, ``eval/pass@1``) and, where the run
  logged ``exact/`` metrics (the synthetic task), the exact mean success probabilities of the training and
  held-out prompts (``exact/train_p_mean``, ``exact/heldout_p_mean``; the step-0 value counts for best);
* ``steps``: the last logged step;
* ``generated tokens``: Σ_t completion/length_mean_t × G × M over the steps (the training rollouts; SFT
  generates none);
* ``wall_s``: Σ_t (perf/step_s + perf/eval_s + perf/exact_s), the loop's time without loading and checkpoints.

Per setting, each of these over its R seeds (:func:`llm.runs.aggregate.aggregate`): the mean with its 95 %
percentile-bootstrap interval, and the interquartile mean when R ≥ 4.
"""

from __future__ import annotations

import json
import math
import warnings
from collections import defaultdict
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Sequence

from llm.runs.aggregate import Aggregate, aggregate
from llm.train.config import TrainConfig, build_config
from llm.train.metrics import METRICS_FILE, read_metrics
from llm.train.qsource import adaptive_kind
from tsallis.files import atomic_write_text, write_csv
from tsallis.registry import estimator_spec
from tsallis.schedules import make_schedule

SEED_KEYS = ("seed", "output_dir", "progress", "tensorboard", "checkpoint")
"""Top-level config keys in which the seeds of one setting may differ."""
REPORT_MD, REPORT_CSV = "report.md", "report.csv"


@dataclass
class Run:
    """One run folder, read."""

    path: Path
    config: TrainConfig
    records: list[dict[str, Any]]


def read_run(path: str | Path) -> Run:
    """Read ``config.yaml`` and ``metrics.jsonl`` of a run folder; errors name the missing or invalid file."""
    import yaml

    path = Path(path)
    for name in ("config.yaml", METRICS_FILE):
        if not (path / name).is_file():
            raise FileNotFoundError(f"{path} is not a run folder: {path / name} is missing")
    config = build_config(yaml.safe_load((path / "config.yaml").read_text()), str(path / "config.yaml"))
    return Run(path, config, read_metrics(path))


def read_runs(paths: Sequence[str | Path]) -> list[Run]:
    """Read run folders, each run once, warning (``UserWarning``) about what is left out.

    A folder named twice (by any path to it, after resolving links and ``..``) is read once. A folder that is
    a copy of another given one (the same config and seed, and the same records) is counted once, under the
    first name. A run without any record in ``metrics.jsonl`` is left out: it has nothing to report. Every
    folder must still be a run folder (:func:`read_run`).
    """
    runs: list[Run] = []
    seen: dict[Path, Path] = {}
    for path in paths:
        resolved = Path(path).resolve()
        if resolved in seen:
            warnings.warn(f"{path} names the same run folder as {seen[resolved]}: counted once", stacklevel=2)
            continue
        seen[resolved] = Path(path)
        run = read_run(path)
        copy_of = next((r for r in runs if r.config.to_dict() | {"output_dir": None} ==
                        run.config.to_dict() | {"output_dir": None} and r.records == run.records), None)
        if copy_of is not None:
            warnings.warn(f"{path} is a copy of {copy_of.path} (same config, seed and records): counted once",
                          stacklevel=2)
        elif not run.records:
            warnings.warn(f"{path} has no records in {METRICS_FILE}: left out", stacklevel=2)
        else:
            runs.append(run)
    if not runs:
        raise ValueError(f"no run with records among {[str(p) for p in paths]}")
    return runs


def q_text(q: float | dict[str, Any]) -> str:
    """q as a label: ``0.75``, or a schedule with every field, e.g. ``step(switch_step=100, q_before=1, q_after=0)``."""
    if isinstance(q, (int, float)):
        return f"{q:g}"
    if adaptive_kind(q) is not None:
        return f"{q['kind']}(" + ", ".join(f"{k}={v:g}" for k, v in sorted(q.items()) if k != "kind") + ")"
    schedule = make_schedule(q)
    return f"{q['kind']}(" + ", ".join(f"{f.name}={getattr(schedule, f.name):g}" for f in fields(schedule)) + ")"


def _flat(values: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Dotted keys of a nested config dict, each value as canonical JSON (an ``algo.q`` schedule stays whole)."""
    out = {}
    for key, value in values.items():
        name = prefix + key
        if isinstance(value, dict) and name != "algo.q":
            out.update(_flat(value, name + "."))
        else:
            out[name] = json.dumps(value, sort_keys=True)
    return out


@dataclass
class RunGroup:
    """The seeds of one setting."""

    label: str
    recipe: str
    algo: str
    q: str
    """q as :func:`q_text` writes it; empty for estimators that do not use q."""
    runs: list[Run]


def group_runs(runs: Sequence[Run]) -> list[RunGroup]:
    """Group runs whose configs are equal except for :data:`SEED_KEYS` (module docstring), sorted by label."""
    settings: dict[tuple, list[Run]] = defaultdict(list)
    flats: dict[tuple, dict[str, str]] = {}
    for run in runs:
        flat = {k: v for k, v in _flat(run.config.to_dict()).items() if k.split(".")[0] not in SEED_KEYS}
        key = tuple(sorted(flat.items()))
        settings[key].append(run)
        flats[key] = flat
    by_base: dict[tuple[str, str, str], list[tuple]] = defaultdict(list)
    for key, members in settings.items():
        c = members[0].config
        by_base[(c.recipe, c.algo.name, q_text(c.algo.q) if c.algo.uses_q else "")].append(key)
    groups = []
    for (recipe, algo, q), keys in by_base.items():
        differing = sorted({k for key in keys for k in flats[key] if len({flats[o].get(k) for o in keys}) > 1})
        for key in keys:
            label = f"{recipe} · {algo}" + (f" q={q}" if q else "")
            if differing:
                label += " · " + ", ".join(f"{k}={json.loads(flats[key][k]) if k in flats[key] else None}"
                                           for k in differing)
            groups.append(RunGroup(label, recipe, algo, q, sorted(settings[key], key=lambda r: r.config.seed)))
    return sorted(groups, key=lambda g: g.label)


def metric_names(config: TrainConfig) -> dict[str, str]:
    """metrics.jsonl key → report column name, for a run evaluated with k = ``eval.k`` samples."""
    k = config.eval.k
    return {f"eval/maj@{k}": f"maj@{k}", f"eval/pass@{k}": f"pass@{k}", "eval/pass@1": f"mean@{k}",
            "exact/train_p_mean": "P train", "exact/heldout_p_mean": "P held-out"}


def run_values(run: Run) -> dict[str, float]:
    """The per-run figures of the module docstring, by column name."""
    values: dict[str, float] = {}
    for key, name in metric_names(run.config).items():
        series = [r[key] for r in run.records if r.get(key) is not None]
        if series:
            values[f"final {name}"], values[f"best {name}"] = float(series[-1]), float(max(series))
    trains_on_targets = estimator_spec(run.config.algo.name).trains_on_targets  # SFT: gold targets, nothing sampled
    sequences = 0 if trains_on_targets else run.config.prompts_per_step * run.config.rollout.num_samples
    values["steps"] = float(max((r["step"] for r in run.records), default=0))
    values["generated tokens"] = sequences * sum(r.get("completion/length_mean") or 0.0 for r in run.records)
    values["wall_s"] = sum(r.get(k) or 0.0 for r in run.records for k in ("perf/step_s", "perf/eval_s", "perf/exact_s"))
    return values


def group_table(groups: Sequence[RunGroup]) -> tuple[list[str], list[dict[str, Aggregate]]]:
    """The column names in report order and, per group, each column's :class:`Aggregate` over its seeds."""
    per_group = []
    for group in groups:
        columns: dict[str, list[float]] = defaultdict(list)
        for run in group.runs:
            for name, value in run_values(run).items():
                columns[name].append(value)
        per_group.append({name: aggregate(v) for name, v in columns.items()})
    seen = list(dict.fromkeys(name for row in per_group for name in row))
    metrics = [n for n in seen if n.startswith(("final ", "best "))]
    metrics.sort(key=lambda n: (n.split(" ", 1)[1].startswith("P "), seen.index(n)))  # held-out first, then exact
    return metrics + ["steps", "generated tokens", "wall_s"], per_group


def _cell(a: Aggregate | None, seeds: int, fmt: str = "{:.3f}") -> str:
    """``mean [lo, hi] IQM x``, the parts that exist, and ``(n=…)`` when fewer than all seeds logged it."""
    if a is None:
        return ""
    text = fmt.format(a.mean)
    if not math.isnan(a.lo):
        text += f" [{fmt.format(a.lo)}, {fmt.format(a.hi)}]"
    if not math.isnan(a.iqm):
        text += f" IQM {fmt.format(a.iqm)}"
    return text + (f" (n={a.n})" if a.n < seeds else "")


def markdown(groups: Sequence[RunGroup]) -> str:
    """The report table in Markdown, with a legend."""
    columns, rows = group_table(groups)
    plain = {"steps": "{:g}", "generated tokens": "{:,.0f}", "wall_s": "{:.0f}"}
    lines = ["| setting | seeds | " + " | ".join(columns) + " |", "|---|---:|" + "---:|" * len(columns)]
    for group, row in zip(groups, rows):
        cells = [plain[c].format(row[c].mean) if c in plain else _cell(row.get(c), len(group.runs)) for c in columns]
        lines.append(f"| {group.label} | {len(group.runs)} | " + " | ".join(cells) + " |")
    legend = ("Mean over seeds [95 % percentile-bootstrap interval], IQM = interquartile mean (≥ 4 seeds). final: "
              "the last evaluation; best: the maximum over evaluations; mean@k is eval/pass@1, the expected accuracy "
              "of one sample; P: exact success probability (synthetic task). steps, generated tokens (training "
              "rollouts) and wall_s (seconds in the training loop) are means over seeds.")
    return "\n".join(lines) + "\n\n" + legend + "\n"


def csv_rows(groups: Sequence[RunGroup]) -> tuple[list[str], list[dict[str, Any]]]:
    """The header and one row per group: its key, seeds, and per column ``_mean``, ``_lo``, ``_hi``, ``_iqm``
    (empty when absent or NaN)."""
    columns, rows = group_table(groups)
    header = ["setting", "recipe", "algo", "q", "seeds", "runs"]
    header += [f"{c}_{part}" for c in columns for part in ("mean", "lo", "hi", "iqm")]
    table = []
    for group, row in zip(groups, rows):
        cells: dict[str, Any] = {"setting": group.label, "recipe": group.recipe, "algo": group.algo, "q": group.q,
                                 "seeds": len(group.runs), "runs": " ".join(r.path.name for r in group.runs)}
        for c in columns:
            a = row.get(c)
            for part in ("mean", "lo", "hi", "iqm"):
                value = getattr(a, part) if a else math.nan
                cells[f"{c}_{part}"] = None if math.isnan(value) else value
        table.append(cells)
    return header, table


def write_report(run_dirs: Sequence[str | Path], out_dir: str | Path) -> tuple[str, list[Path]]:
    """Read and group ``run_dirs``, write ``report.md`` and ``report.csv`` to ``out_dir``; return the Markdown
    text and the two paths."""
    groups = group_runs(read_runs(run_dirs))
    text = markdown(groups)
    paths = [Path(out_dir) / REPORT_MD, Path(out_dir) / REPORT_CSV]
    atomic_write_text(paths[0], text)
    header, rows = csv_rows(groups)
    write_csv(paths[1], rows, header)
    return text, paths
