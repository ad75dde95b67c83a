"""The front `autopeft search` prints: front.md's table (methods, score, size), one line per member
in an 80-column terminal, the configurations left to the files."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
from rich.console import Console

from autopeft.commands.search import _print_front
from autopeft.report.run import load_run
from autopeft.report.tables import front_table, write_front_md
from tests.helpers.fake_run import write_run


def test_printed_front_is_front_md_without_the_configurations(tmp_path):
    run_dir = write_run(tmp_path / "run", n=30, search_style=True)
    result = SimpleNamespace(run_dir=run_dir, trials=pd.read_csv(run_dir / "trials.csv"), hypervolume=0.5,
                             stopped="trials")
    console = Console(record=True, width=80)
    _print_front(result, console)
    lines = console.export_text().splitlines()
    run = load_run(run_dir)
    table = front_table(run)
    for row in table.to_dict("records"):  # each member on one line, as front.md has it
        cells = (f" {row['trial']} ", row["methods"], row["score"], row["PEFT params"], row["% of backbone"])
        assert sum(all(c in line for c in cells) for line in lines) == 1, row
    body = [line for line in lines if line.startswith("│")]
    assert len(body) == len(run.front) + len(run.baselines)  # no cell wraps onto a second line
    assert not any("…" in line for line in body)  # nor is cut short
    # the configurations are in front.md (so their absence here is a real check) but not printed
    md = write_front_md(run, tmp_path / "front.md").read_text()
    assert all(config in md for config in table["configuration"])
    assert not any(config in line for config in table["configuration"] for line in lines)
    assert any(str(run_dir / "front.csv") in line for line in lines)
