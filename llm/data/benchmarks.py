"""The benchmark registry: one :class:`Benchmark` record per benchmark, registered by its own module.

A benchmark module (``finqa``, ``hotpotqa``, ``musique``, ``synthetic``) holds everything that is particular to
it: how a record is parsed (or how the examples are generated), its shipped files, the instruction of its prompt,
the scoring rule that verifies its answers and any check it puts on a training config. It ends with
``register(Benchmark(...))``; :data:`MODULES` names the modules, and every other list of benchmark names in the
project (``load_benchmark``, the scorers, ``data.benchmark`` of the training config, ``tsallis data
--benchmark``) is derived from :data:`REGISTRY`. A new benchmark is therefore one file and one entry in
:data:`MODULES`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

MODULES = ("finqa", "hotpotqa", "musique", "synthetic")
"""The benchmark modules of :mod:`llm.data`, in the order their names are listed."""


@dataclass(frozen=True)
class Benchmark:
    """What the rest of the project needs to know about one benchmark.

    A benchmark read from files sets ``parse_record`` (and usually ``shipped``); a generated task sets
    ``task_settings`` and ``make_examples`` instead.
    """

    name: str
    """The name used everywhere (``Example.benchmark``, ``data.benchmark``, ``--benchmark``)."""
    scoring_rule: str
    """The verifier: a rule of :data:`llm.scoring.SCORING_RULES` (``finqa``, ``qa``, ``answer_slot``)."""
    scoring_options: Mapping[str, Any] = field(default_factory=dict)
    """Keyword arguments of the rule (HotPotQA's yes/no rule, MuSiQue's aliases)."""
    instruction: str = ""
    """The prompt's instruction; ``{source}`` becomes ``context_source`` (or "from your own knowledge" closed-book)."""
    context_source: str = ""
    """How the instruction points at the context shown below it."""
    context_heading: str = ""
    """The heading above the context in the prompt."""
    parse_record: Callable[..., Any] | None = None
    """``(source, raw, *, closed_book) -> Example`` for one record of the official file."""
    shipped: Mapping[tuple[str, bool], str] = field(default_factory=dict)
    """(split, closed_book) -> file under ``llm/data/shipped/``."""
    task_settings: type | None = None
    """A generated task: the dataclass of its settings (the training config's ``data.<name>`` field)."""
    make_examples: Callable[[Any, str], list] | None = None
    """A generated task: ``(settings, split) -> examples``."""
    read_settings: Callable[[Any], Any] | None = None
    """A generated task: read its settings from a YAML/JSON file (``path=`` of ``load_benchmark``)."""
    prompt: Callable[[Any], str] | None = None
    """A fixed prompt for an example (no instruction, no chat template), or None for the instruction prompt."""
    completion_length: Callable[[Any], int] | None = None
    """The exact completion length of an example, for a task whose completions all have one; None: free length."""
    check_config: Callable[[Any], None] | None = None
    """Checks of a training config that reads this benchmark (raise ``ValueError`` naming key and value)."""
    exact_success: bool = False
    """Whether the exact success probability P_θ(x) can be enumerated (``eval.exact_every``)."""
    rationale_end: str | None = "Answer:"
    """The likelihood form (``algo.weights: likelihood``): the marker that ends a sampled rationale z, after which
    the gold answer y* is teacher-forced; the QA prompts ask for the answer on a line ``Answer: ...``. None: a
    fixed-length rationale of ``rationale_length(settings)`` tokens and no marker."""
    rationale_length: Callable[[Any], int] | None = None
    """A fixed-length rationale: ``settings -> number of tokens`` (the synthetic task's free tokens)."""
    gold_continuation: Callable[[Any], str] = lambda example: f" {example.answer}"
    """``example -> text`` of y* as it follows the rationale (after the marker); tokenized on its own."""
    gold_eos: bool = True
    """Whether y* ends with the tokenizer's EOS (its terminator); a fixed-length task whose completions end
    without EOS sets False."""


REGISTRY: dict[str, Benchmark] = {}
"""Every registered benchmark by name; filled when :mod:`llm.data` is imported."""


def register(benchmark: Benchmark) -> Benchmark:
    """Add ``benchmark`` to :data:`REGISTRY`; a second registration under a taken name is an error."""
    if benchmark.name in REGISTRY and REGISTRY[benchmark.name] is not benchmark:
        raise ValueError(f"benchmark {benchmark.name!r} is already registered")
    REGISTRY[benchmark.name] = benchmark
    return benchmark


def benchmark_spec(name: str) -> Benchmark:
    """The registered benchmark ``name``; an unknown name raises ``ValueError`` listing the known ones."""
    if name not in REGISTRY:
        raise ValueError(f"unknown benchmark {name!r}; choose one of {', '.join(REGISTRY)}")
    return REGISTRY[name]


for _module in MODULES:
    importlib.import_module(f"llm.data.{_module}")

BENCHMARKS = tuple(REGISTRY)
"""The registered benchmark names, in :data:`MODULES` order."""
