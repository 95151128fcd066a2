"""A 2-process CPU launch (torch.distributed with gloo, as ``accelerate`` sets it up under torchrun)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from llm.train.checkpoint import list_checkpoints
from llm.train.metrics import read_metrics

WORKER = Path(__file__).with_name("dist_train_worker.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_gloo_run_keeps_replicas_in_sync(tmp_path):
    """Both ranks train on their own share of the prompts; DDP averages gradients so weights stay equal."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           str(WORKER), str(tmp_path)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run_dirs = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(run_dirs) == 1, run_dirs  # both ranks wrote into one run folder (rank 0 broadcasts its name)
    run_dir = run_dirs[0]
    records = read_metrics(run_dir)
    assert [r["step"] for r in records] == [1, 2]
    for r in records:
        assert r["dist/world_size"] == 2
        assert r["dist/param_checksum_spread"] == 0.0  # replicas bitwise equal after the all-reduce
        assert r["train/grad_norm"] > 0  # there was something to synchronise
    ckpt = list_checkpoints(run_dir)[-1][1]
    assert {p.name for p in ckpt.glob("random_states_*.pkl")} == {"random_states_0.pkl", "random_states_1.pkl"}
