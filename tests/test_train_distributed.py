"""2-process CPU launches (torch.distributed with gloo, as ``accelerate`` sets it up under torchrun): DDP and FSDP2."""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from accelerate.utils import DistributedType
from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

from llm.models import tiny_random_policy
from llm.train.checkpoint import list_checkpoints
from llm.train.config import ConfigError
from llm.train.distributed import check_fsdp
from llm.train.metrics import read_metrics
from llm.train.recipe import load_config

WORKER = Path(__file__).with_name("dist_train_worker.py")
# what `accelerate launch --use_fsdp --fsdp_version 2 --fsdp_auto_wrap_policy TRANSFORMER_BASED_WRAP` exports to
# each process (plus FSDP_STATE_DICT_TYPE from --fsdp_state_dict_type)
FSDP_ENV = {"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2", "FSDP_AUTO_WRAP_POLICY": "TRANSFORMER_BASED_WRAP"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(output_dir: Path, mode: str, env: dict[str, str] | None = None) -> None:
    """Run tests/dist_train_worker.py on 2 CPU processes; fail with the workers' output if it fails."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1]), **(env or {})}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           str(WORKER), str(output_dir), mode]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def only_run(output_dir: Path) -> Path:
    run_dirs = [p for p in output_dir.iterdir() if p.is_dir()]
    assert len(run_dirs) == 1, run_dirs  # both ranks wrote into one run folder (rank 0 broadcasts its name)
    return run_dirs[0]


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    """The full model state dict of the newest FSDP checkpoint: one file from rank 0 (FULL_STATE_DICT), or
    gathered from the per-rank shards (SHARDED_STATE_DICT)."""
    folder = list_checkpoints(run_dir)[-1][1]
    if (folder / "pytorch_model_fsdp.bin").is_file():
        return torch.load(folder / "pytorch_model_fsdp.bin")
    dcp_to_torch_save(folder / "pytorch_model_fsdp_0", run_dir / "final_weights.pt")
    return torch.load(run_dir / "final_weights.pt")["model"]


def without_timings(records: list[dict]) -> list[dict]:
    """Metrics without the wall-clock ``perf/`` keys, the only ones a resumed run may change."""
    return [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in records]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory) -> Path:
    """A 2-step DDP run, the reference for the FSDP run (same seed, prompts and maths)."""
    output_dir = tmp_path_factory.mktemp("ddp")
    launch(output_dir, "ddp")
    return only_run(output_dir)


@pytest.mark.slow
def test_two_process_gloo_run_keeps_replicas_in_sync(ddp_run):
    """Both ranks train on their own share of the prompts; DDP averages gradients so weights stay equal."""
    records = read_metrics(ddp_run)
    assert [r["step"] for r in records] == [1, 2]
    for r in records:
        assert r["dist/world_size"] == 2
        assert r["dist/param_checksum_spread"] == 0.0  # replicas' checksums equal after the all-reduce
        assert r["train/grad_norm"] > 0  # there was something to synchronise
    ckpt = list_checkpoints(ddp_run)[-1][1]
    assert {p.name for p in ckpt.glob("random_states_*.pkl")} == {"random_states_0.pkl", "random_states_1.pkl"}


# the files accelerate's save_state writes for the model under each FSDP state-dict type
CHECKPOINT_FILES = {
    "SHARDED_STATE_DICT": {"pytorch_model_fsdp_0/__0_0.distcp", "pytorch_model_fsdp_0/__1_0.distcp"},  # one per rank
    "FULL_STATE_DICT": {"pytorch_model_fsdp.bin"},  # gathered on rank 0
}


@pytest.mark.slow
@pytest.mark.parametrize("state_dict_type", ["SHARDED_STATE_DICT", "FULL_STATE_DICT"])
def test_fsdp2_run_matches_ddp_and_resumes_from_its_checkpoint(ddp_run, tmp_path, state_dict_type):
    """FSDP2 on 2 CPU processes: rollouts and evaluation from the gathered parameters, sharded training,
    checkpoints in either state-dict type.

    The worker runs 3 steps straight, and the same run killed after step 1 and resumed (see its docstring
    for how FSDP is switched on on CPU).
    """
    launch(tmp_path, "fsdp", {**FSDP_ENV, "FSDP_STATE_DICT_TYPE": state_dict_type})
    full, resumed = only_run(tmp_path / "full"), only_run(tmp_path / "resumed")
    records = read_metrics(full)
    assert [r["step"] for r in records] == [1, 2, 3]
    for r in records:
        assert all(math.isfinite(v) for v in r.values() if isinstance(v, float)), r
        assert r["dist/world_size"] == 2
        assert r["dist/param_checksum_spread"] == 0.0  # gathered full parameters: same checksum on both ranks
        assert r["train/grad_norm"] > 0
    assert "eval/pass@2" in records[-1]  # the held-out evaluation ran (inside full_parameters)

    # the same maths as DDP: identical first rollouts (same initial weights), losses equal up to the order
    # of float reductions (reduce-scatter of shards vs all-reduce)
    for f, d in zip(records, read_metrics(ddp_run), strict=False):
        assert f["reward/mean"] == d["reward/mean"]
        for key in ("loss/policy", "train/grad_norm", "train/entropy"):
            assert f[key] == pytest.approx(d[key], rel=1e-4), key

    # killed after step 1 and resumed from its FSDP checkpoint = the uninterrupted run, bit for bit
    assert without_timings(read_metrics(resumed)) == without_timings(records)
    ckpt = list_checkpoints(full)[-1][1]
    assert all((ckpt / name).is_file() for name in CHECKPOINT_FILES[state_dict_type])
    trained, again = final_weights(full), final_weights(resumed)
    assert trained.keys() == again.keys() and all(torch.equal(trained[k], again[k]) for k in trained)
    initial = tiny_random_policy(seed=0)[0].state_dict()
    assert trained.keys() == initial.keys()
    assert all(not torch.equal(trained[k], initial[k]) for k in trained)  # every tensor was trained


def test_fsdp_that_accelerate_did_not_switch_on_is_refused(monkeypatch):
    """accelerate 1.15 turns ``ACCELERATE_USE_FSDP`` into DDP on CPU; the trainer says so instead of
    training with DDP. FSDP1 (the rollout gathers parameters with FSDP2's API) and LoRA are refused too."""
    config = load_config(None, [])
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    cpu_ddp = SimpleNamespace(distributed_type=DistributedType.MULTI_CPU, num_processes=2, device=torch.device("cpu"))
    with pytest.raises(ConfigError, match="enables FSDP only on GPUs"):
        check_fsdp(cpu_ddp, config)
    fsdp1 = SimpleNamespace(distributed_type=DistributedType.FSDP, is_fsdp2=False)
    with pytest.raises(ConfigError, match="--fsdp_version 2"):
        check_fsdp(fsdp1, config)
    fsdp2 = SimpleNamespace(distributed_type=DistributedType.FSDP, is_fsdp2=True)
    assert check_fsdp(fsdp2, config)
    with pytest.raises(ConfigError, match="model.lora_rank=8"):
        check_fsdp(fsdp2, load_config(None, ["model.lora_rank=8"]))
    monkeypatch.delenv("ACCELERATE_USE_FSDP")
    assert not check_fsdp(cpu_ddp, config)
