"""Benchmark data: FinQA, HotPotQA and MuSiQue in their official formats and the generated synthetic task, as
:class:`Example` records, each benchmark registered by its own module (:mod:`llm.data.benchmarks`).

Public API (stable; the trainer and ``tsallis eval`` use it)::

    from llm.data import Example, load_benchmark, DataFormatError
    examples = load_benchmark("finqa", split="dev")                   # shipped subset
    examples = load_benchmark("musique", "musique_ans_v1.0_dev.jsonl", split="dev")   # official file
    examples = load_benchmark("hotpotqa", split="dev", closed_book=True, limit=50)

The shipped subsets, their sources and licences are described in ``llm/data/shipped/README.md``.
"""

from llm.data.benchmarks import BENCHMARKS, benchmark_spec
from llm.data.load import SHIPPED_DIR, load_benchmark, load_benchmark_with_report, shipped_path
from llm.data.records import SPLITS, DataFormatError, Example

__all__ = ["BENCHMARKS", "benchmark_spec", "SPLITS", "SHIPPED_DIR", "DataFormatError", "Example", "load_benchmark",
           "load_benchmark_with_report", "shipped_path"]
