"""The BO strategies on a synthetic objective: mobo beats random; autopeft-paper runs its recipe."""

import json

import numpy as np

from autopeft.search.api import search
from autopeft.search.evaluator import SyntheticEvaluator
from tests.helpers.strategies import record_fits

FAST_MOBO = {"n_init": 4, "pool": 64, "restarts": 2, "max_evals": 400, "mc_samples": 32}


def _hv(tmp_path, space, strategy, seed, **options):
    res = search("tweet_sentiment", budget="0.3%", space=space, strategy=strategy, trials=12, seed=seed,
                 out=tmp_path / f"{strategy}-{seed}", evaluator=SyntheticEvaluator(noise=0.005, seed=seed),
                 keep_weights="none", strategy_options=options)
    assert (res.trials["state"] == "complete").sum() == 12
    return res.hypervolume


def test_mobo_beats_random_over_seeds(tmp_path, small_space):
    seeds = [0, 1, 2]
    mobo = [_hv(tmp_path, small_space, "mobo", s, **FAST_MOBO) for s in seeds]
    rand = [_hv(tmp_path, small_space, "random", s) for s in seeds]
    print("hypervolume mobo", mobo, "random", rand)
    assert np.mean(mobo) > np.mean(rand), (mobo, rand)
    assert sum(m > r for m, r in zip(mobo, rand, strict=True)) >= 2, (mobo, rand)


def test_autopeft_paper_uses_its_space_and_records_deviations(tmp_path, monkeypatch):
    from autopeft.search.strategies.mobo import MOBOStrategy
    from autopeft.search.strategies.paper import AutoPEFTPaperStrategy

    fits = record_fits(monkeypatch, AutoPEFTPaperStrategy)
    out = tmp_path / "paper"
    res = search("tweet_sentiment", strategy="autopeft-paper", trials=4, out=out, evaluator=SyntheticEvaluator(),
                 keep_weights="none",
                 strategy_options={"n_init": 3, "warmup": 16, "samples": 8, "thinning": 2, "max_evals": 200})
    info = json.loads((out / "run.json").read_text())
    assert info["space"] == "autopeft" and info["strategy"] == "autopeft-paper"
    assert any("SAAS" in d for d in info["deviations"]) and any("fidelity" in d for d in info["deviations"])
    # the GP it fits is the SAAS one, and run.json names the model that really ran
    assert fits and {type(model).__name__ for *_, model in fits} == {"SaasFullyBayesianSingleTaskGP"}
    assert info["strategy_info"]["model"].split()[0] == type(fits[0][3]).__name__
    strat, x, y, _ = fits[0]  # negative control: mobo's fit on the same data is another model
    assert type(MOBOStrategy.fit_model(strat, x, y)).__name__ == "SingleTaskGP"
    assert (res.trials["state"] == "complete").sum() == 4
    # only the paper's modules appear
    methods = {m for c in res.trials["candidate"] for layer in json.loads(c)["layers"] for m in layer}
    assert methods <= {"serial_adapter", "parallel_adapter", "prefix"}


def test_mobo_search_does_not_depend_on_what_ran_before(tmp_path, small_space):
    """The acquisition's QMC sampler is seeded by the search: torch's global generator, moved by
    whatever ran earlier in the process, does not change which candidates a seed trains."""
    import torch

    def trained(tag):
        res = search("tweet_sentiment", budget="0.3%", space=small_space, strategy="mobo", trials=6, seed=3,
                     out=tmp_path / tag, evaluator=SyntheticEvaluator(noise=0.005, seed=3), keep_weights="none",
                     strategy_options=FAST_MOBO)
        return res.trials[res.trials["kind"] == "search"]["candidate"].tolist()

    torch.manual_seed(1)
    first = trained("a")
    torch.manual_seed(2)
    torch.rand(1000)
    assert trained("b") == first


def test_mobo_stratified_start_spans_the_size_range_smallest_first(tmp_path, small_space):
    """`start="stratified"`: the first trials come one per log-size bin, in increasing size, and
    reach from the small to the large end of what the pool offers (the plain start takes the
    densest, hence largest, candidates)."""
    def first_sizes(start):
        res = search("tweet_sentiment", budget="0.3%", space=small_space, strategy="mobo", trials=4, seed=0,
                     out=tmp_path / start, evaluator=SyntheticEvaluator(), keep_weights="none",
                     strategy_options=dict(FAST_MOBO, start=start))
        return res.trials[res.trials["kind"] == "search"]["peft_params"].astype(int).tolist()

    stratified, maxmin = first_sizes("stratified"), first_sizes("maxmin")
    print("stratified", stratified, "maxmin", maxmin)
    assert stratified == sorted(stratified) and len(set(stratified)) == 4
    assert stratified[0] < min(maxmin) and stratified[-1] >= 0.5 * max(maxmin)


def test_mobo_baselines_start_trains_the_expressible_baselines_first(tmp_path):
    """`start="baselines"`: the fitting baselines the space can express are the first trials (so the
    front holds what a user would have picked), then the usual space-filling and acquisition."""
    from autopeft.backbones import load_config
    from autopeft.methods.candidate import Candidate
    from autopeft.space.baselines import fitted
    from autopeft.space.loader import bind_space

    res = search("tweet_sentiment", budget="0.5%", strategy="mobo", trials=6, seed=0, out=tmp_path / "b",
                 evaluator=SyntheticEvaluator(), keep_weights="none",
                 strategy_options=dict(FAST_MOBO, start="baselines"))
    rows = res.trials[res.trials["kind"] == "search"]
    bound = bind_space("full", load_config("minilm"))
    wanted = {name: cand.key for name, cand in fitted(bound.dims, 113_566)}
    firsts = [Candidate.from_json(c).key for c in rows["candidate"][:4]]
    assert firsts == [wanted[n] for n in ("lora-r8", "lora-all@r2", "bitfit", "ia3")]
    assert rows["origin"].iloc[0] == "the baseline lora-r8 as a first trial"
    assert res.info["strategy_info"]["first_trials"] == ["lora-r8", "lora-all@r2", "bitfit", "ia3"]
    assert rows["candidate"].is_unique and (rows["origin"].iloc[4:] == "").all()


def _incumbent_distances(res, budget: int, n_init: int) -> list[int]:
    """For each trial after the first `n_init`, its module distance from the best trial within budget
    finished before it (one worker: the incumbent its acquisition saw)."""
    from autopeft.methods.candidate import Candidate
    from autopeft.space.space import module_distance

    rows = res.trials[(res.trials["kind"] == "search") & (res.trials["state"] == "complete")].sort_values("trial")
    out = []
    for i in range(n_init, len(rows)):
        before = rows.iloc[:i]
        before = before[before["peft_params"] <= budget]
        inc = before.sort_values(["score", "peft_params"], ascending=[False, True]).iloc[0]
        here, there = Candidate.from_json(rows.iloc[i]["candidate"]), Candidate.from_json(inc["candidate"])
        out.append(module_distance(here, there))
    return out


def test_mobo_region_keeps_acquisitions_near_the_incumbent(tmp_path):
    """`region=R`: after the first trials, every proposal differs from the incumbent in at most R
    modules; negative control: without a region the acquisition goes further."""
    runs = {}
    for region in (0, 2):
        res = search("tweet_sentiment", budget="0.5%", strategy="mobo", trials=9, seed=1, out=tmp_path / f"r{region}",
                     evaluator=SyntheticEvaluator(noise=0.005, seed=1), keep_weights="none",
                     strategy_options=dict(FAST_MOBO, n_init=3, start="maxmin", region=region))
        assert res.info["strategy_info"]["region"] == region
        runs[region] = _incumbent_distances(res, res.info["budget"]["peft_params"], n_init=3)
    assert len(runs[2]) == 6 and max(runs[2]) <= 2 and min(runs[2]) >= 1, runs
    assert max(runs[0]) > 2, runs


def test_mobo_region_must_be_a_whole_number(tmp_path):
    import pytest

    from autopeft.errors import UserError

    with pytest.raises((UserError, ValueError), match="region"):
        search("tweet_sentiment", budget="0.5%", strategy="mobo", trials=1, out=tmp_path / "bad",
               evaluator=SyntheticEvaluator(), keep_weights="none", strategy_options={"region": "near"})
