"""``tsallis export``: a training run's checkpoint as a standard Hugging Face model folder.

A checkpoint (:mod:`llm.train.checkpoint`) is an ``accelerate`` state folder: weights, optimizer and RNG states,
but no model config and no tokenizer. An export rebuilds the policy exactly as the trainer built it, from the
run's ``config.yaml`` (:func:`llm.train.build.load_model`, then :func:`llm.train.build.apply_lora`), loads the
checkpoint's weights into it (:func:`llm.train.checkpoint.read_model_weights`) and saves it with
``save_pretrained``:

==================  ===========================================================================================
run                 export folder
==================  ===========================================================================================
full fine-tuning    config.json, generation_config.json, model.safetensors in the training dtype
                    (``model.dtype``; ``auto`` trains float32 weights), tokenizer files
LoRA, merged        the same, every adapted weight replaced by W + (α/r)·B·A (``merge_lora``)
LoRA, adapter       adapter_config.json naming the base model (its hub id or absolute folder; the tiny random
                    base has neither, so it is saved in ``base/``), adapter_model.safetensors, tokenizer files
==================  ===========================================================================================

Every export also holds ``tsallis_export.json`` (:data:`EXPORT_INFO`): the run folder, step, format, dtype and
the full training config. ``tsallis eval`` reads ``data.chat_template`` from it, so a model trained on plain
prompts (cold start) is evaluated on plain prompts.

Full and merged exports load with ``AutoModelForCausalLM.from_pretrained(folder)``, ``tsallis eval --model
folder``, ``tsallis train --set model.name=folder`` and ``vllm serve folder``. An adapter loads with
``AutoModelForCausalLM.from_pretrained(folder)`` (transformers reads the base, then the adapter, through peft),
``tsallis eval --model folder`` and ``vllm serve BASE --enable-lora --lora-modules NAME=folder``.

Destination: ``RUN_DIR/final`` when the checkpoint is the run's last step (``steps``; the trainer exports
there when a run ends, also when ``max_generated_tokens`` ended it early), else
``RUN_DIR/exports/step_NNNNNN``, with ``-merged`` appended for merged LoRA weights; or ``out``. The folder is
written beside its destination and renamed into place, so a folder that holds ``tsallis_export.json`` is
complete. An existing export is replaced; any other non-empty folder is an error.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from llm.models import check_finite_weights
from llm.train import build
from llm.train.checkpoint import (
    CHECKPOINT_DIR,
    checkpoint_path,
    checkpoint_problem,
    latest_checkpoint,
    list_checkpoints,
    read_model_weights,
)
from llm.train.config import TrainConfig, build_config
from tsallis.files import apply_umask_modes, atomic_write_text

EXPORT_INFO = "tsallis_export.json"
FINAL_DIR = "final"
EXPORTS_DIR = "exports"
TINY_BASE_DIR = "base"


@dataclass
class RunPolicy:
    """A run's policy rebuilt from one checkpoint, on CPU, in eval mode."""

    model: Any
    """The causal LM (a ``peft`` model for an unmerged LoRA run)."""
    tokenizer: Any
    config: TrainConfig
    """The run's training config (``RUN_DIR/config.yaml``)."""
    step: int
    checkpoint: Path
    format: str
    """``full``, ``lora-merged`` or ``lora-adapter``."""


def read_run_config(run_dir: str | Path) -> TrainConfig:
    """The validated config of a run folder; an error names the missing or invalid file."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run folder: {path} is missing")
    return build_config(yaml.safe_load(path.read_text()), str(path))


def is_run_dir(path: str | Path) -> bool:
    """Whether ``path`` is a training run folder (``config.yaml`` and ``checkpoints/``), not a model folder."""
    path = Path(path)
    return (path / "config.yaml").is_file() and (path / CHECKPOINT_DIR).is_dir()


def export_info(folder: str | Path) -> dict[str, Any] | None:
    """The ``tsallis_export.json`` of an export folder, or None for any other folder or hub name."""
    path = Path(folder) / EXPORT_INFO
    return json.loads(path.read_text()) if path.is_file() else None


def final_export(run_dir: str | Path) -> Path | None:
    """``RUN_DIR/final`` when it holds a complete export, else None."""
    folder = Path(run_dir) / FINAL_DIR
    return folder if export_info(folder) is not None else None


def select_checkpoint(run_dir: str | Path, step: int | None = None) -> tuple[int, Path]:
    """(step, folder) of the checkpoint at ``step``, or of the newest usable one when ``step`` is None.

    Checkpoints are verified as resume verifies them (:func:`llm.train.checkpoint.checkpoint_problem`: the
    recorded sha256 of every file): without ``step`` a newer corrupt or incomplete one is skipped with a warning
    naming the file (:func:`llm.train.checkpoint.latest_checkpoint`); an explicit ``step`` that fails is refused.
    """
    run_dir = Path(run_dir)
    found = list_checkpoints(run_dir)
    if not found:
        raise FileNotFoundError(f"no complete checkpoint under {run_dir / CHECKPOINT_DIR}")
    if step is None:
        folder = latest_checkpoint(run_dir)
        return next(saved for saved, f in found if f == folder), folder
    for saved, folder in found:
        if saved == step:
            problem = checkpoint_problem(folder, saved)
            if problem is not None:
                raise ValueError(f"--step {step}: {problem}")
            return saved, folder
    raise FileNotFoundError(f"--step {step}: {checkpoint_path(run_dir, step)} is not a complete checkpoint; "
                            f"the run has checkpoints at steps {[s for s, _ in found]}")


def load_run_policy(run_dir: str | Path, step: int | None = None, *, merge_lora: bool = False) -> RunPolicy:
    """Rebuild a run's policy from its config and load the weights of its checkpoint at ``step`` (newest: None).

    The model is built by the trainer's own builders (gradient checkpointing off: it only matters in
    training). Every saved tensor must name a tensor of the rebuilt model, and every trainable parameter
    (all of them, or the LoRA adapter) must be saved; tied weights are saved once. With ``merge_lora`` a LoRA
    adapter is merged into the base weights.
    """
    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    step, folder = select_checkpoint(run_dir, step)
    rebuild = dataclasses.replace(config, model=dataclasses.replace(config.model, gradient_checkpointing=False))
    model, tokenizer = build.load_model(rebuild, torch.device("cpu"))
    model = build.apply_lora(rebuild, model)
    weights = read_model_weights(folder)
    unexpected = sorted(set(weights) - set(model.state_dict()))
    missing = sorted(n for n, p in model.named_parameters() if p.requires_grad and n not in weights)
    if unexpected or missing:
        raise ValueError(f"{folder} does not fit the model rebuilt from {run_dir / 'config.yaml'}: unexpected "
                         f"tensors {unexpected[:3]} ({len(unexpected)}), missing {missing[:3]} ({len(missing)})")
    model.load_state_dict(weights, strict=False)
    fmt = "full" if config.model.lora_rank == 0 else "lora-merged" if merge_lora else "lora-adapter"
    if fmt == "lora-merged":
        model = model.merge_and_unload()
    return RunPolicy(model.eval(), tokenizer, config, step, folder, fmt)


def default_export_dir(run_dir: str | Path, config: TrainConfig, step: int, merged: bool) -> Path:
    """``RUN_DIR/final`` for the last step, else ``RUN_DIR/exports/step_NNNNNN`` (``-merged`` for merged LoRA)."""
    folder = Path(run_dir) / (FINAL_DIR if step == config.steps else f"{EXPORTS_DIR}/step_{step:06d}")
    return folder.with_name(folder.name + "-merged") if merged else folder


def export_run(run_dir: str | Path, step: int | None = None, out: str | Path | None = None,
               merge_lora: bool = False) -> Path:
    """Export the checkpoint at ``step`` (newest: None) of ``run_dir`` as a Hugging Face folder; return its path.

    See the module docstring for the layout, the default destination and how an existing folder is treated.
    ``merge_lora`` is ignored for full fine-tuning runs.
    """
    run_dir = Path(run_dir)
    policy = load_run_policy(run_dir, step, merge_lora=merge_lora)
    check_finite_weights(policy.model, f"{policy.checkpoint}")
    fmt = policy.format
    out = Path(out) if out is not None else default_export_dir(run_dir, policy.config, policy.step,
                                                               fmt == "lora-merged")
    if out.exists() and export_info(out) is None and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not an export (no {EXPORT_INFO}); choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_exports(out)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-{os.getpid()}-"))
    try:
        if fmt == "lora-adapter":
            _save_adapter(policy, out, tmp)
        else:
            policy.model.save_pretrained(tmp)
        policy.tokenizer.save_pretrained(tmp)
        info = {
            "run_dir": str(run_dir.resolve()), "step": policy.step, "checkpoint": str(policy.checkpoint.resolve()),
            "format": fmt, "dtype": str(next(policy.model.parameters()).dtype).removeprefix("torch."),
            "base_model": policy.config.model.name, "chat_template": policy.config.data.chat_template,
            "config": policy.config.to_dict(),
        }
        atomic_write_text(tmp / EXPORT_INFO, json.dumps(info, indent=1) + "\n")
        apply_umask_modes(tmp)
        _replace_folder(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def remove_stale_exports(out: Path) -> None:
    """Delete what interrupted exports to ``out`` left beside it: ``.<name>.tmp-<pid>-*`` folders of processes
    that no longer run (a kill -9 during the export). A live process's folder is kept."""
    for leftover in out.parent.glob(f".{out.name}.tmp-*"):
        pid = leftover.name.removeprefix(f".{out.name}.tmp-").split("-", 1)[0]
        if not (pid.isdigit() and _process_alive(int(pid))):
            shutil.rmtree(leftover, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    """Whether a process with this id runs (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def _save_adapter(policy: RunPolicy, out: Path, tmp: Path) -> None:
    """Save the LoRA adapter into ``tmp`` with ``adapter_config.json`` naming its base: the hub id, the absolute
    local folder, or (tiny random model) ``OUT/base``, saved here from the run's seed, the same frozen base the
    adapter was trained on (peft reads the base while saving, so it is named by its ``tmp`` path until then)."""
    name = policy.config.model.name
    config = policy.model.peft_config["default"]
    if name == "tiny-random":
        base, tokenizer = build.load_model(policy.config, torch.device("cpu"))
        base.save_pretrained(tmp / TINY_BASE_DIR)
        tokenizer.save_pretrained(tmp / TINY_BASE_DIR)
        config.base_model_name_or_path = str(tmp.resolve() / TINY_BASE_DIR)
    else:
        from llm.models import resolve_model

        resolved = resolve_model(name)
        config.base_model_name_or_path = str(Path(resolved).resolve()) if Path(resolved).exists() else resolved
    policy.model.save_pretrained(tmp)
    if name == "tiny-random":
        adapter_config = json.loads((tmp / "adapter_config.json").read_text())
        adapter_config["base_model_name_or_path"] = str(out.resolve() / TINY_BASE_DIR)
        atomic_write_text(tmp / "adapter_config.json", json.dumps(adapter_config, indent=2, sort_keys=True) + "\n")


def _replace_folder(new: Path, target: Path) -> None:
    """Rename ``new`` to ``target``; an existing ``target`` is moved aside first and then deleted."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.rename(target, old)
    os.rename(new, target)
    if old is not None:
        shutil.rmtree(old)
