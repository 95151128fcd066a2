"""GARL, PAFT and the other ``tsallis`` estimators inside other training engines.

* :mod:`llm.integrations.trl`: ``TsallisGRPOTrainer``, a ``trl.GRPOTrainer`` whose advantages are the
  estimator's weights, so that TRL trains with exactly -(1/G) Σ_g Σ_m w_gm log p(z_gm).
* :mod:`llm.integrations.verl`: the estimators registered in verl's advantage-estimator registry
  (``algorithm.adv_estimator=garl`` and friends).
* :mod:`llm.integrations.core`: what both share: one step's weights and diagnostics from a (G, M)
  reward tensor.

Neither TRL nor verl is a dependency of this project: each module imports its engine only when used.
See docs/integrations.md.
"""
