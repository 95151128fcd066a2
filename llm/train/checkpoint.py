"""Atomic checkpoints of a training run, for ``tsallis train --resume``.

A checkpoint is a folder ``RUN_DIR/checkpoints/step_000123/`` holding:

* what ``accelerate.Accelerator.save_state`` writes: the model weights (only the trainable ones, i.e. the
  LoRA adapter, when the base is frozen), the AdamW state, the learning-rate scheduler, and each process's
  RNG states (python, numpy, torch, CUDA). Under FSDP the model and optimizer files follow
  ``FSDP_STATE_DICT_TYPE``: ``SHARDED_STATE_DICT`` writes each rank's shard into ``pytorch_model_fsdp_0/``
  and ``optimizer_0/`` (torch.distributed.checkpoint), ``FULL_STATE_DICT`` a gathered
  ``pytorch_model_fsdp.bin`` from rank 0; ``load_state`` reads back the same type;
* ``trainer_state.json``: step, data position, run name, anything else the loop needs, and the sha256 of every
  other file of the checkpoint, verified before a resume (a corrupt or truncated newest checkpoint is skipped,
  with a warning, for the previous one);
* ``config.yaml``: the full run config.

Atomicity: every process writes into ``step_000123.tmp``; after a barrier the main process writes
``trainer_state.json`` last, then renames the folder with ``os.replace``. A folder without the ``.tmp``
suffix is therefore complete, and a run killed mid-save leaves only a ``.tmp`` folder that is ignored
(and removed by the next save).

:func:`read_model_weights` reads the weights of any of these layouts back as one plain state dict, without
``accelerate`` or a process group (``tsallis export`` uses it).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

from tsallis.files import apply_umask_modes, atomic_write_text

CHECKPOINT_DIR = "checkpoints"
STATE_FILE = "trainer_state.json"
_STEP_DIR = re.compile(r"^step_(\d{6,})$")
# the weight layouts save_state writes (model index 0): plain or DDP, FSDP FULL_STATE_DICT, FSDP SHARDED_STATE_DICT
WEIGHTS_FILE, FSDP_FULL_FILE, FSDP_SHARDED_DIR = "model.safetensors", "pytorch_model_fsdp.bin", "pytorch_model_fsdp_0"


def checkpoint_path(run_dir: Path, step: int) -> Path:
    """``RUN_DIR/checkpoints/step_{step:06d}``."""
    return Path(run_dir) / CHECKPOINT_DIR / f"step_{step:06d}"


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run as (step, folder), oldest first."""
    root = Path(run_dir) / CHECKPOINT_DIR
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _STEP_DIR.match(p.name)) and p.is_dir()]
    return sorted(found)


def file_digests(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` except ``trainer_state.json`` (which holds them), by relative path."""
    digests = {}
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.name != STATE_FILE):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digests[str(path.relative_to(folder))] = digest.hexdigest()
    return digests


def checkpoint_problem(folder: Path, step: int) -> str | None:
    """Why ``folder`` (named for ``step``) is not a usable checkpoint, or None when it is.

    Usable: ``trainer_state.json`` parses, records ``step``, and every file it lists has the sha256 recorded at
    save time (checkpoints written before checksums existed are accepted unverified).
    """
    state_file = Path(folder) / STATE_FILE
    if not state_file.is_file():
        return f"{state_file} is missing"
    try:
        state = json.loads(state_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        return f"{state_file} is not valid JSON ({err})"
    if state.get("step") != step:
        return f"{state_file} records step {state.get('step')!r} but the folder is step {step}"
    recorded = state.get("checksums")
    if recorded is None:
        return None
    found = file_digests(folder)
    for name, digest in recorded.items():
        if name not in found:
            return f"{Path(folder) / name} is missing"
        if found[name] != digest:
            return f"{Path(folder) / name} does not match its checksum (truncated or changed since it was saved)"
    return None


def latest_checkpoint(run_dir: Path) -> Path:
    """The newest usable checkpoint folder of ``run_dir`` (:func:`checkpoint_problem`): a newer one that is
    incomplete or corrupt is skipped with a warning naming the file; ``FileNotFoundError`` names the run if none."""
    for step, folder in reversed(list_checkpoints(run_dir)):
        problem = checkpoint_problem(folder, step)
        if problem is None:
            return folder
        warnings.warn(f"skipping checkpoint {folder}: {problem}; falling back to the previous one", stacklevel=2)
    raise FileNotFoundError(f"no complete checkpoint under {Path(run_dir) / CHECKPOINT_DIR}; cannot resume")


def _trainable_only(models: list, weights: list, output_dir: str) -> None:
    """``save_state`` pre-hook: keep only trainable tensors (the adapter) of models with frozen weights."""
    for model, state in zip(models, weights):
        trainable = {name for name, p in model.named_parameters() if p.requires_grad}
        if len(trainable) < sum(1 for _ in model.parameters()):
            for key in [k for k in state if k not in trainable]:
                del state[key]


def register_adapter_hooks(accelerator) -> None:
    """Make ``save_state`` store only trainable weights (LoRA adapters); pair with ``strict=False`` loads."""
    accelerator.register_save_state_pre_hook(_trainable_only)


def save_checkpoint(
    accelerator,
    run_dir: Path,
    step: int,
    trainer_state: dict[str, Any],
    config_yaml: str,
    keep_last: int,
) -> Path:
    """Save a checkpoint atomically on every process (collective: all ranks must call it)."""
    final = checkpoint_path(run_dir, step)
    tmp = final.with_name(final.name + ".tmp")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        atomic_write_text(tmp / "config.yaml", config_yaml)
        state = {**trainer_state, "checksums": file_digests(tmp)}  # written last, over every other file
        atomic_write_text(tmp / STATE_FILE, json.dumps(state, indent=1, sort_keys=True))
        apply_umask_modes(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        for _, old in list_checkpoints(run_dir)[:-keep_last]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator, folder: Path, model, adapter_only: bool) -> dict[str, Any]:
    """Restore model, optimizer, scheduler and RNG states from ``folder``; return its trainer state.

    With ``adapter_only`` the weights file holds only the trainable tensors, so it is loaded non-strictly
    and then checked: every trainable parameter of ``model`` (as prepared) must have been in the file."""
    folder = Path(folder)
    state_file = folder / STATE_FILE
    if not state_file.is_file():
        raise FileNotFoundError(f"{folder} is not a complete checkpoint (no {STATE_FILE})")
    if adapter_only:
        accelerator.load_state(str(folder), strict=False)
        from safetensors import safe_open

        with safe_open(str(folder / WEIGHTS_FILE), framework="pt") as handle:
            saved = set(handle.keys())
        missing = sorted(n for n, p in model.named_parameters() if p.requires_grad and n not in saved)
        if missing:
            raise ValueError(f"{folder}: the adapter checkpoint lacks trainable tensors {missing[:3]} (of {len(missing)})")
    else:
        accelerator.load_state(str(folder))
    return json.loads(state_file.read_text())


def read_model_weights(folder: Path) -> dict[str, Any]:
    """The model weights of checkpoint ``folder`` as one state dict of CPU tensors, keyed as the unwrapped model's.

    Reads whichever layout ``save_state`` wrote (module docstring): ``model.safetensors`` (one process or DDP,
    keyed without the DDP wrapper's prefix), ``pytorch_model_fsdp.bin`` (FSDP ``FULL_STATE_DICT``) or the
    ``pytorch_model_fsdp_0/`` shards (FSDP ``SHARDED_STATE_DICT``: every tensor is allocated at its full size
    from the checkpoint's metadata and filled by ``torch.distributed.checkpoint.load`` in this process alone,
    ``no_dist``, so rank 0 can call it while the other ranks wait). LoRA checkpoints hold only the adapter.
    """
    import torch

    folder = Path(folder)
    if (folder / WEIGHTS_FILE).is_file():
        from safetensors.torch import load_file

        return load_file(str(folder / WEIGHTS_FILE))
    if (folder / FSDP_FULL_FILE).is_file():
        return torch.load(folder / FSDP_FULL_FILE, map_location="cpu", weights_only=True)
    if (folder / FSDP_SHARDED_DIR).is_dir():
        import torch.distributed.checkpoint as dcp

        reader = dcp.FileSystemReader(str(folder / FSDP_SHARDED_DIR))
        entries = reader.read_metadata().state_dict_metadata  # "model.<name>" -> size, dtype (accelerate's layout)
        weights = {k.removeprefix("model."): torch.empty(m.size, dtype=m.properties.dtype)
                   for k, m in entries.items() if isinstance(m, dcp.metadata.TensorStorageMetadata)}
        with warnings.catch_warnings():  # "assuming the intent is to load in a single process": it is
            warnings.filterwarnings("ignore", message="torch.distributed is disabled")
            dcp.load({"model": weights}, storage_reader=reader, no_dist=True)
        return weights
    raise FileNotFoundError(f"{folder} holds no model weights: none of {WEIGHTS_FILE}, {FSDP_FULL_FILE}, "
                            f"{FSDP_SHARDED_DIR}/")
