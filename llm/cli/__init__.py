"""The ``tsallis`` subcommands of the LLM side: ``data``, ``eval``, ``train`` (with ``plot``, ``export``, ``report``)
and ``coldstart``. Each module's ``register`` functions are entry points (``pyproject.toml``) that add one
subcommand; the work itself lives in the rooms below (``llm.data``, ``llm.evaluation``, ``llm.train``,
``llm.runs``, ``llm.coldstart``)."""
