"""Toy policies with exact P_θ, gradient-flow ODEs and Monte Carlo studies that verify the theory.

Every estimator used here comes from :mod:`tsallis.estimators`; nothing in ``sim`` re-implements one.
"""
