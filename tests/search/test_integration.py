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
                           "--fidelity", "steps=5,eval=100", "--confirm", "1", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert str(out) in proc.stdout + proc.stderr
    info = json.loads((out / "run.json").read_text())
    budget = info["budget"]["peft_params"]
    assert budget == 113566 and info["status"] == "finished"
    assert info["machine"]["cpus"] >= 1 and "flags" in info["machine"]  # CPU timings compare on alike machines
    trials = pd.read_csv(out / "trials.csv")
    front = pd.read_csv(out / "front.csv")
    done = trials[(trials["state"] == "complete") & (trials["kind"] == "search")]
    assert len(done) == 3 and (done["peft_params"] <= budget).all() and (done["peft_pct"] <= 0.5).all()
    assert (done["dev_loss"] > 0).all()  # the trainer's dev loss, which breaks ties between equal scores
    nd = done[non_dominated(done["score"], done["peft_params"])]
    assert sorted(front["trial"].astype(str)) == sorted(nd["trial"].astype(str))
    assert front["test_score"].notna().all()
    # --confirm 1: the best trial trained on two more seeds for real, its mean the pick
    extra = trials[trials["kind"] == "confirm"]
    assert len(extra) == 2 and (extra["state"] == "complete").all() and set(extra["seed"]) == {1000, 2000}
    confirmed = done[done["confirmed"].notna()]
    assert len(confirmed) == 1 and confirmed["seeds"].iloc[0] == 3 and "pick, confirmed on more seeds" in proc.stdout
    kept = sorted(p.name for p in (out / "weights").iterdir())
    assert kept == sorted(f"trial-{t}.safetensors" for t in front["trial"])
