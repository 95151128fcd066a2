"""Worker for tests/test_train_distributed.py: one rank of a 2-process CPU (gloo) training run.

Launched as ``torchrun --nproc_per_node 2 tests/dist_train_worker.py OUTPUT_DIR {ddp,fsdp}``; trains the tiny
random Llama with a learnable reward (first token starts with a space) so gradients are non-zero.

* ``ddp``: 2 steps into OUTPUT_DIR.
* ``fsdp``: with the ``ACCELERATE_USE_FSDP``/``FSDP_*`` environment that ``accelerate launch --use_fsdp`` sets,
  3 steps into OUTPUT_DIR/full, then the same run killed after step 1 into OUTPUT_DIR/resumed and resumed
  from its FSDP checkpoint. accelerate 1.15 enables FSDP only on GPUs (on CPU it silently falls back to
  DDP, which the trainer refuses), so this worker flips accelerate's distributed type to FSDP after the
  ``Accelerator`` is built. Everything after that is accelerate's and torch's real FSDP2 code: sharding
  in ``prepare``, gradient reduce-scatter, ``clip_grad_norm_``, sharded ``save_state``/``load_state``.
"""

import sys
from pathlib import Path

from accelerate.state import PartialState
from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

from llm.train import trainer
from llm.train.recipe import load_config

output_dir, mode = Path(sys.argv[1]), sys.argv[2]
settings = [
    "model.name=tiny-random", "data.benchmark=hotpotqa", "data.closed_book=true", "data.train_limit=8",
    "prompts_per_step=4", "rollout.num_samples=3", "rollout.max_new_tokens=2", "rollout.temperature=0.1",
    "algo.name=garl", "algo.q=0.5", "optim.lr=1e-3", "optim.micro_batch_size=2", "progress=false",
    "tensorboard=false", "checkpoint.every=1",
]


def reward(example, text: str) -> float:
    return float(text.startswith(" "))


def fsdp_on_cpu(config):
    """The trainer's accelerator, switched to FSDP with the plugin accelerate builds from the environment."""
    accelerator = make_accelerator(config)
    for state in (PartialState(), accelerator.state):  # both shared states carry the distributed type
        state.distributed_type = DistributedType.FSDP
    accelerator.state.fsdp_plugin = FullyShardedDataParallelPlugin()
    return accelerator


if mode == "ddp":
    trainer.train(load_config(None, settings + ["steps=2", f"output_dir={output_dir}"]), reward_fn=reward)
else:
    make_accelerator = trainer.make_accelerator
    trainer.make_accelerator = fsdp_on_cpu
    fsdp = settings + ["steps=3", "eval.every=3", "eval.limit=2", "eval.k=2"]
    trainer.train(load_config(None, fsdp + [f"output_dir={output_dir / 'full'}"]), reward_fn=reward)
    config = load_config(None, fsdp + [f"output_dir={output_dir / 'resumed'}"])
    run_dir = trainer.train(config, reward_fn=reward, stop_after=1)
    trainer.train(config, reward_fn=reward, resume=run_dir)
