"""`asha`, the multi-fidelity search: rungs, MO-ASHA promotion, an honest record (every rung a trial
of its own fidelity; the front holds the final rung only; --trials counts steps) and resume after
SIGKILL continuing partially trained candidates from their checkpoints."""

import math
import signal
import sys

import optuna
import pytest

from autopeft.errors import UserError
from autopeft.search import record
from autopeft.search.api import search
from autopeft.search.evaluator import SyntheticEvaluator
from autopeft.search.rungs import RungResult, mo_order, promotable, rung_steps, score_order
from autopeft.search.strategies.asha import ASHAStrategy
from tests.helpers.data import completed_trials
from tests.helpers.kill import run_and_kill

SCRIPT = """
import sys
from autopeft.search.api import search
from autopeft.search.evaluator import SyntheticEvaluator
search("tweet_sentiment", space=sys.argv[2], strategy="asha:rungs=3", trials=4, out=sys.argv[1], seed=5,
       evaluator=SyntheticEvaluator(delay_s=0.3), keep_weights="none")
"""


def test_rung_steps():
    assert rung_steps(100, 3, 3) == [11, 33, 100]
    assert rung_steps(300, 3, 3) == [33, 100, 300]
    assert rung_steps(20, 3, 4) == [1, 2, 7, 20]
    assert rung_steps(4, 3, 5) == [1, 4]  # rungs that round to the same step merge
    with pytest.raises(ValueError):
        rung_steps(100, 1, 3)


def test_mo_order_ranks_fronts_then_hypervolume_contribution():
    a = RungResult("a", 0, 0.80, 10_000)   # front: high score, large
    b = RungResult("b", 1, 0.70, 1_000)    # front: fair score, small
    c = RungResult("c", 2, 0.69, 5_000)    # dominated by b
    d = RungResult("d", 3, 0.71, 9_000)    # front, but squeezed between a and b: small contribution
    order = mo_order([c, d, a, b], ref_score=0.5, budget=20_000)
    assert order[-1] == c and set(order[:3]) == {a, b, d}
    assert order.index(d) == 2  # least hypervolume contribution within the first front
    # top 1/eta = 1 of 4 (floor), and a member that already climbed is not offered again
    first = promotable([a, b, c, d], set(), 3, 0.5, 20_000)
    assert len(first) == 1 and first[0] in (a, b)
    assert promotable([a, b, c, d], {first[0].key}, 3, 0.5, 20_000) == []
    assert promotable([a, b], set(), 3, 0.5, 20_000) == []  # a rung of 2 promotes nobody yet


def test_score_order_promotes_the_best_score_where_mo_asha_prefers_the_small():
    """`promote=score`: the top score climbs first, whatever its size; MO-ASHA's order (the negative
    control) takes the small candidate whose hypervolume contribution is larger."""
    big = RungResult("big", 0, 0.728, 73_728)     # the best score, a large candidate
    small = RungResult("small", 1, 0.70, 384)     # a fair score at a tiny size
    mid = RungResult("mid", 2, 0.65, 20_000)
    assert mo_order([big, small, mid], ref_score=0.5, budget=113_566)[0] == small
    assert score_order([mid, small, big]) == [big, small, mid]
    assert promotable([big, small, mid], set(), 3, 0.5, 113_566, order="score") == [big]
    assert promotable([big, small, mid], set(), 3, 0.5, 113_566) == [small]
    tie = RungResult("tie", 3, 0.728, 1_000)  # an equal score: the smaller first
    assert score_order([big, tie])[0] == tie


def test_equal_scores_and_sizes_climb_by_the_lower_dev_loss():
    """A 200-example dev split ties often; the continuous dev loss decides before the trial number (the
    first trial is no better a guess). Without losses (the negative control) the earlier trial goes
    first, and an unknown loss ranks behind a known one."""
    lora = RungResult("lora", 0, 0.59, 2_048, loss=1.45)
    ia3 = RungResult("ia3", 1, 0.59, 2_048, loss=1.32)
    other = RungResult("other", 2, 0.55, 2_048, loss=0.90)  # a lower loss never outranks a higher score
    assert score_order([lora, ia3, other]) == [ia3, lora, other]
    assert promotable([lora, ia3, other], set(), 3, 0.5, 2_776, order="score") == [ia3]
    assert score_order([RungResult("lora", 0, 0.59, 2_048), RungResult("ia3", 1, 0.59, 2_048)])[0].key == "lora"
    assert score_order([RungResult("lora", 0, 0.59, 2_048), ia3])[0] == ia3
    front = [RungResult("a", 0, 0.7, 1_000, loss=1.0), RungResult("b", 1, 0.7, 1_000, loss=0.8)]
    assert [m.key for m in mo_order(front, ref_score=0.5, budget=2_000)] == ["b", "a"]


def test_strategies_see_the_dev_loss_live_and_after_resume(tmp_path, small_space, monkeypatch):
    """The loss reaches the strategy both as trials finish and when a run's history is read back from
    its study (resume), where the tie-break above needs it."""
    told: list = []
    original = ASHAStrategy.tell
    monkeypatch.setattr(ASHAStrategy, "tell", lambda self, obs: (told.extend(obs), original(self, obs))[1])
    search("tweet_sentiment", space=small_space, strategy="asha:rungs=2:promote=score", trials=2,
           out=tmp_path / "run", evaluator=SyntheticEvaluator(noise=0.01), keep_weights="none")
    done = [o for o in told if o.status == "complete"]
    assert done and all(o.loss == pytest.approx(1.0 - o.score) for o in done)
    study = optuna.load_study(study_name="autopeft", storage=f"sqlite:///{tmp_path / 'run'}/study.db")
    stored = {o.number: o for t in study.trials if (o := record.observation(t)) and o.status == "complete"}
    assert {o.number: o.loss for o in done} == {n: o.loss for n, o in stored.items()}
    assert record.dev_loss({"accuracy": 0.5}) is None and record.dev_loss({"loss": float("nan")}) is None


def _rows(res):
    return res.trials[res.trials["kind"] == "search"]


def test_asha_record_front_and_counting(tmp_path, small_space):
    res = search("tweet_sentiment", space=small_space, strategy="asha:rungs=3", trials=3, out=tmp_path / "run",
                 evaluator=SyntheticEvaluator(noise=0.01), keep_weights="none")
    rows = _rows(res)
    assert set(rows["rung"].dropna().astype(int)) == {0, 1, 2}
    stops = {0: "stop=11", 1: "stop=33"}
    for _, r in rows.iterrows():
        if int(r["rung"]) in stops:
            assert r["fidelity"].endswith(stops[int(r["rung"])])
        else:
            assert r["fidelity"] == "quick"
    # the front: final-rung trials only
    front = rows[rows["front"]]
    assert len(front) and (front["fidelity"] == "quick").all()
    # every climb continues the same candidate's trial one rung below, and counts only its new steps
    by_trial = rows.set_index("trial")
    climbs = rows[rows["continues"].notna()]
    assert len(climbs) >= 2
    for _, r in climbs.iterrows():
        below = by_trial.loc[int(r["continues"])]
        assert int(below["rung"]) == int(r["rung"]) - 1 and below["candidate"] == r["candidate"]
    assert math.isclose(climbs[climbs["rung"] == 1]["cost"].iloc[0], (33 - 11) / 100)
    # --trials counts final-fidelity steps: the search stopped once the rungs' costs reached 3
    done = rows[rows["state"].isin(["complete", "failed"])]["cost"].sum()
    assert 3 <= done < 3 + 1 and res.info["trials_done"] == pytest.approx(done)
    # a negative control: the same number of mobo trials trains 3 candidates to the end
    plain = _rows(search("tweet_sentiment", space=small_space, strategy="mobo", trials=3, out=tmp_path / "mobo",
                         evaluator=SyntheticEvaluator(noise=0.01), keep_weights="none"))
    assert plain["rung"].isna().all() and len(plain) == 3 and len(rows) > 3


@pytest.mark.parametrize("model, gp", [("level", "SingleTaskGP"), ("multitask", "MultiTaskGP")])
def test_the_gp_over_rungs(tmp_path, small_space, monkeypatch, model, gp):
    """`level` fits one GP with the rung's level as its first input; `multitask` a task per rung once
    the final rung has two scores (and one pooled GP before); both propose at the final rung."""
    from autopeft.search.strategies.asha import ASHAStrategy
    from tests.helpers.strategies import record_fits

    fits = record_fits(monkeypatch, ASHAStrategy)
    res = search("tweet_sentiment", space=small_space, strategy="asha", trials=4, out=tmp_path / "run",
                 evaluator=SyntheticEvaluator(noise=0.01), keep_weights="none", strategy_options={"model": model})
    assert res.info["strategy_info"]["model"] == model
    kinds = {type(m).__name__ for *_, m in fits}
    assert gp in kinds
    seen_levels: set[float] = set()
    for strategy, x, *_ in fits:
        if model == "level":  # the first column is each row's rung level
            allowed = {round(strategy.level(r), 6) for r in range(len(strategy.steps))}
            levels = {round(float(v), 6) for v in x[:, 0]}
            assert levels <= allowed and x.shape[1] == strategy.enc.dim + 1
            seen_levels |= levels
        else:  # the rungs go in as tasks, not as an input column
            assert x.shape[1] == strategy.enc.dim
    assert model == "multitask" or len(seen_levels) > 1
    with pytest.raises(UserError, match="model must be one of"):
        search("tweet_sentiment", space=small_space, strategy="asha:model=other", trials=1, out=tmp_path / "bad",
               evaluator=SyntheticEvaluator(), keep_weights="none")


def test_scaled_rung_eval_scores_lower_rungs_on_fewer_examples(tmp_path, small_space):
    """`asha:eval=scaled` (the default): a lower rung scores on dev examples in proportion to its
    steps (at least 500), the final rung on the search's own; `full` is the negative control."""
    evals = {}
    for mode in ("scaled", "full"):
        res = search("tweet_sentiment", space=small_space, strategy=f"asha:rungs=3:eval={mode}", trials=2,
                     out=tmp_path / mode, evaluator=SyntheticEvaluator(noise=0.01), keep_weights="none")
        evals[mode] = res.info["strategy_info"]["rung_fidelities"]
        rows = _rows(res)
        assert set(rows["fidelity"]) <= set(evals[mode]) and (rows[rows["front"]]["fidelity"] == "quick").all()
    # quick: 100 steps, 2,000 dev examples; rungs at 11 and 33 steps
    assert evals["scaled"] == ["steps=100,eval=500,stop=11", "steps=100,eval=660,stop=33", "quick"]
    assert evals["full"] == ["steps=100,eval=2000,stop=11", "steps=100,eval=2000,stop=33", "quick"]
    with pytest.raises(UserError, match="eval must be one of"):
        search("tweet_sentiment", space=small_space, strategy="asha:eval=half", trials=1, out=tmp_path / "bad",
               evaluator=SyntheticEvaluator(), keep_weights="none")


def test_promote_score_climbs_the_best_unclimbed_score(tmp_path, small_space):
    """`asha:promote=score` in a search: each climb continues the best-scoring bottom-rung trial that
    had finished and not climbed when it was opened (one worker: trials run in number order)."""
    res = search("tweet_sentiment", space=small_space, strategy="asha:rungs=2:promote=score", trials=3,
                 out=tmp_path / "run", evaluator=SyntheticEvaluator(noise=0.01), keep_weights="none")
    assert res.info["strategy_info"]["promote"] == "score"
    rows = _rows(res).sort_values("trial")
    climbs = rows[rows["continues"].notna()]
    assert len(climbs) >= 2
    climbed: set[int] = set()
    for _, climb in climbs.iterrows():
        bottom = rows[(rows["rung"] == 0) & (rows["trial"] < climb["trial"]) & (rows["state"] == "complete")
                      & ~rows["trial"].isin(climbed)]
        assert int(climb["continues"]) == int(bottom.loc[bottom["score"].idxmax(), "trial"])
        climbed.add(int(climb["continues"]))
    with pytest.raises(UserError, match="promote must be one of"):
        search("tweet_sentiment", space=small_space, strategy="asha:promote=best", trials=1, out=tmp_path / "bad",
               evaluator=SyntheticEvaluator(), keep_weights="none")


@pytest.mark.parametrize("fidelity, steps", [("quick", [33, 100]), ("standard", [33, 100, 300]), ("smoke", [20])])
def test_default_rungs_keep_the_bottom_rung_at_30_steps_or_more(fidelity, steps):
    """Without `rungs=N`, up to three rungs and none under 30 steps (`quick`'s 11-step rung scored
    the majority class); `rungs=3` keeps the 11-step rung (the negative control); scaled scoring is the default."""
    import optuna

    from autopeft.backbones import load_config
    from autopeft.search.strategies.asha import ASHAStrategy
    from autopeft.search.strategies.base import Context
    from autopeft.space.loader import bind_space

    bound = bind_space("lora", load_config("minilm"), 2)
    ctx = Context(bound, bound.max_params(), optuna.create_study(), fidelity, seed=0, chance=0.4)
    strat = ASHAStrategy(ctx)
    assert strat.steps == steps and strat.info()["rung_steps"] == steps and strat.rung_eval == "scaled"
    if fidelity == "quick":
        assert ASHAStrategy(ctx, rungs=3).steps == [11, 33, 100]
        assert strat.fidelity_of(0) == "steps=100,eval=660,stop=33" and strat.fidelity_of(1) == "quick"


def test_asha_needs_a_fidelity_in_steps(tmp_path, small_space):
    with pytest.raises(UserError, match="fidelity counted in steps"):
        search("tweet_sentiment", space=small_space, strategy="asha", trials=2, fidelity="paper",
               out=tmp_path / "run", evaluator=SyntheticEvaluator(), keep_weights="none")


def test_sigkill_then_resume_continues_partially_trained_candidates(tmp_path, small_space):
    run_dir = tmp_path / "run"
    code = run_and_kill([sys.executable, "-c", SCRIPT, str(run_dir), small_space],
                        lambda: completed_trials(run_dir) >= 8)
    assert code == -signal.SIGKILL
    storage = f"sqlite:///{run_dir}/study.db"
    before = {t.number for t in optuna.load_study(study_name="autopeft", storage=storage).trials
              if t.state == optuna.trial.TrialState.COMPLETE and t.user_attrs.get("rung", 0) < 2}
    res = search(resume=run_dir, evaluator=SyntheticEvaluator())
    study = optuna.load_study(study_name="autopeft", storage=storage)
    after_kill = [t for t in study.trials if t.number > max(before)]
    continued = [t for t in after_kill if t.user_attrs.get("continues") in before and t.state.name == "COMPLETE"]
    assert continued, "after the resume a candidate trained before the kill climbed on"
    for t in continued:
        metrics = __import__("json").loads(t.user_attrs["metrics"])
        parent = study.trials[t.user_attrs["continues"]]
        # the job was handed the parent's checkpoint (the synthetic evaluator reports its step)
        assert metrics["resumed_at"] == {0: 11, 1: 33}[parent.user_attrs["rung"]]
    assert res.info["status"] == "finished" and res.info["trials_done"] >= 4
