"""Bad input to `autopeft search`: one clear line on stderr, exit status 2, no run directory."""

import subprocess
import sys

import pytest

CASES = [
    (["--strategy", "bogus"], "unknown strategy 'bogus'"),
    (["--budget", "0.5x"], "malformed budget"),
    (["--budget", "100"], "below the smallest candidate"),
    (["--space", "/nonexistent/space.yaml"], "unknown space"),
    (["--time-limit", "soon"], "malformed time limit"),
    (["--keep-weights", "some"], "--keep-weights"),
    (["--confirm", "-1"], "--confirm -1 must be 0"),
    (["--challenge", "quick"], "--challenge quick is the search's own fidelity"),
    (["--challenge", "standard", "--strategy", "random"], "--strategy random trains none"),
    (["--challenge", "standard", "--strategy", "mobo:start=maxmin"], "trains none: add --baselines"),
]


@pytest.mark.parametrize("args,message", CASES)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", "from autopeft.cli import main; main()", "search",
                           "--task", "tweet_sentiment", "--out", str(out), *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr
    assert not out.exists()


def test_unreadable_space_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("methods: [unclosed\n")
    proc = subprocess.run([sys.executable, "-c", "from autopeft.cli import main; main()", "search", "--task",
                           "tweet_sentiment", "--space", str(bad), "--out", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "not valid YAML" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_strategy_options_on_the_command_line(tmp_path):
    from autopeft.errors import UserError
    from autopeft.search.api import parse_strategy, search
    from autopeft.search.evaluator import SyntheticEvaluator

    assert parse_strategy("mobo:start=baselines:n_init=6") == ("mobo", {"start": "baselines", "n_init": 6})
    assert parse_strategy("random") == ("random", {})
    with pytest.raises(UserError, match="NAME:key=value"):
        parse_strategy("mobo:start")
    with pytest.raises(UserError, match="--strategy mobo: mobo: start must be one of"):
        search("tweet_sentiment", strategy="mobo:start=sideways", trials=1, out=tmp_path / "r",
               evaluator=SyntheticEvaluator())
