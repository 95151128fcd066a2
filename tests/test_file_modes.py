"""Every file and folder the project writes has the mode the umask allows (0666 / 0777 minus it), models included."""

import os
import stat
from pathlib import Path

from llm.models import save_model_folder, tiny_random_policy
from llm.train.recipe import load_config
from llm.train.trainer import train
from tsallis.cli import main

RUN = ["model.name=tiny-random", "data.benchmark=hotpotqa", "data.closed_book=true", "progress=false",
       "tensorboard=false", "algo.name=reinforce", "steps=2", "prompts_per_step=1", "rollout.num_samples=2",
       "rollout.max_new_tokens=3", "checkpoint.every=1"]


def _modes(root: Path) -> dict[Path, int]:
    """Mode bits of every file and folder under ``root`` (itself excluded)."""
    return {p: stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*")}


def test_train_checkpoint_export_eval_report_plot_figures_and_models_respect_the_umask(tmp_path):
    """Under umask 002 (group-writable, not the usual 022, so a hard-coded 0644 would fail too)."""
    umask = 0o002
    previous = os.umask(umask)
    try:
        run_dir = train(load_config(None, RUN + [f"output_dir={tmp_path / 'runs'}"]), reward_fn=lambda e, t: 1.0)
        assert main(["export", str(run_dir), "--out", str(tmp_path / "export")]) == 0
        assert main(["eval", "--benchmark", "hotpotqa", "--closed-book", "--tiny-random", "--limit", "1", "--k", "1",
                     "--max-new-tokens", "2", "--out", str(tmp_path / "eval")]) == 0
        assert main(["report", str(run_dir), "--out", str(tmp_path / "report")]) == 0
        assert main(["plot", str(run_dir), "--out", str(tmp_path / "plots")]) == 0
        assert main(["figures", "--quick", "--only", "fig_variance", "--jobs", "1", "--out", str(tmp_path / "figs")]) == 0
        save_model_folder(*tiny_random_policy(), tmp_path / "model")
    finally:
        os.umask(previous)
    modes = _modes(tmp_path)
    assert any(p.name == "model.safetensors" for p in modes) and any(p.suffix == ".png" for p in modes)
    wrong = {str(p.relative_to(tmp_path)): oct(m) for p, m in modes.items()
             if m != ((0o777 if p.is_dir() else 0o666) & ~umask)}
    assert not wrong, wrong
