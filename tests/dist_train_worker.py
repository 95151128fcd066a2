"""Worker for tests/test_train_distributed.py: one rank of a 2-process CPU (gloo) training run.

Launched as ``torchrun --nproc_per_node 2 tests/dist_train_worker.py OUTPUT_DIR``; trains the tiny random
Llama for 2 steps with a learnable reward (first token starts with a space) so gradients are non-zero.
"""

import sys

from llm.train.config import load_config
from llm.train.trainer import train

config = load_config(None, [
    "model.name=tiny-random", "data.benchmark=hotpotqa", "data.closed_book=true", "data.train_limit=8",
    "steps=2", "prompts_per_step=4", "rollout.num_samples=3", "rollout.max_new_tokens=2", "rollout.temperature=0.1",
    "algo.name=garl", "algo.q=0.5", "optim.lr=1e-3", "optim.micro_batch_size=2", "progress=false",
    "tensorboard=false", "checkpoint.every=1", f"output_dir={sys.argv[1]}",
])
train(config, reward_fn=lambda example, text: float(text.startswith(" ")))
