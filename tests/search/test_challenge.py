"""`--challenge FIDELITY`: the pick against the best baseline, both trained at the user's length."""

import json
import shutil

import pandas as pd
import pytest

from autopeft.errors import UserError
from autopeft.export import rundir
from autopeft.methods.candidate import Candidate
from autopeft.report.build import build_report
from autopeft.report.run import load_run
from autopeft.report.tables import write_front_md
from autopeft.search.api import search
from autopeft.search.challenge import challenger_of, contenders
from autopeft.search.evaluator import SyntheticEvaluator

NOISE = 0.02


class LongerTraining(SyntheticEvaluator):
    """The synthetic objective, with `bonus` added to `favoured` (candidate JSON) when it trains at
    `standard`: a candidate that gains more from the longer training than the others."""

    def __init__(self, favoured: str = "", bonus: float = 0.0, tie: float | None = None, **kw):
        super().__init__(noise=NOISE, keep_state=True, **kw)
        self.favoured, self.bonus, self.tie, self.trained = favoured, bonus, tie, []

    def evaluate(self, jobs, on_result, more=None):
        def relay(job, res):
            self.trained.append((job.fidelity.name, job.seed, job.candidate))
            if job.fidelity.name == "standard" and res.score is not None:
                res.score = self.tie if self.tie is not None else res.score + self.bonus * (
                    job.candidate == self.favoured)
            on_result(job, res)

        super().evaluate(jobs, relay, more)


def _search(out, small_space, ev, **kw):
    return search("tweet_sentiment", budget="0.3%", space=small_space, strategy="random", trials=6, out=out,
                  seed=0, evaluator=ev, keep_weights="front", baselines=True, **kw)


def _trials(out) -> pd.DataFrame:
    return pd.read_csv(out / "trials.csv")


@pytest.fixture
def plain_run(tmp_path, small_space):
    """A finished search with baselines, no challenge; its pick is not its best baseline."""
    out = tmp_path / "plain"
    _search(out, small_space, LongerTraining(), challenge="none")
    pick, base = contenders(_trials(out), "quick")  # the precondition of the tests below: a challenge,
    assert pick["score"] > base["score"]  # which the pick wins unless the baseline gains from training longer
    return out


def _challenge(run, ev) -> pd.DataFrame:
    search(resume=run, challenge="standard", evaluator=ev)
    return _trials(run)


def test_a_baseline_that_trains_better_at_the_final_length_becomes_the_pick(tmp_path, plain_run):
    before = _trials(plain_run)
    pick, base = contenders(before, "quick")
    run = tmp_path / "challenged"
    shutil.copytree(plain_run, run)
    ev = LongerTraining(favoured=base["candidate"], bonus=0.5)
    df = _challenge(run, ev)
    finals = df[df["kind"] == "final"]
    # two trainings at standard with the search's seed, the pick's and the best baseline's, labelled f<n>
    assert len(finals) == 2 and (finals["state"] == "complete").all() and (finals["fidelity"] == "standard").all()
    assert sorted(ev.trained) == sorted([("standard", 0, pick["candidate"]), ("standard", 0, base["candidate"])])
    assert set(finals["challenges"].astype(str)) == {str(pick["trial"]), str(base["trial"])}
    assert set(finals["name"].fillna("")) == {"", base["name"]} and finals["trial"].str.startswith("f").all()
    # not trials of the search: its count, front and record of trials stand
    assert json.loads((run / "run.json").read_text())["trials_done"] == 6 and not finals["front"].any()
    cols = ["trial", "state", "score", "peft_params", "front"]
    assert df[df["kind"] != "final"][cols].reset_index(drop=True).equals(before[cols])
    # the baseline's final training wins, is the pick export --best takes, with that training's weights
    # and a test score
    chosen = rundir.best(rundir.read_run(run))
    assert chosen["name"] == base["name"] and chosen["kind"] == "final"
    assert (run / "weights" / f"trial-{chosen['trial']}.safetensors").is_file()
    assert finals["test_score"].notna().all()
    # the report says so: front.md's and report.html's final challenge, the winner first
    md = write_front_md(load_run(run), run / "front.md").read_text()
    table = md.split("## Final challenge", 1)[1]
    first_row = table.split("\n| f")[1].split("\n")[0]
    assert f"the baseline {base['name']}" in first_row and "the search's pick (trial" in table
    page = build_report(run)["html"].read_text()
    section = page.split("<h2>Final challenge</h2>", 1)[1].split("<h2>", 1)[0]
    rows = section.split("<tbody>", 1)[1].split("</tr>")
    assert f"the baseline {base['name']}" in rows[0] and "the search's pick (trial" in rows[1]
    # resumed again: nothing left to train
    again = LongerTraining(favoured=base["candidate"], bonus=0.5)
    assert len(_challenge(run, again).query("kind == 'final'")) == 2 and again.trained == []


def test_without_a_gain_at_the_final_length_the_pick_stands(tmp_path, plain_run):
    """The negative control: the same challenge, no candidate gaining from the longer training."""
    pick, _ = contenders(_trials(plain_run), "quick")
    df = _challenge(plain_run, LongerTraining())
    assert len(df[df["kind"] == "final"]) == 2
    chosen = rundir.best(rundir.read_run(plain_run))
    assert chosen["kind"] == "final" and str(chosen["challenges"]) == str(pick["trial"]) and not chosen["name"]


def test_a_tie_keeps_the_search_pick(plain_run):
    _challenge(plain_run, LongerTraining(tie=0.8))
    finals = _trials(plain_run).query("kind == 'final'")
    assert (finals["score"] == 0.8).all() and len(finals) == 2
    assert not rundir.best(rundir.read_run(plain_run))["name"]
    run = rundir.read_run(plain_run)
    run.trials.reverse()  # the baseline's training first in the record: the tie rule decides, not the order
    assert not rundir.challenged(run)[0]["name"]


def test_the_challenger_is_the_best_baseline_a_strategy_started_from():
    """mobo's start trains the baselines as search trials: their origin names them."""
    def row(trial, score, origin="", kind="search", name=""):
        return {"trial": trial, "kind": kind, "state": "complete", "fidelity": "quick", "score": score,
                "peft_params": 10, "dev_loss": None, "candidate": Candidate([{"lora": {"q": trial + 1}}], {}).to_json(),
                "recipe": "", "origin": origin, "name": name}

    df = pd.DataFrame([row(0, 0.70, "the baseline lora-r8 as a first trial"),
                       row(1, 0.72, "the baseline ia3 as a first trial"), row(2, 0.75), row(3, 0.71)])
    assert challenger_of(df, "quick")["trial"] == 1
    assert [r["trial"] for r in contenders(df, "quick")] == [2, 1]
    # where the pick is that baseline, there is nothing to challenge
    assert contenders(df[df["trial"] != 2], "quick") == []


def test_a_strategy_that_trains_no_baseline_is_refused(tmp_path, small_space):
    with pytest.raises(UserError, match="--challenge trains the pick against the best baseline"):
        search("tweet_sentiment", budget="0.3%", space=small_space, strategy="random", trials=2,
               out=tmp_path / "r", evaluator=SyntheticEvaluator(), challenge="standard")
    with pytest.raises(UserError, match="is the search's own fidelity"):
        search("tweet_sentiment", budget="0.3%", space=small_space, trials=2, out=tmp_path / "q",
               evaluator=SyntheticEvaluator(), challenge="quick")


def _settings(out) -> dict:
    return json.loads((out / "run.json").read_text())["settings"]


def test_by_default_a_quick_search_that_trains_baselines_is_challenged_at_standard(tmp_path, small_space):
    """`auto`, the default: the measured pairing (a `quick` search, its pick against the best baseline at
    `standard`) where the search trains baselines; none where it trains none or runs longer."""
    ev = LongerTraining()
    _search(tmp_path / "auto", small_space, ev)
    assert _settings(tmp_path / "auto")["challenge"] == "standard"
    finals = _trials(tmp_path / "auto").query("kind == 'final'")
    assert len(finals) == 2 and [f for f, _, _ in ev.trained].count("standard") == 2
    # the default mobo starts from the baselines: challenged without --baselines
    search("tweet_sentiment", budget="0.3%", space=small_space, trials=3, out=tmp_path / "mobo",
           evaluator=SyntheticEvaluator(), challenge="auto")
    assert _settings(tmp_path / "mobo")["challenge"] == "standard"
    # negative controls: a strategy that trains no baseline, a search at another fidelity, `none`, and a
    # time limit the two trainings would overrun; there the default is no challenge, not the refusal
    # that asking for one by name gets
    for name, kw in (("random", {"strategy": "random"}), ("smoke", {"fidelity": "smoke"}),
                     ("none", {"challenge": "none"}), ("off", {"challenge": "off"}), ("timed", {"time_limit": "1h"})):
        ev = LongerTraining()
        search("tweet_sentiment", budget="0.3%", space=small_space, trials=3, out=tmp_path / name, seed=0,
               evaluator=ev, **kw)
        assert _settings(tmp_path / name)["challenge"] is None
        assert not (_trials(tmp_path / name)["kind"] == "final").any()
        assert "standard" not in {f for f, _, _ in ev.trained}


def test_a_resumed_search_keeps_its_own_challenge_setting(tmp_path, plain_run):
    """A search run without a challenge (or from before the option) is not challenged by resuming it:
    only `--challenge` given on the resume does that."""
    ev = LongerTraining()
    search(resume=plain_run, trials=7, evaluator=ev)
    assert _settings(plain_run)["challenge"] is None and "standard" not in {f for f, _, _ in ev.trained}
    assert not (_trials(plain_run)["kind"] == "final").any()


@pytest.mark.integration
def test_cli_challenge_trains_for_real_and_exports_the_winning_training(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "run"
    cli = [sys.executable, "-c", "from autopeft.cli import main; main()"]
    proc = subprocess.run([*cli, "search", "--budget", "0.05%", "--task", "tweet_sentiment", "--trials", "2",
                           "--strategy", "random", "--baselines", "--fidelity", "steps=5,eval=100",
                           "--challenge", "steps=10,eval=100", "--no-test-scores", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    df = _trials(out)
    finals = df[df["kind"] == "final"]
    assert len(finals) == 2 and (finals["state"] == "complete").all()
    assert set(finals["fidelity"]) == {"steps=10,eval=100"} and "final challenge at steps=10,eval=100" in proc.stdout
    winner = rundir.best(rundir.read_run(out))
    exp = subprocess.run([*cli, "export", str(out), "--best", "--out", str(tmp_path / "x")],
                         capture_output=True, text=True, timeout=600)
    assert exp.returncode == 0, exp.stderr[-2000:]
    assert f"trial {winner['trial']} (the best score)" in exp.stdout
    # the export carries the final training's tensors (trial f<n>), not the short trial's
    config = json.loads((tmp_path / "x" / "autopeft_config.json").read_text())
    assert config["source"]["trial"] == winner["trial"] and winner["trial"].startswith("f")
    assert config["weights"] is not None
