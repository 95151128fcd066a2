"""The metrics writer: JSONL records (non-finite floats as null) and TensorBoard scalars read back."""

import math

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from llm.train.metrics import MetricsWriter, read_metrics


def test_jsonl_and_tensorboard_hold_the_same_scalars(tmp_path):
    writer = MetricsWriter(tmp_path)
    writer.write({"step": 1, "reward/mean": 0.25, "groups/frac_no_success": 0.5, "loss": math.nan})
    writer.write({"step": 2, "reward/mean": 0.75, "groups/frac_no_success": 0.0, "loss": 1.5})
    writer.close()
    records = read_metrics(tmp_path)
    assert [r["reward/mean"] for r in records] == [0.25, 0.75]
    assert records[0]["loss"] is None  # NaN is written as JSON null, never as a bare NaN token
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert {"reward/mean", "groups/frac_no_success", "loss"} <= set(events.Tags()["scalars"])
    assert [(e.step, e.value) for e in events.Scalars("reward/mean")] == [(1, 0.25), (2, 0.75)]
    assert [(e.step, e.value) for e in events.Scalars("loss")] == [(2, 1.5)]


def test_truncate_after_drops_later_steps(tmp_path):
    writer = MetricsWriter(tmp_path, tensorboard=False)
    for step in (1, 2, 3):
        writer.write({"step": step, "reward/mean": step / 10})
    writer.truncate_after(2)
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2]
    assert not (tmp_path / "tensorboard").exists()
