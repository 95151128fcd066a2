"""``tsallis train``, ``export``, ``report`` and ``plot``: command-line entry points of the trainer (plug-ins of
``tsallis``).

    tsallis train recipes/cpu-demo.yaml                       # train; writes runs/{recipe}__{algo}_q{q}__seed{seed}__{time}/
    tsallis train recipes/cpu-demo.yaml --set algo.q=0.5 --set seed=1
    tsallis train recipes/cpu-demo.yaml --resume              # continue the newest run of this recipe/algo/q/seed
    tsallis train recipes/cpu-demo.yaml --resume runs/NAME    # continue that run
    tsallis train recipes/gpu/cold/finqa/garl_q0.75.yaml --dry-run   # build everything but the weights
    tsallis export runs/NAME                                  # newest checkpoint -> runs/NAME/final (HF folder)
    tsallis export runs/NAME --step 50 --out models/step50 --merge-lora
    tsallis report runs/*/ --out results                      # one row per setting: maj@k etc. over seeds
    tsallis plot runs/A runs/B --out figures/cmp              # reward and maj@k vs step, per setting

Errors in the arguments, the recipe or the run folders are raised (a ``ValueError`` such as ``ConfigError``, or an
``OSError``); ``tsallis.cli.main`` prints them as one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llm.cli.notes import with_notes
from llm.train.config import TrainConfig
from llm.train.config import build_config
from llm.train.recipe import load_values, option_notes, recipe_source


def register_train(subparsers) -> None:
    """Add ``tsallis train``."""
    p = subparsers.add_parser("train", help="post-train a causal LM with GARL, PAFT, GRPO or SFT from a YAML recipe")
    p.add_argument("config", help="recipe YAML (see recipes/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set algo.q=0.5 (repeatable; value parsed as YAML)")
    p.add_argument("--resume", nargs="?", const="latest", default=None, metavar="RUN_DIR",
                   help="continue from the newest checkpoint of RUN_DIR, or of the newest matching run in output_dir")
    p.add_argument("--dry-run", action="store_true", help="build config, data, prompts, estimator, schedules; no weights")
    p.set_defaults(func=run_train)


def register_plot(subparsers) -> None:
    """Add ``tsallis plot``."""
    p = subparsers.add_parser("plot", help="plot reward and maj@k vs step for one or several training runs")
    p.add_argument("runs", nargs="+", help="run folders (holding metrics.jsonl and config.yaml)")
    p.add_argument("--out", default=None, help="output folder (default: RUN/plots for one run, else ./plots)")
    p.set_defaults(func=run_plot)


def register_export(subparsers) -> None:
    """Add ``tsallis export``."""
    p = subparsers.add_parser("export", help="write a run's checkpoint as a Hugging Face model folder")
    p.add_argument("run", help="run folder (holding config.yaml and checkpoints/)")
    p.add_argument("--step", type=int, default=None, help="the checkpoint's step (default: the newest)")
    p.add_argument("--out", default=None,
                   help="output folder (default: RUN/final for the last step, else RUN/exports/step_NNNNNN)")
    p.add_argument("--merge-lora", action="store_true",
                   help="LoRA runs: write merged full weights instead of the adapter")
    p.set_defaults(func=run_export)


def register_report(subparsers) -> None:
    """Add ``tsallis report``."""
    p = subparsers.add_parser("report", help="results table over seeds: final and best held-out maj@k, pass@k, "
                                             "mean@k with bootstrap intervals, per recipe x algorithm x q")
    p.add_argument("runs", nargs="+", help="run folders (holding metrics.jsonl and config.yaml)")
    p.add_argument("--out", default=None,
                   help="folder for report.md and report.csv (default: the run folder for one run, else ./report)")
    p.set_defaults(func=run_report)


def find_resume_dir(config: TrainConfig, resume: str) -> Path:
    """``resume`` as a folder, or for ``latest`` the newest run in ``output_dir`` with this run's name prefix
    that holds a usable checkpoint (:func:`llm.train.checkpoint.checkpoint_problem`)."""
    from llm.train.checkpoint import checkpoint_problem, list_checkpoints

    if resume != "latest":
        return Path(resume)
    prefix = config.run_name("")
    candidates = [p for p in sorted(Path(config.output_dir).glob(prefix + "*"), reverse=True)
                  if any(checkpoint_problem(folder, step) is None for step, folder in list_checkpoints(p))]
    if not candidates:
        raise FileNotFoundError(f"--resume: no run named {prefix}* with a complete checkpoint under {config.output_dir}")
    return candidates[0]


def resume_command(args: argparse.Namespace, run_dir: Path) -> str:
    """The ``tsallis train`` command that continues ``run_dir`` with this invocation's recipe and overrides."""
    import shlex

    parts = ["tsallis", "train", args.config, *[f"--set {shlex.quote(o)}" for o in args.overrides],
             "--resume", str(run_dir)]
    return " ".join(shlex.quote(p) if not p.startswith("--set ") else p for p in parts)


def run_train(args: argparse.Namespace) -> int:
    """Validate the recipe, then dry-run or train."""
    from rich.console import Console

    console = Console(stderr=True, width=200)
    values = load_values(args.config, args.overrides)
    config = build_config(values, recipe_source(args.config, args.overrides))  # errors: tsallis.cli.main
    for note in option_notes(values, config):
        console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    if args.dry_run:
        from llm.train.dry_run import dry_run, format_report

        report = dry_run(config)
        Console().print(format_report(report))
        for warning in report.warnings:
            console.print(f"[yellow]note:[/yellow] {warning}", highlight=False)
        return 0
    from llm.train.trainer import train

    from accelerate import PartialState

    from llm.runs.plot import plot_runs
    from llm.train.export import final_export

    from llm.train.trainer import TrainingInterrupted

    resume = find_resume_dir(config, args.resume) if args.resume else None
    try:
        run_dir = train(config, resume=resume)
    except TrainingInterrupted as stopped:
        console.print(f"{stopped}. Continue with:\n  {resume_command(args, stopped.run_dir)}", highlight=False)
        return 130
    if PartialState().is_main_process:
        plot_runs([run_dir], run_dir / "plots")  # reward, no-success share and maj@k vs step
        final = final_export(run_dir)
        console.print(f"run folder: {run_dir} (plots in {run_dir / 'plots'}"
                      + (f", the model in {final})" if final else ")"), highlight=False)
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Export one checkpoint of a run; print the folder."""
    from llm.train.export import export_run

    print(export_run(args.run, step=args.step, out=args.out, merge_lora=args.merge_lora))
    return 0


def run_report(args: argparse.Namespace) -> int:
    """Print the results table and write report.md and report.csv."""
    from llm.runs.report import write_report

    runs = [Path(r) for r in args.runs]
    out = Path(args.out) if args.out else runs[0] if len(runs) == 1 else Path("report")
    text, paths = with_notes(write_report, runs, out)
    print(text)
    for path in paths:
        print(path)
    return 0


def run_plot(args: argparse.Namespace) -> int:
    """Write comparison plots (PNG and PDF) and their data (CSV)."""
    from llm.runs.plot import plot_runs

    runs = [Path(r) for r in args.runs]
    out = Path(args.out) if args.out else (runs[0] / "plots" if len(runs) == 1 else Path("plots"))
    for path in with_notes(plot_runs, runs, out):
        print(path)
    return 0


if __name__ == "__main__":
    from tsallis.cli import main

    sys.exit(main(["train", *sys.argv[1:]]))
