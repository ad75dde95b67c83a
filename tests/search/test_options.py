"""The search options are stated once: the CLI's flags are SearchOptions' fields, and the Python
entry point refuses a name that is not one."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from autopeft.errors import UserError
from autopeft.search.api import search
from autopeft.search.options import SearchOptions


def _help() -> str:
    code = "from autopeft.cli import main; main()"
    proc = subprocess.run([sys.executable, "-c", code, "search", "--help"], capture_output=True, text=True,
                          env={"COLUMNS": "200", "PATH": ""}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_every_option_is_a_flag_with_its_help():
    text = _help()
    for f in dataclasses.fields(SearchOptions):
        flag = "--" + f.name.replace("_", "-")
        if f.metadata["cli"] is False:
            assert flag not in text
            continue
        assert flag in text, flag
        assert max(f.metadata["help"].split(), key=len) in text  # its help, not some other's
    assert "--resume" in text


def test_an_unknown_option_is_one_line_not_a_traceback():
    with pytest.raises(UserError, match="budgett"):
        search("tweet_sentiment", budgett="1%")


def test_precision_is_checked_first_and_recorded(tmp_path, small_space):
    import json

    from autopeft.search.evaluator import SyntheticEvaluator

    with pytest.raises(UserError, match="unknown precision 'fp16'"):
        search("tweet_sentiment", space=small_space, trials=1, precision="fp16", out=tmp_path / "bad",
               evaluator=SyntheticEvaluator())
    assert not (tmp_path / "bad" / "run.json").exists()
    search("tweet_sentiment", space=small_space, strategy="random", trials=1, precision="bf16", out=tmp_path / "run",
           evaluator=SyntheticEvaluator(), keep_weights="none")
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["precision"]["requested"] == "bf16" and info["precision"]["used"] == "bf16"
    assert info["settings"]["precision"] == "bf16"


def test_no_test_scores_skips_the_test_split(tmp_path, small_space):
    from autopeft.search.evaluator import SyntheticEvaluator

    kw = dict(space=small_space, strategy="random", trials=2, evaluator=SyntheticEvaluator(), keep_weights="none")
    scored = search("tweet_sentiment", out=tmp_path / "on", **kw)
    skipped = search("tweet_sentiment", out=tmp_path / "off", test_scores=False, **kw)
    assert scored.front["test_score"].notna().all()
    assert skipped.front["test_score"].isna().all() and len(skipped.front)
