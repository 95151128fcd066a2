"""Per-step metrics: averaged over the whole update (every micro-batch, every rank), written as JSONL.

Keys are namespaced (``reward/``, ``p_hat/``, ``groups/``, ``amplification/``, ``paft/``, ``loss/``,
``train/``, ``completion/``, ``eval/``, ``perf/``). ``perf/`` keys are wall-clock measurements and
the only ones that differ between two runs with the same seed on CPU.
"""

from __future__ import annotations

import json
import math
import resource
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tsallis.diagnostics import group_diagnostics
from tsallis.files import atomic_write_text

METRICS_FILE = "metrics.jsonl"


class UpdateMeans:
    """Token- or sample-weighted means accumulated over the micro-batches of one update."""

    def __init__(self) -> None:
        self._sums: dict[str, float] = {}
        self._counts: dict[str, float] = {}

    def add(self, name: str, total: float | torch.Tensor, count: float | torch.Tensor) -> None:
        """Add a sum of ``count`` values to metric ``name``."""
        self._sums[name] = self._sums.get(name, 0.0) + float(total)
        self._counts[name] = self._counts.get(name, 0.0) + float(count)

    def merge(self, other: "UpdateMeans") -> None:
        """Add every metric of ``other`` (another pass over the same update) to this one."""
        for name in other._sums:
            self.add(name, other._sums[name], other._counts[name])

    def means(self, accelerator=None) -> dict[str, float]:
        """Σ total / Σ count per metric, summed over ranks first when ``accelerator`` is given."""
        names = sorted(self._sums)
        if not names:
            return {}
        stacked = torch.tensor([[self._sums[n], self._counts[n]] for n in names], dtype=torch.float64)
        if accelerator is not None and accelerator.num_processes > 1:
            stacked = accelerator.reduce(stacked.to(accelerator.device), reduction="sum").cpu()
        return {n: (s / c if c > 0 else math.nan) for n, (s, c) in zip(names, stacked.tolist())}


def peak_memory_gb(device: torch.device) -> float:
    """Peak memory of this process: CUDA max allocated on GPU, max resident set size on CPU (GiB)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / (2**30 if sys.platform == "darwin" else 2**20)


@dataclass
class StepUpdate:
    """What one step's update did, for its metrics record."""

    estimator: str
    """The estimator's name (which diagnostics apply)."""
    lr: float
    """The learning rate the step trained with."""
    train_tokens: int
    """Tokens forwarded by the update (prompt + completion, padding excluded)."""
    durations: dict[str, float]
    """Wall-clock seconds of the step's phases: ``rollout``, ``score`` and ``train``."""
    means: UpdateMeans
    """Loss metrics averaged over the update (loss, clipfrac, approx_kl, grad norm, entropy, ...)."""


def step_record(step: int, q, rewards: torch.Tensor, batch, coefficients: torch.Tensor, update: StepUpdate,
                accelerator) -> dict[str, Any]:
    """The metrics of one training step.

    ``rewards`` (G, M) are all ranks' rewards and ``q`` their q (a number, or (G, 1) per prompt): the core's
    diagnostics (:func:`tsallis.diagnostics.group_diagnostics`: P̂ summary and quartiles, no-success and zero-std
    shares, and what applies to ``estimator``: the amplification P̂^(-q), PAFT's ESS) and ``algo/q`` (with its
    spread for a per-prompt q). This rank's ``batch`` (:class:`llm.train.sampling.StepBatch`) adds completion
    lengths, the truncated share, the generated tokens (summed over ranks; dynamic sampling's discarded groups
    included) and any ``dynamic/`` figures; ``coefficients`` A the share of sequences trained on; ``update`` the
    learning rate, the trained tokens, the wall-clock durations and the loss metrics, averaged over the ranks.
    """
    from llm.train.qsource import q_record

    world = accelerator.num_processes if accelerator is not None else 1
    record: dict[str, Any] = {"step": step, **q_record(q), "train/lr": update.lr, "reward/mean": float(rewards.mean())}
    record.update(group_diagnostics(rewards, q, update.estimator))
    record.update(batch.metrics)
    rollouts = [r for group in batch.groups for r in group]
    lengths = torch.tensor([len(r.completion_ids) for r in rollouts], dtype=torch.float64)
    rollout_s, score_s, train_s = (update.durations[phase] for phase in ("rollout", "score", "train"))
    means = update.means
    generated = torch.tensor([float(batch.generated_tokens)], dtype=torch.float64)
    if world > 1:
        generated = accelerator.reduce(generated.to(accelerator.device), reduction="sum").cpu()
    record["perf/generated_tokens"] = float(generated)
    means.add("completion/length_mean", lengths.sum(), len(rollouts))
    means.add("completion/truncated_frac", sum(r.finish_reason == "length" for r in rollouts), len(rollouts))
    trained = coefficients != 0 if coefficients.dim() == 1 else (coefficients != 0).any(dim=1)  # per sequence
    means.add("weights/nonzero_frac", trained.sum(), trained.numel())
    means.add("perf/rollout_s", rollout_s, 1)
    means.add("perf/score_s", score_s, 1)
    means.add("perf/train_s", train_s, 1)
    means.add("perf/rollout_tokens_per_s", world * lengths.sum() / max(rollout_s, 1e-9), 1)
    means.add("perf/train_tokens_per_s", world * update.train_tokens / max(train_s, 1e-9), 1)
    means.add("perf/peak_mem_gb", peak_memory_gb(accelerator.device if accelerator is not None else torch.device("cpu")), 1)
    record.update(means.means(accelerator))
    record["perf/step_s"] = rollout_s + score_s + train_s
    return record


class MetricsWriter:
    """Append one JSON object per step to ``RUN_DIR/metrics.jsonl`` (+ TensorBoard when installed)."""

    def __init__(self, run_dir: Path, enabled: bool = True, tensorboard: bool = True) -> None:
        self.path = Path(run_dir) / METRICS_FILE
        self.enabled = enabled
        self._tb = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is optional
                SummaryWriter = None
            if SummaryWriter is not None:
                self._tb = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))

    def write(self, record: dict[str, Any]) -> None:
        """Write one record (must hold ``step``); non-finite floats become JSON null."""
        if not self.enabled:
            return
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        with self.path.open("a") as handle:
            handle.write(json.dumps(clean, sort_keys=True) + "\n")
        if self._tb is not None:
            self._add_scalars(clean)

    def truncate_after(self, step: int) -> None:
        """Drop records with ``step`` > ``step`` (a resumed run rewrites what the killed run logged late), in
        metrics.jsonl and in TensorBoard: the event files are append-only, so they are replaced by one holding
        the kept records."""
        if not self.enabled or not self.path.exists():
            return
        kept = [r for r in read_metrics(self.path.parent) if r["step"] <= step]
        atomic_write_text(self.path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))
        if self._tb is not None:
            log_dir = Path(self._tb.log_dir)
            self._tb.close()
            for events in log_dir.glob("events.out.tfevents.*"):
                events.unlink()
            self._tb = type(self._tb)(log_dir=str(log_dir))
            for record in kept:
                self._add_scalars(record)

    def _add_scalars(self, record: dict[str, Any]) -> None:
        for key, value in record.items():
            if isinstance(value, (int, float)) and value is not None and key != "step":
                self._tb.add_scalar(key, value, record["step"])

    def close(self) -> None:
        """Flush TensorBoard."""
        if self._tb is not None:
            self._tb.close()


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """Every record of ``RUN_DIR/metrics.jsonl``.

    A last line without its newline that is not valid JSON is the half-written record of a killed run: it is
    dropped with a warning. Any other malformed line raises naming the file and line: one that is not JSON, not
    an object, without an integer ``step`` >= 0, or with a value that is neither a number nor null.
    """
    path = Path(run_dir) / METRICS_FILE
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")  # a complete file ends with "\n", so its last item is ""
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if number == len(lines):  # the unterminated last line
                warnings.warn(f"{path}:{number}: dropped a half-written last record ({err})", stacklevel=2)
                continue
            raise ValueError(f"{path}:{number}: not a JSON object: {err}") from None
        problem = _record_problem(record)
        if problem:
            raise ValueError(f"{path}:{number}: {problem}")
        records.append(record)
    return records


def _record_problem(record: Any) -> str:
    """What is wrong with one metrics record, or "" when it is a valid one."""
    if not isinstance(record, dict):
        return f"a record must be a JSON object, got {type(record).__name__}"
    step = record.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        return f"a record needs an integer step >= 0, got step={step!r}"
    for key, value in record.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"{key} must be a number or null, got {value!r}"
    return ""
