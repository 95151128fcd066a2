"""Build what a training run needs from its :class:`~llm.train.config.TrainConfig`.

Each builder does one thing, so ``--dry-run`` can build everything except the model weights and tests
can swap in a tiny model. Nothing here holds training logic.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any, Callable

import torch

from llm.data import Example, benchmark_spec, load_benchmark
from llm.data.prompts import ANSWER_PREFIX, build_prompt
from llm.rollout import ENGINES, SamplingConfig, make_engine
from llm.scoring import get_scorer
from llm.train.config import TrainConfig, configurable_options
from tsallis.estimators import EstimatorOptions, compute_weights

RewardFn = Callable[[Example, str], float]
"""r(x, z): (example, completion text) -> reward in [0, 1]."""


@dataclass
class Data:
    """Training examples with their rendered prompts, and held-out examples (the eval loop renders its own)."""

    train: list[Example]
    train_prompts: list[str]
    eval: list[Example]


def load_data(config: TrainConfig, tokenizer: Any) -> Data:
    """Load the benchmark splits named in ``config.data`` and render prompts with ``tokenizer``'s template."""
    d = config.data
    train = _load(config, d.train_path, d.train_split, d.closed_book, d.train_limit, "train")
    held_out: list[Example] = []
    if config.eval.every > 0 or config.eval.exact_every > 0:
        closed = d.closed_book if d.eval_closed_book is None else d.eval_closed_book
        held_out = _load(config, d.eval_path, d.eval_split, closed, config.eval.limit, "eval")
    return Data(
        train=train,
        train_prompts=[build_prompt(x, prompt_tokenizer(config, tokenizer)) for x in train],
        eval=held_out,
    )


def prompt_tokenizer(config: TrainConfig, tokenizer: Any) -> Any:
    """The tokenizer whose chat template renders prompts, or None for plain-text prompts."""
    return tokenizer if config.data.chat_template else None


def _load(config: TrainConfig, path, split: str, closed_book: bool, limit: int | None, role: str) -> list[Example]:
    """One split, filtered to ``data.answer_types`` (an empty result is an error), then cut to ``limit``."""
    types = config.data.answer_types
    examples = load_benchmark(config.data.benchmark, path, split, closed_book=closed_book,
                              limit=None if types else limit, task=None if path else task_settings(config))
    if not types:
        return examples
    kept = [x for x in examples if x.metadata.get("answer_type") in types]
    if not kept:
        raise ValueError(f"data.answer_types={types} leaves none of the {len(examples)} {role} examples")
    return kept[:limit]


def task_settings(config: TrainConfig) -> Any:
    """A generated task's settings: the ``data`` field named after the benchmark, or None for a benchmark read
    from files."""
    if benchmark_spec(config.data.benchmark).task_settings is None:
        return None
    return getattr(config.data, config.data.benchmark)


def reward_function(config: TrainConfig) -> RewardFn:
    """The benchmark's verifier (``llm.scoring``) as a binary reward, strict or tolerant (``data.strict_scoring``)."""
    return get_scorer(config.data.benchmark, strict=config.data.strict_scoring).reward


def sft_target(example: Example) -> str:
    """The SFT completion for ``example``: its gold answer on the answer line the verifier reads."""
    return f"{ANSWER_PREFIX} {example.answer}"


def sampling_config(config: TrainConfig) -> SamplingConfig:
    """Rollout sampling settings."""
    r = config.rollout
    return SamplingConfig(temperature=r.temperature, top_p=r.top_p, max_new_tokens=r.max_new_tokens, stop=tuple(r.stop))


def training_sampling(config: TrainConfig) -> SamplingConfig:
    """The training rollouts' sampling: :func:`sampling_config`, or in the likelihood form (``algo.weights:
    likelihood``) the rationale's (at most its budget, stopping at its marker; :mod:`llm.rollout.rationale`)."""
    base = sampling_config(config)
    return config.rationale_format().sampling(base) if config.algo.weights == "likelihood" else base


def estimator_options(config: TrainConfig, q: Any, rewards: torch.Tensor, generator: Any,
                      extra: dict[str, Any] | None = None) -> EstimatorOptions:
    """``tsallis`` estimator options for one step, from the registry entry of ``config.algo.name``.

    The estimator gets the configured options its registration lists, q (a number or (G, 1)) when it uses q,
    the step's seeded generator when its weights are random (PAFT's resampling), every sample as a target when
    it trains on targets (SFT groups are one gold target each), and the per-batch inputs in ``extra`` (a replay
    buffer's ``proposal_logw`` and ``p_hat``); it never sees an option it does not read.
    """
    spec = config.algo.spec
    values: dict[str, Any] = {name: getattr(config.algo, name) for name in spec.options if name in configurable_options()}
    values.update(extra or {})
    if spec.uses_q:
        values["q"] = q
    if spec.needs_generator:
        values["generator"] = generator
    if spec.trains_on_targets:
        values["targets"] = torch.ones_like(rewards)
    return EstimatorOptions(**values)


def weights_from_config(config: TrainConfig, rewards: torch.Tensor, q: Any, generator: Any,
                      extra: dict[str, Any] | None = None) -> torch.Tensor:
    """w (G, M) = ``tsallis.estimators.compute_weights`` for ``config.algo`` on ``rewards`` (G, M)."""
    return compute_weights(config.algo.name, rewards, estimator_options(config, q, rewards, generator, extra))


def q_source(config: TrainConfig, num_prompts: int):
    """Where each step's q comes from (:class:`llm.train.qsource.QSource`): a schedule or the observed success
    rates; read only by the estimators that use q."""
    from llm.train.qsource import QSource

    return QSource(config.algo.q, num_prompts)


def load_model(config: TrainConfig, device: torch.device):
    """The policy and its tokenizer, before LoRA. ``tiny-random`` builds a tiny Llama from ``config.seed``."""
    from llm.models import load_policy, tiny_random_policy

    if config.model.name == "tiny-random":
        model, tokenizer = tiny_random_policy(seed=config.seed)
        return model.to(device), tokenizer
    dtype = None if config.model.dtype == "auto" else config.model.dtype
    return load_policy(config.model.name, device=device, dtype=dtype, cache=config.model.cache_dir)


def policy_and_optimizer(config: TrainConfig, accelerator):
    """The policy prepared by ``accelerator`` (LoRA and gradient checkpointing applied, in training mode), its
    tokenizer, the frozen reference (or None), the optimizer and the learning-rate scheduler. Call it after
    seeding: a tiny model's and LoRA's initial weights come from the seeded generators."""
    model, tokenizer = load_model(config, accelerator.device)
    reference = reference_model(config, model)
    model = apply_lora(config, enable_gradient_checkpointing(config, model))
    model.train()
    optimizer, scheduler = optimizer_and_scheduler(config, model)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    return model, tokenizer, reference, optimizer, scheduler


def reference_model(config: TrainConfig, model) -> Any:
    """A frozen copy of the initial policy for the KL term, or None when ``algo.kl_beta`` is 0.

    With LoRA no copy is made: the reference is the base model with the adapter disabled.
    """
    if config.algo.kl_beta == 0 or config.model.lora_rank > 0:
        return None
    reference = copy.deepcopy(model).eval()
    reference.requires_grad_(False)
    return reference


def enable_gradient_checkpointing(config: TrainConfig, model):
    """Turn on activation recomputation when ``model.gradient_checkpointing`` is set; return the model.

    Non-reentrant checkpointing also works with a frozen base (LoRA); it is off in eval mode, so generation
    keeps its KV cache.
    """
    if config.model.gradient_checkpointing:
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.2x renamed it
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model


def apply_lora(config: TrainConfig, model):
    """Wrap ``model`` with ``peft`` LoRA adapters when ``model.lora_rank`` > 0; otherwise return it."""
    m = config.model
    if m.lora_rank == 0:
        return model
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=m.lora_rank,
        lora_alpha=m.lora_alpha,
        lora_dropout=m.lora_dropout,
        target_modules=list(m.lora_target_modules),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def optimizer_and_scheduler(config: TrainConfig, model):
    """AdamW or SGD over the trainable parameters and a warm-up learning-rate schedule
    (``transformers.get_scheduler``)."""
    from transformers import get_scheduler

    o = config.optim
    params = [p for p in model.parameters() if p.requires_grad]
    if o.name == "sgd":
        optimizer = torch.optim.SGD(params, lr=o.lr, weight_decay=o.weight_decay)
    else:
        optimizer = torch.optim.AdamW(params, lr=o.lr, betas=tuple(o.betas), eps=o.adam_eps,
                                      weight_decay=o.weight_decay)
    name = {"constant": "constant_with_warmup", "linear": "linear", "cosine": "cosine"}[o.lr_schedule]
    scheduler = get_scheduler(
        name, optimizer, num_warmup_steps=o.warmup_steps, num_training_steps=config.steps * config.algo.ppo_epochs
    )
    return optimizer, scheduler


def rollout_engine(config: TrainConfig, model, tokenizer):
    """The rollout engine ``rollout.engine`` sampling from ``model``, with the ``rollout`` settings it reads
    (:data:`llm.rollout.ENGINES`)."""
    name = config.rollout.engine
    options = {option: getattr(config.rollout, option) for option in ENGINES[name].options}
    return make_engine(name, model=model, tokenizer=tokenizer, **options)


@functools.lru_cache(maxsize=8)
def local_tokenizer(name: str | None):
    """The tokenizer of ``name`` from disk only (no network), or None when it is not available locally."""
    from transformers import AutoTokenizer

    from llm.models import asset_tokenizer, is_default_model

    if is_default_model(name) or name == "tiny-random":  # the shipped SmolLM2 tokenizer: nothing is converted
        return asset_tokenizer()
    try:
        return AutoTokenizer.from_pretrained(name, local_files_only=True)
    except (OSError, ValueError):
        return None
