"""Benchmark of the theory simulator: seconds per figure and Monte Carlo throughput.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_sim.py [--quick] [--only NAME ...] [--out DIR] [--seed N]

Prints (1) the wall time of each figure's full regeneration (compute, CSV, plot, checks), run one after
the other in this process, so shared sympy caches are counted once, for the first figure that needs
them; and (2) the Monte Carlo inner loop in samples per second: G groups of M samples drawn from a toy
policy, weights from :func:`tsallis.estimators.compute_weights` and the contraction Σ_m w_gm s_gm.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from threadpoolctl import threadpool_limits

from figures.cli import regenerate
from figures.registry import FIGURE_NAMES
from sim.autoregressive import AutoregressivePolicy
from sim.estimator_study import sample_gradients
from sim.policies import KArmedSoftmax, OneLogit


def mc_throughput(repeats: int = 5) -> list[tuple[str, str, int, int, float]]:
    """(toy, estimator, G, M, samples per second) of the vectorised Monte Carlo inner loop."""
    rng = np.random.default_rng(0)
    cases = [("one logit", OneLogit(), OneLogit.theta_for(0.1).ravel(), 16, 20000),
             ("5-armed softmax", KArmedSoftmax(5), KArmedSoftmax(5).theta_for(0.1), 16, 5000),
             ("autoregressive V=3 L=6", AutoregressivePolicy(), AutoregressivePolicy().theta_for(0.05), 8, 2000)]
    rows = []
    for toy_name, toy, theta, m, groups in cases:
        for key in ("garl_mean", "paft", "grpo"):
            sample_gradients(toy, theta, key, 0.75, m, groups, rng)  # warm-up
            start = time.perf_counter()
            for _ in range(repeats):
                sample_gradients(toy, theta, key, 0.75, m, groups, rng)
            elapsed = (time.perf_counter() - start) / repeats
            rows.append((toy_name, key, groups, m, groups * m / elapsed))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="+", choices=FIGURE_NAMES)
    parser.add_argument("--out", type=Path, default=None, help="where figures go (default: a temporary folder)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    console = Console(width=120)
    with threadpool_limits(limits=1), tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        _, seconds = regenerate(list(args.only or FIGURE_NAMES), out, args.quick, args.seed, console, jobs=1)
        table = Table(title=f"figure regeneration ({'quick' if args.quick else 'full'}, one process, BLAS 1 thread)")
        table.add_column("figure")
        table.add_column("seconds", justify="right")
        for name, sec in seconds.items():
            table.add_row(name, f"{sec:.2f}")
        table.add_row("[bold]total[/]", f"[bold]{sum(seconds.values()):.2f}[/]")
        console.print(table)
        mc = Table(title="Monte Carlo inner loop: sample + compute_weights + Σ_m w s")
        for col in ("toy", "estimator", "G", "M", "samples/s"):
            mc.add_column(col, justify="right" if col in ("G", "M", "samples/s") else "left")
        for toy_name, key, groups, m, rate in mc_throughput():
            mc.add_row(toy_name, key, str(groups), str(m), f"{rate:,.0f}")
        console.print(mc)


if __name__ == "__main__":
    main()
