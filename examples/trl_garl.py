"""GARL (or PAFT) on a benchmark of this project, trained by TRL's GRPOTrainer through the tsallis plug-in.

The only changes from a TRL GRPO script are the trainer class, the config factory and three arguments
(estimator, estimator_options, q_schedule); the reward is this project's verifier of the benchmark.

    # smoke run on the CPU (tiny random model, 4 closed-book questions, 2 steps, ~30 s)
    python examples/trl_garl.py --tiny --closed-book --limit 4 --steps 2 --max-completion-length 8

    # GARL q = 0.75 on HotPotQA closed-book, one GPU
    python examples/trl_garl.py --model Qwen/Qwen2.5-1.5B-Instruct --benchmark hotpotqa --closed-book \\
        --estimator garl --q 0.75 --num-generations 16 --prompts-per-step 8 --steps 200 --bf16

    # PAFT q = 0.75, SFT-then-RLVR schedule instead of a constant q, 8 GPUs (TRL's own launcher)
    accelerate launch --multi_gpu --num_processes 8 examples/trl_garl.py --model ... --estimator paft \\
        --num-resamples 4 --q-schedule '{"kind": "step", "q_before": 1, "q_after": 0, "switch_step": 100}'
"""

from __future__ import annotations

import argparse
import json

from datasets import Dataset

from llm.data import load_benchmark
from llm.data.prompts import build_prompt
from llm.integrations.core import ROLLOUT_ESTIMATORS
from llm.integrations.trl import TsallisGRPOTrainer, tsallis_grpo_config
from llm.models import load_policy, tiny_random_policy
from llm.scoring import get_scorer


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="HF model name or folder (default: this project's SmolLM2-135M)")
    p.add_argument("--tiny", action="store_true", help="a tiny random model instead (smoke runs, tests)")
    p.add_argument("--benchmark", default="hotpotqa", choices=("finqa", "hotpotqa", "musique"))
    p.add_argument("--data", default=None, help="official training file (default: the shipped subset)")
    p.add_argument("--closed-book", action="store_true", help="questions without their context paragraphs")
    p.add_argument("--limit", type=int, default=None, help="use the first N training questions")
    p.add_argument("--estimator", default="garl", choices=ROLLOUT_ESTIMATORS)
    p.add_argument("--q", type=float, default=0.75, help="constant Tsallis index q (GARL, PAFT)")
    p.add_argument("--q-schedule", default=None, help='a q schedule as JSON, e.g. \'{"kind": "linear", ...}\'')
    p.add_argument("--baseline", default="mean", choices=("none", "mean", "loo"), help="GARL baseline")
    p.add_argument("--num-resamples", type=int, default=4, help="PAFT: K resampled successes per group")
    p.add_argument("--cap", type=float, default=float("inf"), help="capped_garl: the cap c on P̂^(-q)")
    p.add_argument("--num-generations", type=int, default=8, help="M completions per prompt")
    p.add_argument("--prompts-per-step", type=int, default=2, help="G prompts per optimizer step (per device)")
    p.add_argument("--max-completion-length", type=int, default=256)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--lr", type=float, default=1e-6)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output-dir", default="runs/trl_garl")
    return p.parse_args(argv)


def main(argv=None) -> None:
    a = parse_args(argv)
    model, tokenizer = tiny_random_policy(a.seed) if a.tiny else load_policy(a.model)
    examples = load_benchmark(a.benchmark, a.data, "train", closed_book=a.closed_book, limit=a.limit)
    scorer = get_scorer(a.benchmark)
    dataset = Dataset.from_dict({
        "prompt": [build_prompt(x, tokenizer) for x in examples],  # the chat template when the model has one
        "example_index": list(range(len(examples))),  # TRL hands extra columns to the reward function
    })

    def verifier(completions, example_index, **kwargs):
        """r(x, z) ∈ {0, 1}: this project's scorer of the answer line."""
        return [scorer.reward(examples[i], text) for i, text in zip(example_index, completions)]

    args = tsallis_grpo_config(  # loss_type="luspo", importance_sampling_level="token": the exact estimator
        output_dir=a.output_dir, max_steps=a.steps, learning_rate=a.lr, seed=a.seed, bf16=a.bf16,
        use_cpu=a.tiny, activation_checkpointing=not a.tiny, report_to=[], logging_steps=1, save_strategy="no",
        num_generations=a.num_generations, per_device_train_batch_size=a.prompts_per_step * a.num_generations,
        max_completion_length=a.max_completion_length, temperature=a.temperature,
    )
    trainer = TsallisGRPOTrainer(
        model=model, reward_funcs=verifier, args=args, train_dataset=dataset, processing_class=tokenizer,
        estimator=a.estimator,
        estimator_options={"garl": {"baseline": a.baseline}, "paft": {"num_resamples": a.num_resamples},
                           "capped_garl": {"baseline": a.baseline, "cap": a.cap}}.get(a.estimator, {}),
        q_schedule=json.loads(a.q_schedule) if a.q_schedule else a.q,
    )
    trainer.train()
    for entry in trainer.state.log_history:
        if "tsallis/algo/q" in entry:
            print(f"step {entry['step']}: q={entry['tsallis/algo/q']:.2f} reward={entry['reward']:.3f} "
                  f"no-success={entry['tsallis/groups/frac_no_success']:.2f} "
                  f"amplification={entry['tsallis/amplification/mean']:.2f}")


if __name__ == "__main__":
    main()
