"""Concurrency (issue 24, item 5): two searches at once in two run directories do not interfere (the
same seed gives both the same record as one search alone); a second writer of one run directory is
refused (tests/search/test_resume.py)."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd

from autopeft.search.api import search
from autopeft.search.evaluator import SyntheticEvaluator

SCRIPT = """
import sys
from autopeft.search.api import search
from autopeft.search.evaluator import SyntheticEvaluator
search("tweet_sentiment", space=sys.argv[2], strategy="mobo", trials=6, out=sys.argv[1], seed=5,
       evaluator=SyntheticEvaluator(delay_s=0.1, keep_state=True), keep_weights="all",
       strategy_options={"pool": 32, "restarts": 1, "max_evals": 100, "mc_samples": 16})
"""
COLUMNS = ["trial", "state", "score", "peft_params", "candidate", "front"]


def test_two_searches_at_once_do_not_interfere(tmp_path, small_space):
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path / name), small_space])
             for name in ("one", "two")]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    alone = search("tweet_sentiment", space=small_space, strategy="mobo", trials=6, out=tmp_path / "alone", seed=5,
                   evaluator=SyntheticEvaluator(keep_state=True), keep_weights="all",
                   strategy_options={"pool": 32, "restarts": 1, "max_evals": 100, "mc_samples": 16})
    expected = alone.trials[COLUMNS].reset_index(drop=True)
    for name in ("one", "two"):
        got = pd.read_csv(tmp_path / name / "trials.csv")[COLUMNS]
        pd.testing.assert_frame_equal(got, pd.read_csv(tmp_path / "alone" / "trials.csv")[COLUMNS])
        kept = sorted(p.name for p in (tmp_path / name / "weights").glob("*.safetensors"))
        assert kept == sorted(f"trial-{t}.safetensors" for t in expected["trial"])
