"""A rich progress bar over training steps showing the latest reward and loss."""

from __future__ import annotations

from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class StepProgress:
    """``update(step, record)`` after every step; a no-op when disabled (non-main ranks, ``progress: false``)."""

    def __init__(self, total: int, start: int, enabled: bool = True) -> None:
        self._progress = None
        if not enabled:
            return
        self._progress = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        self._task = self._progress.add_task("train", total=total, completed=start, status="")
        self._progress.start()

    def update(self, step: int, record: dict[str, Any]) -> None:
        """Advance to ``step`` and show reward, no-success fraction, loss and any maj@k."""
        if self._progress is None:
            return
        parts = [f"reward {record.get('reward/mean', float('nan')):.3f}",
                 f"no-success {record.get('groups/frac_no_success', float('nan')):.2f}",
                 f"loss {record.get('loss/policy', float('nan')):.4f}"]
        parts += [f"{k.removeprefix('eval/')} {v:.3f}" for k, v in record.items() if k.startswith("eval/maj@")]
        self._progress.update(self._task, completed=step, status="  ".join(parts))

    def close(self) -> None:
        """Stop the live display."""
        if self._progress is not None:
            self._progress.stop()
