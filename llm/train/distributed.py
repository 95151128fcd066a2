"""Distributed plumbing of the trainer: the ``accelerate`` setup, FSDP2 checks and gathered parameters.

``accelerate launch`` starts one process per GPU; every rank runs the same loop on its share of the prompts.
Under DDP each rank holds the whole model and gradients are averaged; under FSDP2 (``accelerate launch
--use_fsdp --fsdp_version 2``) each rank holds a shard of every parameter, and generation and evaluation run
inside :func:`full_parameters`, which gathers them once per rollout.
"""

from __future__ import annotations

import contextlib

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType, parse_flag_from_env

from llm.train.config import ConfigError, TrainConfig


def check_device(config: TrainConfig) -> None:
    """Refuse ``device: cuda`` where torch sees no CUDA GPU."""
    if config.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' but torch sees no CUDA GPU here (torch.cuda.is_available() is False); "
                          "use device='auto' or 'cpu'")


def make_accelerator(config: TrainConfig) -> Accelerator:
    """``accelerate`` for DDP/FSDP launches; bf16 autocast only on CUDA (CPU stays fp32, reproducible).

    ``device: cuda`` on a machine without a CUDA GPU is an error (:func:`check_device`), not a silent CPU run."""
    check_device(config)
    cuda = torch.cuda.is_available() and config.device != "cpu"
    return Accelerator(
        cpu=not cuda,
        mixed_precision="bf16" if (cuda and config.bf16) else "no",
        step_scheduler_with_optimizer=False,  # one scheduler step per optimizer step, on every rank
    )


def check_fsdp(accelerator: Accelerator, config: TrainConfig) -> bool:
    """Whether the model will be FSDP-sharded; FSDP asked for but not in effect is an error.

    ``accelerate launch --use_fsdp`` sets ``ACCELERATE_USE_FSDP=true``. accelerate 1.15 honours it only on
    GPUs (and other accelerators): with CPU processes it silently wraps the model in DDP instead. Only FSDP2
    is supported (:func:`full_parameters` gathers parameters through its ``unshard`` API), without LoRA:
    peft's ``generate`` enters the model below the FSDP root, which torch refuses ("FSDP requires a single
    root module").
    """
    if accelerator.distributed_type == DistributedType.FSDP:
        if not accelerator.is_fsdp2:
            raise ConfigError("FSDP1 is not supported by the trainer: launch with --fsdp_version 2")
        if config.model.lora_rank > 0:
            raise ConfigError(f"model.lora_rank={config.model.lora_rank} is not supported under FSDP; use DDP with LoRA")
        return True
    if parse_flag_from_env("ACCELERATE_USE_FSDP") and accelerator.num_processes > 1:
        raise ConfigError(
            f"ACCELERATE_USE_FSDP is set but accelerate runs {accelerator.distributed_type.value} on "
            f"{accelerator.device.type}: it enables FSDP only on GPUs; launch without --use_fsdp for DDP"
        )
    return False


@contextlib.contextmanager
def full_parameters(model, accelerator: Accelerator):
    """Inside this block every rank holds the full parameters of an FSDP2 model (a no-op otherwise).

    Generation calls the model once per token. Left sharded, every such forward would all-gather each
    layer again; here each FSDP module is all-gathered once, kept unsharded across the forwards, and
    resharded on exit. The parameters are read-only inside: changes are not written back to the shards.
    (``transformers`` runs ``generate`` with ``synced_gpus`` under FSDP, one small all-reduce per token
    that keeps the ranks in step, so every rank must call ``generate`` equally often.)
    """
    if accelerator.distributed_type != DistributedType.FSDP:
        yield
        return
    from torch.distributed.fsdp import FSDPModule

    modules = [m for m in model.modules() if isinstance(m, FSDPModule)]
    for module in modules:
        module.unshard()
        module.set_reshard_after_forward(False, recurse=False)
    try:
        yield
    finally:
        for module in modules:
            module.set_reshard_after_forward(accelerator.state.fsdp_plugin.reshard_after_forward, recurse=False)
            module.reshard()


def replica_metrics(model, policy, accelerator: Accelerator) -> dict[str, float]:
    """``dist/world_size`` and ``dist/param_checksum_spread``: max - min over ranks of Σ θ (in float64).

    DDP keeps replicas identical (FSDP: the gathered ones), so a non-zero spread means the ranks diverged.
    Empty on a single process.
    """
    if accelerator.num_processes == 1:
        return {}
    with full_parameters(model, accelerator):
        checksum = torch.stack([p.detach().double().sum() for p in policy.parameters()]).sum()
    sums = accelerator.gather(checksum.reshape(1).to(accelerator.device))
    return {"dist/world_size": accelerator.num_processes, "dist/param_checksum_spread": float(sums.max() - sums.min())}
