"""`--confirm N`: the top trials trained on more seeds, and the pick made on their mean."""

import json
import statistics

import pandas as pd
import pytest

from autopeft.export import rundir
from autopeft.methods.candidate import Candidate
from autopeft.search.api import search
from autopeft.search.confirm import SEED_OFFSETS
from autopeft.search.evaluator import SyntheticEvaluator

NOISE = 0.05  # the synthetic score's seed noise: large against the gaps between the top trials
SEED = 2  # a search whose one-seed best is not its best mean of three (seeds 2 and 4 of 0-5 here)


def _search(out, confirm=None, **kw):
    return search("tweet_sentiment", budget="0.3%", space=kw.pop("space"), strategy="random", trials=8, out=out,
                  seed=SEED, evaluator=SyntheticEvaluator(noise=NOISE), keep_weights="front", confirm=confirm, **kw)


def _trials(out) -> pd.DataFrame:
    return pd.read_csv(out / "trials.csv")


def test_the_pick_is_the_best_mean_over_three_seeds(tmp_path, small_space):
    out = tmp_path / "confirmed"
    _search(out, confirm=3, space=small_space)
    df = _trials(out)
    search_rows = df[(df["kind"] == "search") & (df["state"] == "complete")]
    top = search_rows.sort_values(["score", "peft_params"], ascending=[False, True]).head(3)
    extra = df[df["kind"] == "confirm"]
    # two more seeds for each of the top 3, none for the rest; not trials of the search's count or front
    assert sorted(extra["confirms"].astype(int)) == sorted(2 * top["trial"].astype(int).tolist())
    assert set(extra["seed"].astype(int)) == {SEED + o for o in SEED_OFFSETS} and (extra["state"] == "complete").all()
    assert not extra["front"].any() and json.loads((out / "run.json").read_text())["trials_done"] == 8
    ev = SyntheticEvaluator(noise=NOISE)
    means = {}
    for row in top.itertuples():
        cand = Candidate.from_json(row.candidate)
        means[int(row.trial)] = statistics.mean(ev.score(cand, SEED + s) for s in (0, *SEED_OFFSETS))
        assert row.confirmed == pytest.approx(means[int(row.trial)]) and row.seeds == 3
    assert search_rows.drop(top.index)["confirmed"].isna().all()
    pick = rundir.best(rundir.read_run(out))
    assert int(pick["trial"]) == max(means, key=means.get)
    # the negative control: without --confirm the same trials pick on one training, another trial here
    plain = tmp_path / "plain"
    _search(plain, space=small_space)
    assert (_trials(plain)["kind"] == "search").all()
    plain_pick = rundir.best(rundir.read_run(plain))
    assert int(plain_pick["trial"]) == int(top["trial"].iloc[0]) != int(pick["trial"])
    # the pick is scored on test like the front's members, on the front or not
    assert search_rows[search_rows["trial"].astype(str) == pick["trial"]]["test_score"].notna().all()


def test_resuming_a_finished_search_confirms_it_once(tmp_path, small_space):
    out = tmp_path / "run"
    _search(out, space=small_space)
    ev = SyntheticEvaluator(noise=NOISE)
    search(resume=out, confirm=2, evaluator=ev)
    extra = _trials(out).query("kind == 'confirm'")
    assert len(extra) == 2 * 2 and ev.calls >= 4
    again = SyntheticEvaluator(noise=NOISE)
    search(resume=out, confirm=2, evaluator=again)  # nothing left to confirm: no training
    assert len(_trials(out).query("kind == 'confirm'")) == 4 and again.calls == 0


def test_an_interrupted_confirmation_is_trained_again_a_failed_one_is_not():
    from autopeft.search.confirm import missing

    cand = Candidate([{"lora": {"q": 1}}], {}).to_json()
    rows = [{"trial": t, "kind": "search", "state": "complete", "fidelity": "quick", "score": s, "peft_params": 10,
             "dev_loss": None, "candidate": cand, "recipe": None, "confirms": None, "seed": None}
            for t, s in ((0, 0.7), (1, 0.6))]
    rows += [{"trial": f"c{i}", "kind": "confirm", "state": state, "fidelity": "quick", "score": None,
              "peft_params": 10, "dev_loss": None, "candidate": cand, "recipe": None, "confirms": 0, "seed": seed}
             for i, (state, seed) in enumerate((("interrupted", 1000), ("failed", 2000)))]
    todo = [(trial, seed) for trial, _, _, seed in missing(pd.DataFrame(rows), "quick", 2, 0)]
    assert todo == [(0, 1000), (1, 1000), (1, 2000)]
