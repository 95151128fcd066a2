"""Readers of finished runs: per-run summaries grouped over seeds with bootstrap intervals (:mod:`llm.runs.report`,
:mod:`llm.runs.aggregate`) and comparison plots drawn from a CSV (:mod:`llm.runs.plot`). Nothing here trains."""
