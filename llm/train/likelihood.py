"""The paper's likelihood form in the trainer (``algo.weights: likelihood``; Section 6, Algorithms 1 and 2).

One step, for G prompts x_g with gold answers y*_g::

    z_gm       ~ p_θ(· | x_g), M rationales per prompt, closed by budget forcing (:mod:`llm.rollout.rationale`)
    log w_gm   = log p_θ(y*_g | x_g, z_gm)            (the engine's ``answer_log_likelihood``, teacher-forced)
    (score, answer) = tsallis.compute_likelihood_weights(name, log w, options(q))      (G, M) each
    A_i,t      = M · (score_gm · rationale_mask_t + answer_gm · answer_mask_t)          per token of z_gm y*_g

and the loss, with ``seq-sum`` (N = G·M sequences), is Σ_i Σ_t A_it ℓ_it / N =
-(1/G) Σ_g Σ_m [score_gm log p(z_gm | x_g) + answer_gm log p(y*_g | x_g, z_gm)], the estimate of ∇ ln_q P
(GARL: Eq. 12, Algorithm 1; PAFT: Eq. 14, Algorithm 2, whose equal coefficients train the resampled (z, y*)
pairs). Tokens forced by the budget carry no coefficient. The step's ``rewards`` are w (G, M) in [0, 1], an
unbiased per-sample estimate of P_θ(x_g), which the q sources and the step diagnostics read.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import torch

from llm.data.benchmarks import benchmark_spec
from llm.rollout.base import Rollout
from llm.rollout.rationale import LikelihoodSample, close_rationale
from llm.train.config import TrainConfig, configurable_options
from llm.train.distributed import full_parameters
from llm.train.sampling import StepBatch
from tsallis.estimators import EstimatorOptions, compute_likelihood_weights
from tsallis.likelihood import LikelihoodWeights, garl_likelihood

if TYPE_CHECKING:
    from llm.train.run import Run


def gold_answer_ids(tokenizer, benchmark: str, example) -> list[int]:
    """y* as teacher-forced after a rationale: the benchmark's gold continuation (``Benchmark.gold_continuation``)
    tokenized on its own, then EOS when the benchmark's answers end with it (``Benchmark.gold_eos``)."""
    spec = benchmark_spec(benchmark)
    ids = tokenizer(spec.gold_continuation(example), add_special_tokens=False)["input_ids"]
    return list(ids) + ([tokenizer.eos_token_id] if spec.gold_eos else [])


def sample_likelihood(run: "Run", indices: list[int], seed: int) -> StepBatch:
    """The step's groups in the likelihood form: M rationales per prompt of ``indices`` (``run.generate`` with the
    rationale's sampling), closed and followed by the gold answer; ``log_w`` (G, M) from the engine, ``rewards``
    = w. The groups hold each sample as a rollout whose completion is rationale + gold answer."""
    config, tokenizer = run.config, run.tokenizer
    fmt = config.rationale_format()
    marker = tokenizer(fmt.end, add_special_tokens=False)["input_ids"] if fmt.end is not None else []
    examples = [run.data.train[i] for i in indices]
    rollouts = run.generate([run.data.train_prompts[i] for i in indices], seed)
    samples = [[close_rationale(r, fmt, marker, gold_answer_ids(tokenizer, config.data.benchmark, example))
                for r in group]
               for example, group in zip(examples, rollouts)]
    started = time.perf_counter()
    with full_parameters(run.model, run.accelerator):
        log_w = run.engine.answer_log_likelihood([s for group in samples for s in group])
    log_w = torch.tensor(log_w, dtype=torch.float64).reshape(len(indices), config.rollout.num_samples)
    groups = [[training_rollout(r, s) for r, s in zip(*pair)] for pair in zip(rollouts, samples)]
    generated = sum(len(r.completion_ids) for group in rollouts for r in group)
    return StepBatch(list(indices), examples, groups, log_w.exp(), generated, time.perf_counter() - started,
                     log_w=log_w, samples=samples)


def training_rollout(rollout: Rollout, sample: LikelihoodSample) -> Rollout:
    """``rollout`` with the sample's completion (rationale + gold answer); the log-probs of the forced and answer
    tokens, which were not sampled, are 0."""
    padding = [0.0] * (len(sample.completion_ids) - len(sample.rationale_logprobs))
    return replace(rollout, completion_ids=sample.completion_ids, logprobs=sample.rationale_logprobs + padding)


def likelihood_weights(config: TrainConfig, log_w: torch.Tensor, q, generator) -> LikelihoodWeights:
    """(score, answer) (G, M) = ``tsallis.compute_likelihood_weights`` for ``config.algo`` on ``log_w``, with the
    configured options that the estimator's likelihood form reads, q and the step's resampling generator."""
    form = config.algo.spec.likelihood
    values: dict[str, Any] = {name: getattr(config.algo, name) for name in form.options
                              if name in configurable_options()}
    if "q" in form.options:
        values["q"] = q
    if "generator" in form.options:
        values["generator"] = generator
    return compute_likelihood_weights(config.algo.name, log_w, EstimatorOptions(**values))


def token_coefficients(samples: list[list[LikelihoodSample]], weights: LikelihoodWeights) -> torch.Tensor:
    """A (N, C_max) float32, row-major over the groups: row i = M · (score_i · rationale_mask_i + answer_i ·
    answer_mask_i), zero-padded after the completion (module docstring)."""
    flat = [s for group in samples for s in group]
    m = len(samples[0])
    score, answer = (torch.as_tensor(c, dtype=torch.float64).reshape(-1) for c in weights)
    out = torch.zeros(len(flat), max(len(s.completion_ids) for s in flat), dtype=torch.float64)
    for i, sample in enumerate(flat):
        rationale = torch.tensor(sample.rationale_mask, dtype=torch.float64)
        gold = torch.tensor(sample.answer_mask, dtype=torch.float64)
        out[i, : len(rationale)] = m * (score[i] * rationale + answer[i] * gold)
    return out.float()


def likelihood_metrics(log_w: torch.Tensor, q, weights: LikelihoodWeights) -> dict[str, float]:
    """The step's likelihood-form metrics (this rank's groups):

    * ``weights/log10_wbar_p25|median|p75``: quartiles over groups of log10 w̄_g, w̄_g = (1/M) Σ_m w_gm;
    * ``weights/monitor``: the paper's monitor (Fig. 3) max_m c_gm / M^q averaged over groups, with c_gm =
      w_gm / w̄_g^q - (w̄_g,¬m)^(1-q) GARL's centred weight (Eq. 12, without the 1/N_q normalisation);
    * ``groups/expected_frac_no_success``: (1/G) Σ_g Π_m (1 - w_gm), the expected share of groups in which no
      sampled answer would be right (where the reward form has no signal);
    * ``weights/score_abs_sum``, ``weights/answer_abs_sum``: Σ |score| and Σ |answer|, the sizes of the score
      and pathwise parts of the step's coefficients.
    """
    g, m = log_w.shape
    log10_mean = (torch.logsumexp(log_w, dim=1) - math.log(m)) / math.log(10.0)  # (G,), -inf for w̄ = 0
    quartiles = torch.quantile(log10_mean, torch.tensor([0.25, 0.5, 0.75], dtype=log10_mean.dtype),
                               interpolation="nearest")
    centred = m * torch.as_tensor(garl_likelihood(log_w, q, baseline="loo", normalize="none").score)  # c (G, M)
    scale = torch.pow(float(m), torch.as_tensor(q, dtype=torch.float64)).reshape(-1, 1)  # M^q, (1, 1) or (G, 1)
    monitor = (centred.max(dim=1, keepdim=True).values / scale).mean()
    no_success = torch.prod(-torch.expm1(log_w), dim=1).mean()  # Π_m (1 - w_m), exact for tiny w
    score, answer = (torch.as_tensor(c, dtype=torch.float64) for c in weights)
    return {"weights/log10_wbar_p25": float(quartiles[0]), "weights/log10_wbar_median": float(quartiles[1]),
            "weights/log10_wbar_p75": float(quartiles[2]), "weights/monitor": float(monitor),
            "groups/expected_frac_no_success": float(no_success), "weights/score_abs_sum": float(score.abs().sum()),
            "weights/answer_abs_sum": float(answer.abs().sum())}


def likelihood_coefficients(config: TrainConfig, batch: StepBatch, q, generator) -> tuple[torch.Tensor, dict]:
    """The per-token coefficients (N, C_max) of ``batch`` (a :func:`sample_likelihood` batch) and its metrics."""
    weights = likelihood_weights(config, batch.log_w, q, generator)
    return token_coefficients(batch.samples, weights), likelihood_metrics(batch.log_w, q, weights)
