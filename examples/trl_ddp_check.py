"""Check the TRL plug-in under DDP: every rank's PAFT resampling is the same draw, so the ranks' advantages
put together equal M × compute_weights of the gathered rewards with the documented seed.

    OMP_NUM_THREADS=1 torchrun --nproc_per_node 2 examples/trl_ddp_check.py      # 2 CPU processes, ~30 s

Two training steps of PAFT (K = 6, q = 0.5) on the tiny random model, 3 prompts × M = 4 completions; a group's
completions are split over the ranks (rank 0 holds rows 0-5, rank 1 rows 6-11). After each generation the
script gathers the ranks' advantages and compares them with

    A = M · compute_weights("paft", r, EstimatorOptions(q, K, generator = seed derive_seed(seed, step, 1)))

computed once from the gathered rewards r (G, M). A rank-dependent seed would draw different resampling
counts on each rank and fail. Exits 1 on a mismatch.
"""

from __future__ import annotations

import os
import sys

import torch
from datasets import Dataset

from llm.integrations.core import resampling_seed
from llm.integrations.trl import TsallisGRPOTrainer, tsallis_grpo_config
from llm.models import tiny_random_policy
from tsallis.estimators import EstimatorOptions, compute_weights

G, M, K, Q, SEED = 3, 4, 6, 0.5, 0
PROMPTS = ["The answer is", "Hello there, how are", "Count: 1 2 3"]


def reward(prompts, completion_ids, **kwargs):
    """1 for the second prompt; elsewhere the parity of the first completion token (mixed groups)."""
    return [1.0 if p == PROMPTS[1] else float(ids[0] % 2 == 0) for p, ids in zip(prompts, completion_ids)]


def main() -> int:
    model, tokenizer = tiny_random_policy(SEED)
    world = int(os.environ.get("WORLD_SIZE", "1"))  # torchrun sets it
    args = tsallis_grpo_config(
        output_dir="/tmp/tsallis-ddp-check", report_to=[], save_strategy="no", use_cpu=True, bf16=False,
        activation_checkpointing=False, per_device_train_batch_size=G * M // world, num_generations=M,
        max_completion_length=5, seed=SEED, max_steps=2, learning_rate=1e-3, logging_steps=1,
    )
    trainer = TsallisGRPOTrainer(model=model, reward_funcs=reward, args=args, processing_class=tokenizer,
                                 train_dataset=Dataset.from_dict({"prompt": PROMPTS}), estimator="paft",
                                 estimator_options={"num_resamples": K}, q_schedule=Q, resampling_seed=SEED)
    errors: list[tuple[int, float]] = []
    generate = trainer._generate_and_score_completions

    def checked(inputs):
        step = trainer.state.global_step
        out = generate(inputs)
        gathered = trainer.accelerator.gather(out["advantages"].double())  # (G·M,) in rank order
        rewards = trainer._tsallis_rewards.double().reshape(G, M)
        options = EstimatorOptions(q=Q, num_resamples=K, generator=torch.Generator().manual_seed(resampling_seed(SEED, step)))
        expected = M * compute_weights("paft", rewards, options).reshape(-1)
        errors.append((step, float((gathered.cpu() - expected).abs().max())))
        return out

    trainer._generate_and_score_completions = checked
    trainer.train()
    ok = all(error < 1e-6 for _, error in errors) and len(errors) == 2
    if trainer.accelerator.is_main_process:
        for step, error in errors:
            print(f"step {step}: {world} ranks, max |gathered A - M w| = {error:.1e}")
        print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
