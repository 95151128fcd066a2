"""Evaluation: maj@k, pass@k (unbiased), mean@k, EM and F1 over k sampled completions per question.

Public API::

    from llm.evaluation import EvalConfig, evaluate, write_results, print_summary
    result = evaluate(examples, engine, tokenizer, SamplingConfig(temperature=0.7, max_new_tokens=256),
                      EvalConfig(k=16, seed=0))
    result.summary["finqa"]["maj_at_k"]
    result.summary["finqa"]["format_rules"]      # {"answer_tag": 0.0, "answer_line": 0.81, ...}: format_ok by rule

``tsallis eval`` (:mod:`llm.cli.eval`) wraps this for the command line.
"""

from llm.evaluation.loop import EvalConfig, EvalResult, evaluate, format_breakdown, question_record, summarize
from llm.evaluation.metrics import maj_at_k, majority_vote, mean_at_k, pass_at_k
from llm.evaluation.report import print_summary, summary_table, write_results

__all__ = ["EvalConfig", "EvalResult", "evaluate", "format_breakdown", "maj_at_k", "majority_vote", "mean_at_k",
           "pass_at_k", "print_summary", "question_record", "summarize", "summary_table", "write_results"]
