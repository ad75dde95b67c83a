"""The data behind each plot of `autopeft report`, on finished, running and resumed runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from autopeft.pareto import front_hypervolume, pareto_front
from autopeft.report.build import build_report
from autopeft.report.hypervolume import hypervolume_curve
from autopeft.report.layers import layers_data
from autopeft.report.pareto import pareto_data, write_pareto_png
from autopeft.report.run import load_run
from tests.helpers.fake_run import BUDGET, brute_front, write_run

FILES = ("pareto.png", "hypervolume.png", "layers.png", "report.html", "front.md")


def _key(df: pd.DataFrame) -> list[tuple[str, float, int]]:
    return sorted((str(t), round(float(s), 6), int(p)) for t, s, p in zip(df["trial"], df["score"], df["peft_params"],
                                                                         strict=True))


@pytest.mark.parametrize("search_style", [False, True])
def test_finished_run_writes_every_file_and_plots_front_csv(tmp_path: Path, search_style: bool) -> None:
    run_dir = write_run(tmp_path / "run", n=30, search_style=search_style)
    files = build_report(run_dir)
    for name in FILES:
        assert (run_dir / "report" / name).stat().st_size > 1000, name
    assert {p.name for p in files.values()} == set(FILES)
    assert (run_dir / "report" / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run = load_run(run_dir)
    data = pareto_data(run)
    front_csv = pd.read_csv(run_dir / "front.csv")
    assert len(front_csv) >= 3
    assert _key(data["front"]) == _key(front_csv)
    # the step line passes through every member and runs on to the budget
    assert set(data["front"]["peft_pct"]) <= set(data["steps"]["x"])
    assert data["steps"]["x"].iloc[-1] == pytest.approx(run.budget_pct)
    assert data["steps"]["score"].iloc[-1] == pytest.approx(front_csv["score"].max())
    # points: every completed searched trial, baselines apart
    trials = pd.read_csv(run_dir / "trials.csv")
    done = trials[trials["state"].str.lower() == "complete"]
    n_base = 3
    assert len(data["points"]) == len(done) - n_base
    assert sorted(data["baselines"]["label"]) == ["bitfit", "lora@r8", "pfeiffer@rf64"]
    md = (run_dir / "report" / "front.md").read_text()
    assert sum(line.startswith("| ") for line in md.splitlines()) == len(front_csv) + 1 + n_base + 1


def test_front_computed_without_front_csv_is_the_non_dominated_set(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", n=40, seed=3, with_front=False)
    run = load_run(run_dir)
    expected = brute_front(pd.read_csv(run_dir / "trials.csv"))
    assert _key(pareto_data(run)["front"]) == _key(expected)


def test_running_run_with_half_written_row(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", n=20, running=True)
    text = (run_dir / "trials.csv").read_text()
    assert not text.endswith("\n")
    run = load_run(run_dir)
    assert run.counts()["running"] == 2  # both RUNNING rows; the half-written copy after them is dropped
    assert len(run.trials) == text.count("\n") - 1
    build_report(run_dir, out=tmp_path / "out")
    for name in FILES:
        assert (tmp_path / "out" / name).is_file()


def test_run_with_nothing_completed_yet(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", n=4)
    (run_dir / "front.csv").unlink()
    header = (run_dir / "trials.csv").read_text().splitlines()[0]
    (run_dir / "trials.csv").write_text(header + "\n")
    build_report(run_dir)
    assert load_run(run_dir).front.empty
    assert (run_dir / "report" / "pareto.png").stat().st_size > 1000


def test_write_pareto_png_for_plot_every(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", n=10)
    path = write_pareto_png(run_dir)
    assert path == run_dir / "report" / "pareto.png" and path.stat().st_size > 1000
    assert not list(path.parent.glob(".*.tmp"))  # written through a temporary file


def test_hypervolume_by_hand() -> None:
    front = pd.DataFrame({"score": [0.6, 0.7], "peft_params": [0.0, 50.0], "trial": [1, 2]})
    # slice (0.5, 0.6] over the whole budget, (0.6, 0.7] over half of it
    assert front_hypervolume(front, ref_score=0.5, budget=100) == pytest.approx(0.1 + 0.05)
    assert front_hypervolume(front, ref_score=0.65, budget=100) == pytest.approx(0.05 * 0.5)
    dominated = pd.concat([front, pd.DataFrame({"score": [0.55], "peft_params": [60.0], "trial": [3]})])
    assert list(pareto_front(dominated)["trial"]) == [1, 2]


def test_resumed_run_hypervolume_curve(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", n=30, resumed=True)
    run = load_run(run_dir)
    curve = hypervolume_curve(run)
    trials = pd.read_csv(run_dir / "trials.csv")
    searched = trials[(trials["baseline"].isna()) & trials["state"].isin(["COMPLETE", "FAIL"])]
    assert list(curve["n_trials"]) == list(range(1, len(searched) + 1))
    assert curve["hypervolume"].is_monotonic_increasing
    assert curve["elapsed_min"].is_monotonic_increasing and curve["elapsed_min"].iloc[-1] > 60  # the pause
    final = front_hypervolume(pd.read_csv(run_dir / "front.csv"), 0.441, BUDGET)
    assert curve["hypervolume"].iloc[-1] == pytest.approx(final) and final > 0


def test_layers_data_matches_the_front_candidates(tmp_path: Path) -> None:
    run = load_run(write_run(tmp_path / "run", n=30))
    panels = layers_data(run)
    assert [p["trial"] for p in panels] == list(run.front.sort_values("peft_params")["trial"])
    for panel, cand in zip(panels, run.front.sort_values("peft_params")["candidate"], strict=True):
        layers = pd.read_json(pd.io.common.StringIO(cand), typ="series")["layers"]
        expected = {(i, m) for i, layer in enumerate(layers) for m in layer}
        values = panel["values"]
        got = {(i, m) for i in values.index for m in values.columns if values.loc[i, m] > 0}
        assert got == expected


def test_many_mixes_colour_by_main_method(tmp_path: Path) -> None:
    run = load_run(write_run(tmp_path / "run", n=80, seed=5))
    legends = set(pareto_data(run)["points"]["legend"])
    assert legends and all(label.startswith("mostly ") for label in legends)


def test_cli_report_and_bad_directory(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", n=12)
    b = write_run(tmp_path / "b", n=12, seed=1, strategy="random")
    cli = [sys.executable, "-c", "from autopeft.cli import main; main()", "report"]
    ok = subprocess.run([*cli, str(a), "--out", str(tmp_path / "cmp"), "--compare", str(b)],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "cmp" / "pareto.png").is_file()
    bad = subprocess.run([*cli, str(tmp_path / "nope")], capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: run directory") and "Traceback" not in bad.stderr
