"""`autopeft search` on the embedded MiniLM and tweets (trains for real: marked integration)."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from autopeft.pareto import non_dominated


@pytest.mark.integration
def test_cli_search_on_embedded_defaults(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", "from autopeft.cli import main; main()", "search", "--budget",
                           "0.5%", "--task", "tweet_sentiment", "--strategy", "random", "--trials", "3",
                           "--fidelity", "steps=5,eval=100", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert str(out) in proc.stdout + proc.stderr
    info = json.loads((out / "run.json").read_text())
    budget = info["budget"]["peft_params"]
    assert budget == 113566 and info["status"] == "finished"
    assert info["machine"]["cpus"] >= 1 and "flags" in info["machine"]  # CPU timings compare on alike machines
    trials = pd.read_csv(out / "trials.csv")
    front = pd.read_csv(out / "front.csv")
    done = trials[trials["state"] == "complete"]
    assert len(done) == 3 and (done["peft_params"] <= budget).all() and (done["peft_pct"] <= 0.5).all()
    assert (done["dev_loss"] > 0).all()  # the trainer's dev loss, which breaks ties between equal scores
    nd = done[non_dominated(done["score"], done["peft_params"])]
    assert sorted(front["trial"]) == sorted(nd["trial"])
    assert front["test_score"].notna().all()
    kept = sorted(p.name for p in (out / "weights").iterdir())
    assert kept == sorted(f"trial-{t}.safetensors" for t in front["trial"])
