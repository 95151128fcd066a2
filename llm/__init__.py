"""Real LLM post-training on FinQA, HotPotQA and MuSiQue with the estimators of :mod:`tsallis`."""
