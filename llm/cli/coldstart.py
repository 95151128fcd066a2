"""``tsallis coldstart``: the cold-start experiment on a transformer (:mod:`llm.coldstart.experiment`).

    tsallis coldstart --quick                     # 3 seeds × 6 estimators, ~150 steps each (minutes on 2 cores)
    tsallis coldstart --out results/coldstart     # the full run: 5 seeds, 400 steps
    tsallis coldstart --noise 0.3                 # GARL q ∈ {0, 0.5, 0.75, 1} with 30 % corrupted targets
    tsallis coldstart --p0 1e-4 --steps 800       # a colder start and a longer budget
    tsallis coldstart --remedies                  # dynamic sampling, adaptive q, replay PAFT at equal tokens
"""

from __future__ import annotations

import argparse
import math
from dataclasses import replace
from pathlib import Path

from llm.coldstart.settings import FULL, QUICK, BaseModelSpec


def register(subparsers) -> None:
    """Add ``tsallis coldstart``."""
    p = subparsers.add_parser("coldstart", help="GRPO vs RLOO vs GARL vs PAFT escaping cold start on a transformer, "
                                                "with exact success probabilities")
    p.add_argument("--quick", action="store_true",
                   help=f"{QUICK.seeds} seeds, {QUICK.steps} steps (default: {FULL.seeds} seeds, {FULL.steps} steps)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: runs/coldstart[-quick][-noiseR])")
    p.add_argument("--seeds", type=int, default=None, help="seeds per estimator (overrides the budget's)")
    p.add_argument("--steps", type=int, default=None, help="training steps per run (overrides the budget's)")
    p.add_argument("--jobs", type=int, default=2, help="parallel training processes, one thread each (default: 2)")
    p.add_argument("--remedies", action="store_true",
                   help="compare the remedies for groups without a success (dynamic sampling, adaptive q, PAFT with "
                        "a replay buffer) with their plain versions, at equal generated tokens")
    p.add_argument("--noise", type=float, default=0.0,
                   help="share of corrupted training targets; compares GARL q in {0, 0.5, 0.75, 1} (default: 0)")
    p.add_argument("--p0", type=float, default=None, help="initial success probability of the base model (default: 1e-3)")
    p.add_argument("--pretrain-steps", type=int, default=None,
                   help=f"pre-training steps of the base model (default: {BaseModelSpec().steps})")
    p.add_argument("--optimizer", choices=("sgd", "adamw"), default=None,
                   help="optimiser of every run (default: sgd, the regime of the sim/ predictions)")
    p.add_argument("--lr", type=float, default=None, help=f"learning rate of every run (default: {FULL.lr:g})")
    p.add_argument("--max-grad-norm", type=float, default=None,
                   help=f"gradient clipping of every run (default: {FULL.max_grad_norm:g})")
    p.add_argument("--exact-every", type=int, default=None,
                   help=f"steps between exact evaluations of P (default: {FULL.exact_every})")
    p.set_defaults(func=run)


def _positive_int(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise SystemExit(f"--{name} must be >= 1, got {value}")


def run(args: argparse.Namespace) -> int:
    """Validate the options, run the experiment, print the tables and the wall time."""
    from llm.cli.notes import with_notes
    from llm.coldstart.experiment import Experiment, run_experiment
    from llm.coldstart.report import print_report
    from llm.data.synthetic import SyntheticTask

    for name in ("seeds", "steps", "jobs", "pretrain_steps", "exact_every"):
        _positive_int(name.replace("_", "-"), getattr(args, name))
    if not 0.0 <= args.noise < 1.0:
        raise SystemExit(f"--noise must be in [0, 1), got {args.noise}")
    for name in ("lr", "max_grad_norm"):
        value = getattr(args, name)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise SystemExit(f"--{name.replace('_', '-')} must be a positive number, got {value}")
    budget = QUICK if args.quick else FULL
    overrides = {k: getattr(args, k) for k in ("seeds", "steps", "optimizer", "lr", "max_grad_norm", "exact_every")
                 if getattr(args, k) is not None}
    budget = replace(budget, **overrides)
    try:
        base = BaseModelSpec(**{k: v for k, v in (("p0", args.p0), ("steps", args.pretrain_steps)) if v is not None})
        task = SyntheticTask(noise=args.noise)
    except ValueError as err:
        raise SystemExit(f"{err}") from None
    out = args.out or Path("runs") / ("coldstart" + ("-remedies" if args.remedies else "") +
                                      ("-quick" if args.quick else "") + (f"-noise{args.noise:g}" if args.noise else ""))
    result = with_notes(run_experiment, Experiment(budget, task, base, args.jobs, args.remedies), out)
    print_report(result, out)
    return 0
