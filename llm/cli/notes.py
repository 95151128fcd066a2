"""Warnings raised by a subcommand's work, printed as ``note:`` lines on stderr (what was left out, counted once,
or differs from what was asked)."""

from __future__ import annotations

import sys
import warnings
from typing import Any, Callable


def with_notes(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, printing each warning it raised as one ``note:`` line on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(*args)
    for warning in caught:
        print(f"note: {warning.message}", file=sys.stderr)
    return result
