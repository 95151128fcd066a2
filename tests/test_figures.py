"""``tsallis figures --quick``: every file is produced (PNG only unless --formats asks for PDF too), every check
passes, and a fixed seed reproduces the bytes."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from figures.cli import SUMMARY_COLUMNS, default_formats, summary_table
from figures.common import RELATIONS, Check, Table
from figures.registry import FIGURE_NAMES, load_figure
from tsallis.cli import main
from tsallis.files import save_figure

EXTENSIONS = ("png", "csv", "json")  # what --quick writes per figure
REPRODUCED = ("fig_bias", "fig_stochastic_training")  # Monte Carlo at fixed θ, and stochastic training


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[Path, int]:
    out = tmp_path_factory.mktemp("figures")
    code = main(["figures", "--quick", "--out", str(out), "--seed", "0"])
    return out, code


def test_every_figure_and_file_is_produced(quick_run):
    out, _ = quick_run
    for name in FIGURE_NAMES:
        for ext in EXTENSIONS:
            path = out / f"{name}.{ext}"
            assert path.is_file() and path.stat().st_size > 0, path
    assert (out / "summary.csv").is_file()


def test_every_check_passes_in_quick_mode(quick_run):
    out, code = quick_run
    with open(out / "summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    failed = [row for row in rows if row["passed"] == "False"]
    assert not failed, failed
    assert code == 0
    assert {row["figure"] for row in rows} == set(FIGURE_NAMES)  # every figure reports at least one check


def test_summary_gives_each_check_its_relation(quick_run):
    """Every row states its relation; ≈ rows carry a positive tolerance, bounds none, and 'passed' follows
    from measured, relation and predicted (no inequality dressed up as "predicted 0, tolerance 0")."""
    out, _ = quick_run
    with open(out / "summary.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames == ["figure", "claim", "regime", "measured", "relation", "predicted", "tolerance", "passed"]
    assert {row["relation"] for row in rows} <= set(RELATIONS)
    assert {"≈", "≤"} <= {row["relation"] for row in rows}
    for row in rows:
        recomputed = Check(row["figure"], row["claim"], row["regime"], float(row["measured"]), row["relation"],
                           float(row["predicted"] or "nan"), float(row["tolerance"] or "nan"))
        assert str(recomputed.passed) == row["passed"], row
        if row["relation"] == "≈":
            assert float(row["tolerance"]) > 0, row
        else:
            assert row["tolerance"] == "", row
        assert (row["predicted"] == "") == (row["relation"] == "info"), row


@pytest.mark.parametrize(("measured", "relation", "predicted", "tolerance", "passed"), [
    (0.5, "≤", 1.0, math.nan, True), (1.0, "≤", 1.0, math.nan, True), (1.5, "≤", 1.0, math.nan, False),
    (1.0, "<", 1.0, math.nan, False), (0.9, "<", 1.0, math.nan, True), (1.0, "≥", 1.0, math.nan, True),
    (0.9, "≥", 1.0, math.nan, False), (1.0, ">", 1.0, math.nan, False), (0.0, "≈", 0.1, 0.1, True),
    (0.0, "≈", 0.1, 0.05, False), (math.nan, "≤", 1.0, math.nan, False), (math.nan, "≈", 0.0, 1.0, False),
    (math.inf, ">", 0.0, math.nan, False), (0.3, "info", math.nan, math.nan, None), (math.nan, "info", math.nan, math.nan, None),
])
def test_check_passes_by_its_relation(measured, relation, predicted, tolerance, passed):
    assert Check("fig", "claim", "regime", measured, relation, predicted, tolerance).passed is passed


def test_check_refuses_inconsistent_relations():
    with pytest.raises(ValueError, match="relation must be one of"):
        Check("fig", "claim", "regime", 1.0, "=", 1.0)
    with pytest.raises(ValueError, match="relation '≈' needs a finite tolerance >= 0"):
        Check("fig", "claim", "regime", 1.0, "≈", 1.0)
    with pytest.raises(ValueError, match="tolerance applies to '≈' only"):
        Check("fig", "claim", "regime", 1.0, "≤", 1.0, 0.0)
    with pytest.raises(ValueError, match="relation '≥' needs a predicted value or bound"):
        Check("fig", "claim", "regime", 1.0, "≥")
    assert Check.within("fig", "claim", "regime", 1.05, 1.0, 0.1).relation == "≈"


def test_printed_summary_shows_the_relation_column():
    checks = [Check("fig_x", "a bound", "r", 0.375, "≤", 1.0), Check.within("fig_x", "a value", "r", 1.0, 1.0, 0.1),
              Check("fig_x", "seen", "r", 2.0, "info")]
    table = summary_table(checks, "t")
    assert tuple(col.header for col in table.columns) == SUMMARY_COLUMNS
    rel = [col for col in table.columns if col.header == "rel"][0]
    tol = [col for col in table.columns if col.header == "tol"][0]
    assert list(rel.cells) == ["≤", "≈", "info"] and list(tol.cells) == ["", "0.1", ""]


def test_sidecar_records_config_seed_and_commit(quick_run):
    out, _ = quick_run
    meta = json.loads((out / "fig_escape_time.json").read_text())
    assert meta["figure"] == "fig_escape_time" and meta["seed"] == 0 and meta["quick"] is True
    assert meta["config"]["target"] == 0.5 and len(meta["git_commit"]) in (40, len("unknown"))


def test_fixed_seed_reproduces_the_files(quick_run, tmp_path):
    """The same seed in one process gives the bytes the 2-process run wrote; --formats adds the PDF."""
    out, _ = quick_run
    assert main(["figures", "--quick", "--out", str(tmp_path), "--seed", "0", "--jobs", "1", "--only", *REPRODUCED,
                 "--formats", "png", "pdf"]) == 0
    for name in REPRODUCED:
        for ext in EXTENSIONS:
            assert (tmp_path / f"{name}.{ext}").read_bytes() == (out / f"{name}.{ext}").read_bytes(), f"{name}.{ext}"
        assert (tmp_path / f"{name}.pdf").read_bytes().startswith(b"%PDF"), name
        assert not (out / f"{name}.pdf").exists()  # --quick alone writes no PDF


def test_the_full_run_writes_png_and_pdf_and_quick_png_only():
    assert default_formats(quick=False) == ("png", "pdf") and default_formats(quick=True) == ("png",)


def test_plots_are_made_from_the_csv_alone(quick_run, tmp_path):
    """Replotting from the written CSV needs no recomputation and gives the same PNG."""
    out, _ = quick_run
    module = load_figure("fig_escape_slopes")
    save_figure(module.plot(Table(out / "fig_escape_slopes.csv")), tmp_path / "replot", ("png",))
    assert (tmp_path / "replot.png").read_bytes() == (out / "fig_escape_slopes.png").read_bytes()


def test_registry_lists_every_figure_script():
    scripts = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "figures").glob("fig_*.py"))
    assert scripts == sorted(FIGURE_NAMES)
    with pytest.raises(ValueError, match="unknown figure"):
        load_figure("fig_nope")


def test_unknown_figure_name_is_a_usage_error(tmp_path):
    with pytest.raises(SystemExit):
        main(["figures", "--only", "fig_nope", "--out", str(tmp_path)])
