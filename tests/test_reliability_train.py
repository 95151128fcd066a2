"""Trainer reliability: refusals before any work, a resume that cannot bend the run, Ctrl-C at a safe point,
metrics files that survive a kill."""

from __future__ import annotations

import json
import os
import signal
import threading

import pytest
import torch

from llm.train.checkpoint import list_checkpoints
from llm.train.config import ConfigError
from llm.train.metrics import MetricsWriter, read_metrics
from llm.train.recipe import load_config
from llm.train.trainer import TrainingInterrupted, train
from tsallis.files import atomic_write_text

TINY = ["model.name=tiny-random", "data.benchmark=hotpotqa", "data.closed_book=true", "data.train_limit=4",
        "prompts_per_step=2", "rollout.num_samples=2", "rollout.max_new_tokens=2", "progress=false",
        "tensorboard=false", "algo.name=garl", "optim.lr=1e-3"]


def reward(example, text: str) -> float:
    return float(text.startswith(" "))


def test_output_dir_that_is_a_file_fails_before_loading_the_model(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    from llm.train import build

    monkeypatch.setattr(build, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        train(load_config(None, TINY + [f"output_dir={blocker / 'runs'}"]))


def test_resume_with_more_steps_is_refused_when_the_lr_decays(tmp_path):
    config = load_config(None, TINY + ["steps=2", "optim.lr_schedule=cosine", f"output_dir={tmp_path}"])
    run = train(config, reward_fn=reward)
    longer = load_config(None, TINY + ["steps=4", "optim.lr_schedule=cosine", f"output_dir={tmp_path}"])
    with pytest.raises(ConfigError, match=r"optim.lr_schedule='cosine' decays over the saved steps=2"):
        train(longer, resume=run, reward_fn=reward)
    constant = load_config(None, TINY + ["steps=2", f"output_dir={tmp_path / 'c'}"])
    run = train(constant, reward_fn=reward)
    train(load_config(None, TINY + ["steps=3", f"output_dir={tmp_path / 'c'}"]), resume=run, reward_fn=reward)
    assert [r["step"] for r in read_metrics(run)] == [1, 2, 3]  # a constant rate may be extended


def test_ctrl_c_stops_after_the_step_with_a_checkpoint(tmp_path):
    config = load_config(None, TINY + ["steps=50", f"output_dir={tmp_path}"])
    handler = signal.getsignal(signal.SIGINT)  # Python's default, or SIG_IGN when started in the background
    calls = {"n": 0}

    def reward_then_interrupt(example, text):
        calls["n"] += 1
        if calls["n"] == 3:  # during step 1's scoring (2 prompts x 2 samples per step)
            os.kill(os.getpid(), signal.SIGINT)
        return reward(example, text)

    with pytest.raises(TrainingInterrupted) as stopped:
        train(config, reward_fn=reward_then_interrupt)
    assert stopped.value.step == 1
    assert [step for step, _ in list_checkpoints(stopped.value.run_dir)] == [1]
    assert signal.getsignal(signal.SIGINT) is handler  # the handler found at the start is put back
    assert threading.current_thread() is threading.main_thread()


def test_half_written_last_metrics_line_is_dropped_with_a_warning(tmp_path):
    lines = [json.dumps({"step": 1, "x": 1.0}), json.dumps({"step": 2, "x": 2.0})]
    atomic_write_text(tmp_path / "metrics.jsonl", "\n".join(lines) + "\n" + '{"step": 3, "x"')
    with pytest.warns(UserWarning, match="half-written last record"):
        assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2]
    atomic_write_text(tmp_path / "metrics.jsonl", lines[0] + "\n{broken\n" + lines[1] + "\n")
    with pytest.raises(ValueError, match=r"metrics.jsonl:2: not a JSON object"):
        read_metrics(tmp_path)


def test_resume_truncates_tensorboard_like_metrics(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    writer = MetricsWriter(tmp_path, tensorboard=True)
    for step in (1, 2, 3):
        writer.write({"step": step, "reward/mean": float(step)})
    writer.truncate_after(2)
    writer.write({"step": 3, "reward/mean": 30.0})
    writer.close()
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("reward/mean")] == [(1, 1.0), (2, 2.0), (3, 30.0)]
    assert [r["reward/mean"] for r in read_metrics(tmp_path)] == [1.0, 2.0, 30.0]


def test_atomic_writes_respect_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        (tmp_path / "b.txt").write_text("x")
    finally:
        os.umask(previous)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == (tmp_path / "b.txt").stat().st_mode & 0o777 == 0o644


def _two_checkpoints(tmp_path):
    config = load_config(None, TINY + ["steps=2", "checkpoint.every=1", f"output_dir={tmp_path}"])
    return config, train(config, reward_fn=reward)


def test_a_corrupt_newest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    from llm.train.checkpoint import checkpoint_problem, latest_checkpoint

    config, run = _two_checkpoints(tmp_path)
    (first, older), (second, newest) = list_checkpoints(run)
    assert checkpoint_problem(newest, second) is None and latest_checkpoint(run) == newest
    weights = newest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])  # truncated
    with pytest.warns(UserWarning, match=r"model.safetensors does not match its checksum"):
        assert latest_checkpoint(run) == older
    state = json.loads((older / "trainer_state.json").read_text())
    atomic_write_text(older / "trainer_state.json", json.dumps({**state, "step": 7}))
    assert "records step 7 but the folder is step 1" in checkpoint_problem(older, first)
    with pytest.warns(UserWarning), pytest.raises(FileNotFoundError, match="no complete checkpoint"):
        latest_checkpoint(run)


def test_resume_latest_picks_the_newest_run_with_a_complete_checkpoint(tmp_path):
    import argparse

    from llm.cli.train import find_resume_dir, resume_command

    config, run = _two_checkpoints(tmp_path)
    newer = tmp_path / (config.run_name("") + "99999999-999999")
    (newer / "checkpoints" / "step_000001.tmp").mkdir(parents=True)  # a run killed during its first save
    assert find_resume_dir(config, "latest") == run
    args = argparse.Namespace(config="r.yaml", overrides=["algo.q=0.5", "optim.lr=1e-3"])
    assert resume_command(args, run) == f"tsallis train r.yaml --set algo.q=0.5 --set optim.lr=1e-3 --resume {run}"


def test_tsallis_train_prints_the_resume_command_after_ctrl_c(tmp_path, capsys, monkeypatch):
    from llm.train import trainer
    from tsallis.cli import main

    def interrupted(config, resume=None):
        raise trainer.TrainingInterrupted(tmp_path / "run", 3)

    monkeypatch.setattr(trainer, "train", interrupted)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: {name: tiny-random}\n")
    assert main(["train", str(recipe), "--set", "steps=9"]) == 130
    err = capsys.readouterr().err
    assert f"interrupted after step 3" in err and f"tsallis train {recipe} --set steps=9 --resume {tmp_path / 'run'}" in err


def test_export_and_eval_verify_checkpoints_like_resume(tmp_path, capsys):
    """A newest checkpoint with flipped bytes: export and eval take the previous one with a warning; an explicit
    --step naming it is refused."""
    from llm.train.export import EXPORT_INFO, export_run, load_run_policy
    from tsallis.cli import main

    _, run = _two_checkpoints(tmp_path)
    (_, older), (second, newest) = list_checkpoints(run)
    weights = newest / "model.safetensors"
    payload = bytearray(weights.read_bytes())
    payload[-100] ^= 0xFF  # one flipped byte: same length, different weights
    weights.write_bytes(bytes(payload))
    with pytest.warns(UserWarning, match=r"skipping checkpoint .*model.safetensors does not match its checksum"):
        assert load_run_policy(run).checkpoint == older
    with pytest.warns(UserWarning, match="does not match its checksum"):
        assert json.loads((export_run(run, out=tmp_path / "export") / EXPORT_INFO).read_text())["step"] == 1
    assert main(["export", str(run), "--step", str(second), "--out", str(tmp_path / "export2")]) == 2
    assert f"--step {second}: {weights} does not match its checksum" in capsys.readouterr().err


def test_a_model_with_nan_weights_is_neither_exported_nor_evaluated(tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    from tsallis.cli import main

    _, run = _two_checkpoints(tmp_path)
    (_, older), (second, newest) = list_checkpoints(run)
    assert main(["export", str(run), "--out", str(tmp_path / "export")]) == 0
    weights = tmp_path / "export" / "model.safetensors"
    tensors = load_file(weights)
    name = sorted(tensors)[0]
    tensors[name][0] = float("nan")
    save_file(tensors, weights, metadata={"format": "pt"})
    capsys.readouterr()
    assert main(["eval", "--model", str(tmp_path / "export"), "--benchmark", "hotpotqa", "--closed-book",
                 "--limit", "1", "--k", "1", "--out", str(tmp_path / "eval")]) == 2
    assert f"weight tensor(s) hold NaN or inf (first: {name}); the model diverged" in capsys.readouterr().err
    assert not (tmp_path / "eval").exists()


def test_an_interrupted_exports_leftovers_are_removed_by_the_next_export(tmp_path):
    import os

    from llm.train.export import FINAL_DIR, export_run

    _, run = _two_checkpoints(tmp_path)
    dead = run / f".{FINAL_DIR}.tmp-999999999-abcd"  # no such process: what a kill -9 during an export leaves
    live = run / f".{FINAL_DIR}.tmp-{os.getpid()}-efgh"  # an export still running in this process
    for folder in (dead, live):
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"partial")
    export_run(run, out=run / FINAL_DIR)
    assert not dead.exists() and live.exists()
    assert sorted(p.name for p in run.glob(f".{FINAL_DIR}.tmp-*")) == [live.name]


DIVERGING = ["algo.name=reinforce", "optim.name=sgd", "optim.lr=1e30", "optim.max_grad_norm=null", "steps=4",
             "checkpoint.every=1"]


def _all_weights_finite(run) -> bool:
    from llm.train.checkpoint import read_model_weights

    return all(bool(torch.isfinite(t).all()) for _, folder in list_checkpoints(run)
               for t in read_model_weights(folder).values() if t.is_floating_point())


def test_a_diverged_run_stops_before_saving_non_finite_weights(tmp_path):
    """SGD at lr 1e30: step 1 throws the weights to ~1e30, step 2's loss overflows. The run stops at step 2 with one
    line naming the step and the last good checkpoint; no checkpoint or export holds a NaN."""
    from llm.train.trainer import TrainingDiverged

    config = load_config(None, TINY + DIVERGING + [f"output_dir={tmp_path}"])
    with pytest.raises(TrainingDiverged) as stopped:
        train(config, reward_fn=lambda e, t: 1.0)
    message, run = str(stopped.value), stopped.value.run_dir
    assert "\n" not in message and f"training diverged at step {stopped.value.step}" in message
    assert "the gradient norm is nan" in message or "holds NaN or inf" in message
    saved = [step for step, _ in list_checkpoints(run)]
    assert saved == list(range(1, stopped.value.step)) and f"last good checkpoint is {list_checkpoints(run)[-1][1]}" in message
    assert _all_weights_finite(run) and not (run / "final").exists()
    assert [r["step"] for r in read_metrics(run)] == saved


def test_skip_step_drops_non_finite_updates_and_counts_them(tmp_path):
    config = load_config(None, TINY + DIVERGING + ["optim.on_nonfinite=skip_step", f"output_dir={tmp_path}"])
    run = train(config, reward_fn=lambda e, t: 1.0)
    skipped = [r["train/skipped"] for r in read_metrics(run)]
    assert skipped[0] == 0.0 and all(s == 1.0 for s in skipped[1:]) and len(skipped) == 4
    assert _all_weights_finite(run)
