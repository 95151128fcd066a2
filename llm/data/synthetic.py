"""The synthetic reversal task: a verifiable task whose success probability can be computed exactly.

Task
----
A prompt x is ``n`` symbols from an alphabet of ``S`` digits followed by ``>``, e.g. ``"3150>"``. The gold
answer y* is the reversed prompt, ``"0513"`` (L = n symbols). A completion z is ``k`` free tokens (the latent
"reasoning": any tokens but EOS) followed by the answer, so completions have exactly k + L tokens; the rollout
length limit is k + L (:func:`max_new_tokens`). The verifier (:mod:`llm.scoring.synthetic`) reads only the
answer slot::

    r(x, z) = 1  iff  z has k + L tokens, none of them EOS, and z[k:] = y*

so the success probability sums over the latent prefixes u ∈ (V ∖ {EOS})^k::

    P_θ(x) = Σ_z p_θ(z | x) r(x, z) = Σ_u p_θ(u y* | x)

which :mod:`llm.evaluation.exact` evaluates exactly by teacher forcing every (u, y*).

Prompts are distinct and never palindromes (a palindrome's copy is its reversal, which would let the copy
strategy of :mod:`llm.coldstart.base_model` succeed). One seeded shuffle of such prompts gives the training
prompts and then the held-out prompts, so the two splits never share a prompt.

Label noise: with ``noise`` = ρ, round(ρ · num_train) training prompts, chosen by the seed, get the corrupted
target "the prompt copied" (the plausible wrong answer a careless annotator, or the base model's habitual
strategy, writes). Held-out targets stay clean. ``Example.metadata`` keeps ``clean_answer`` and ``corrupted``.

Tokens
------
The vocabulary (:func:`synthetic_tokenizer`) is one token per character: the digits ``0``..``S-1``, ``>``,
the two letters ``r`` and ``c`` (the base model announces its strategy with them), and ``<eos>``, which is
also the pad token. Every token but EOS decodes to exactly one character, so "k + L characters" and
"k + L tokens without EOS" are the same condition.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from llm.data.benchmarks import Benchmark, register
from llm.data.records import DataFormatError, Example
from llm.seeding import SEED_LIMIT

SEPARATOR = ">"
STRATEGY_TOKENS = ("r", "c")
"""Letters in the vocabulary for the base model's strategy announcement (reverse, copy)."""
EOS = "<eos>"
BENCHMARK = "synthetic"


@dataclass(frozen=True)
class SyntheticTask:
    """The reversal task's settings (module docstring); every field is validated on construction."""

    symbols: int = 8
    """S, alphabet size (digits 0..S-1), 2 to 10."""
    prompt_length: int = 4
    """n, symbols per prompt; the answer has the same length L = n."""
    free_tokens: int = 2
    """k, free latent tokens before the answer (the exact sum has (|V| - 1)^k prefixes per prompt)."""
    num_train: int = 32
    """Training prompts."""
    num_heldout: int = 32
    """Held-out prompts (the ``dev`` split)."""
    noise: float = 0.0
    """ρ, fraction of training targets replaced by the copied prompt; held-out targets stay clean."""
    seed: int = 0
    """Seeds the prompts, the split and the choice of corrupted prompts."""

    def __post_init__(self) -> None:
        _check_int("symbols", self.symbols, 2, 10)
        _check_int("prompt_length", self.prompt_length, 2, 12)
        _check_int("free_tokens", self.free_tokens, 0, 4)
        _check_int("num_train", self.num_train, 1, 100_000)
        _check_int("num_heldout", self.num_heldout, 1, 100_000)
        _check_int("seed", self.seed, 0, SEED_LIMIT - 1)
        if isinstance(self.noise, bool) or not isinstance(self.noise, (int, float)) or not 0.0 <= self.noise < 1.0:
            raise ValueError(f"synthetic task: noise must be a number in [0, 1), got noise={self.noise!r}")
        available = self.symbols**self.prompt_length - self.symbols ** ((self.prompt_length + 1) // 2)
        if self.num_train + self.num_heldout > available:
            raise ValueError(
                f"synthetic task: num_train + num_heldout = {self.num_train + self.num_heldout} prompts, but only "
                f"{available} non-palindromic prompts exist for symbols={self.symbols}, prompt_length="
                f"{self.prompt_length}")

    @property
    def answer_length(self) -> int:
        """L = n: the answer is the reversed prompt."""
        return self.prompt_length

    @property
    def completion_length(self) -> int:
        """k + L, the length of every successful completion (and the rollout limit)."""
        return self.free_tokens + self.answer_length

    @property
    def alphabet(self) -> str:
        """The prompt and answer symbols, ``"01234567"`` for S = 8."""
        return "".join(str(i) for i in range(self.symbols))

    @property
    def num_corrupted(self) -> int:
        """round(ρ · num_train) corrupted training prompts."""
        return int(round(self.noise * self.num_train))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], source: str = "synthetic task") -> "SyntheticTask":
        """Build from a mapping of field values; unknown keys are an error naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{source}: unknown synthetic task setting(s) {unknown}; valid: {sorted(known)}")
        return cls(**dict(values))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the settings (JSON/YAML safe)."""
        return asdict(self)


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"synthetic task: {name} must be an integer in [{low}, {high}], got {name}={value!r}")


def max_new_tokens(task: SyntheticTask) -> int:
    """The rollout limit k + L: a longer completion could not succeed, a shorter one has failed."""
    return task.completion_length


def _prompts(task: SyntheticTask) -> list[str]:
    """num_train + num_heldout distinct non-palindromic prompts in a seeded order (train first)."""
    rng = np.random.default_rng([task.seed, 0x5EED])
    wanted = task.num_train + task.num_heldout
    chosen: list[str] = []
    seen: set[str] = set()
    while len(chosen) < wanted:
        for row in rng.integers(0, task.symbols, size=(2 * wanted, task.prompt_length)):
            text = "".join(str(int(d)) for d in row)
            if text != text[::-1] and text not in seen:
                seen.add(text)
                chosen.append(text)
                if len(chosen) == wanted:
                    break
    return chosen


def corrupted_indices(task: SyntheticTask) -> frozenset[int]:
    """Indices of the training prompts whose target is corrupted (a seeded choice of num_corrupted)."""
    rng = np.random.default_rng([task.seed, 0xC0DE])
    return frozenset(int(i) for i in rng.choice(task.num_train, size=task.num_corrupted, replace=False))


def make_examples(task: SyntheticTask, split: str) -> list[Example]:
    """The ``train`` (possibly corrupted) or ``dev`` (held-out, clean) examples of ``task``."""
    if split not in ("train", "dev"):
        raise ValueError(f"the synthetic task has the splits 'train' and 'dev' (held-out), got split={split!r}")
    prompts = _prompts(task)
    if split == "train":
        rows, corrupt = prompts[: task.num_train], corrupted_indices(task)
    else:
        rows, corrupt = prompts[task.num_train :], frozenset()
    examples = []
    for i, prompt in enumerate(rows):
        clean = prompt[::-1]
        corrupted = i in corrupt
        examples.append(Example(
            id=f"{BENCHMARK}-{split}-{i:05d}",
            benchmark=BENCHMARK,
            question=prompt,
            context="",
            answer=prompt if corrupted else clean,
            metadata={"clean_answer": clean, "corrupted": corrupted, "free_tokens": task.free_tokens,
                      "answer_type": "symbols", "question_type": "corrupted" if corrupted else "clean",
                      "task": task.to_dict(), "split": split},
        ))
    return examples


def prompt_text(example: Example) -> str:
    """The prompt string the policy continues: the symbols and the separator, ``"3150>"``."""
    return example.question + SEPARATOR


def read_task_file(path: str | Path) -> SyntheticTask:
    """A task from a JSON or YAML file of settings (``tsallis coldstart`` writes ``task.yaml``)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "no such file")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (UnicodeDecodeError, yaml.YAMLError) as err:
        raise DataFormatError(path, f"not a YAML/JSON file of synthetic task settings: {err}") from None
    if not isinstance(values, dict):
        raise DataFormatError(path, f"expected a mapping of synthetic task settings, got {type(values).__name__}")
    try:
        return SyntheticTask.from_mapping(values, str(path))
    except (TypeError, ValueError) as err:
        raise DataFormatError(path, str(err)) from None


def write_task_file(task: SyntheticTask, path: str | Path) -> Path:
    """Write the settings as JSON-compatible YAML (what :func:`read_task_file` reads)."""
    from tsallis.files import atomic_write_text

    path = Path(path)
    atomic_write_text(path, json.dumps(task.to_dict(), indent=2) + "\n")
    return path


def synthetic_tokenizer(task: SyntheticTask):
    """A character-level fast tokenizer over the task's vocabulary (module docstring), EOS as pad, no BOS."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {EOS: 0}
    for char in (*task.alphabet, SEPARATOR, *STRATEGY_TOKENS):
        vocab[char] = len(vocab)
    backend = Tokenizer(models.WordLevel(vocab, unk_token=EOS))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    backend.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=EOS, pad_token=EOS)
    tokenizer.padding_side = "left"
    return tokenizer


def example_completion_length(example: Example) -> int:
    """k + L of the task ``example`` was generated from (its settings travel in ``metadata["task"]``)."""
    return max_new_tokens(SyntheticTask.from_mapping(example.metadata["task"]))


def check_config(config: Any) -> None:
    """A training config on this task: the rollout length must be the task's completion length k + L."""
    length = config.data.synthetic.completion_length
    if config.rollout.max_new_tokens != length:
        raise ValueError(
            f"the synthetic task's completions have exactly free_tokens + prompt_length = {length} tokens: set "
            f"rollout.max_new_tokens={length}, got rollout.max_new_tokens={config.rollout.max_new_tokens}")


register(Benchmark(
    name=BENCHMARK,
    scoring_rule="answer_slot",
    task_settings=SyntheticTask,
    make_examples=make_examples,
    read_settings=read_task_file,
    prompt=prompt_text,
    completion_length=example_completion_length,
    check_config=check_config,
    exact_success=True,
    rationale_end=None,
    rationale_length=lambda task: task.free_tokens,
    gold_continuation=lambda example: example.answer,
    gold_eos=False,
))
