"""The rollout-engine table: every engine by name, how it is built and which ``rollout`` settings it reads.

The training config's ``rollout.engine`` and ``tsallis eval --engine`` take their choices from :data:`ENGINES`,
so a new engine is one module and one entry here. Importing this module imports no torch (the engines are
imported when one is built), so command-line parsers can list the choices cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from llm.rollout.base import RolloutEngine


def _hf_engine(model=None, tokenizer=None, model_name_or_path=None, **options) -> RolloutEngine:
    from llm.rollout.hf_engine import HFRolloutEngine

    if model is None or tokenizer is None:
        raise ValueError("make_engine('hf') needs model= and tokenizer=")
    return HFRolloutEngine(model, tokenizer, **options)


def _vllm_engine(model=None, tokenizer=None, model_name_or_path=None, **options) -> RolloutEngine:
    from llm.rollout.vllm_engine import VLLMRolloutEngine

    if model_name_or_path is not None:
        return VLLMRolloutEngine(model_name_or_path, **options)
    if model is None or tokenizer is None:
        raise ValueError("make_engine('vllm') needs model_name_or_path=, or model= and tokenizer=")
    return VLLMRolloutEngine.from_model(model, tokenizer, **options)


@dataclass(frozen=True)
class EngineEntry:
    """One rollout engine: how it is built and which ``rollout`` settings of a training run it reads."""

    build: Callable[..., RolloutEngine]
    """``(model=, tokenizer=, model_name_or_path=, **options) -> RolloutEngine``."""
    options: tuple[str, ...] = ()
    """The :class:`~llm.train.config.RolloutConfig` fields passed to it as keyword options."""


ENGINES: dict[str, EngineEntry] = {
    "hf": EngineEntry(_hf_engine, options=("batch_size", "share_prompts")),
    "vllm": EngineEntry(_vllm_engine),
}
"""The rollout engines by name; ``rollout.engine`` of the training config and ``tsallis eval --engine`` list these."""


def make_engine(name: str, *, model=None, tokenizer=None, model_name_or_path=None, **options) -> RolloutEngine:
    """Build a rollout engine by name.

    * ``"hf"``: needs ``model`` and ``tokenizer`` (it samples from that very model); options: ``batch_size``,
      ``share_prompts``.
    * ``"vllm"``: starts vLLM on ``model_name_or_path`` (a folder or hub name; see
      :func:`llm.models.resolve_model`), or, when that is None, on ``model``/``tokenizer`` saved to a temporary
      folder; options go to :class:`~llm.rollout.vllm_engine.VLLMRolloutEngine`.
    """
    if name not in ENGINES:
        raise ValueError(f"unknown rollout engine {name!r}; choose one of {tuple(ENGINES)}")
    return ENGINES[name].build(model=model, tokenizer=tokenizer, model_name_or_path=model_name_or_path, **options)
