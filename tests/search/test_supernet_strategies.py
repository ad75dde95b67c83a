"""`auto` and `noah-paper`: end to end on a synthetic objective and on a tiny real model, and
resumed after SIGKILL without scoring any proxy twice."""

import json
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest

from autopeft.search.api import search
from autopeft.search.evaluator import SyntheticEvaluator
from tests.helpers.data import completed_trials, write_image_folder
from tests.helpers.models import save_tiny_vit, tiny_task
from tests.helpers.strategies import record_fits

SCRIPT = """
import sys
from autopeft.search.api import search
from autopeft.search.evaluator import SyntheticEvaluator
search("tweet_sentiment", space=sys.argv[2], strategy=sys.argv[3], trials=5, out=sys.argv[1], seed=3,
       fidelity="smoke", evaluator=SyntheticEvaluator(delay_s=0.5), keep_weights="none")
"""

STRATEGIES = ["auto", "noah-paper"]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_runs_end_to_end_on_a_synthetic_objective(tmp_path, small_space, strategy):
    res = search("tweet_sentiment", space=small_space, strategy=strategy, trials=4, fidelity="smoke",
                 out=tmp_path / "run", evaluator=SyntheticEvaluator(), keep_weights="none")
    df = res.trials
    search_rows, proxy_rows = df[df["kind"] == "search"], df[df["kind"] == "proxy"]
    assert (search_rows["state"] == "complete").sum() == 4
    assert len(proxy_rows) > 4 and (proxy_rows["fidelity"] == "supernet").all()
    assert (search_rows["peft_params"] <= 113_566).all()
    assert set(res.front["kind"]) == {"search"}  # proxies never enter the front
    assert proxy_rows["candidate"].is_unique
    trained = set(search_rows["candidate"])
    assert trained <= set(proxy_rows["candidate"])  # only screened candidates are trained standalone


def test_auto_starts_with_diverse_promising_candidates(tmp_path, small_space):
    res = search("tweet_sentiment", space=small_space, strategy="auto", trials=4, fidelity="smoke",
                 out=tmp_path / "run", evaluator=SyntheticEvaluator(), keep_weights="none")
    df = res.trials
    first = df[df["kind"] == "search"]
    # one per log-parameter bin: the first trials span the range rather than bunching at the top
    assert first["peft_params"].max() / first["peft_params"].min() > 10
    # smallest bin first, so the first trial already claims the area below it
    assert first["peft_params"].iloc[0] == first["peft_params"].min()


def test_auto_proxy_scores_each_pick_and_models_both_tasks(tmp_path, small_space, monkeypatch):
    from autopeft.search.strategies.auto import AutoStrategy

    fits = record_fits(monkeypatch, AutoStrategy)
    out = tmp_path / "run"
    res = search("tweet_sentiment", space=small_space, strategy="auto", trials=6, fidelity="smoke", out=out,
                 evaluator=SyntheticEvaluator(), keep_weights="none", strategy_options={"screen": 8, "n_init": 4})
    df = res.trials
    trained = df[df["kind"] == "search"]["candidate"]
    proxied = set(df[df["kind"] == "proxy"]["candidate"])
    assert set(trained) <= proxied  # the acquisition's picks are proxy-scored before training
    assert len(proxied) >= 8
    # every acquisition ran on the multi-task GP (proxy and standalone scores), as run.json says
    assert fits and {type(model).__name__ for *_, model in fits} == {"MultiTaskGP"}
    info = json.loads((out / "run.json").read_text())["strategy_info"]
    assert info["model"].split()[0] == type(fits[0][3]).__name__
    strat, x, y, _ = fits[0]  # negative control: without the proxies it is a single-task GP
    strat.options["multitask"] = False
    assert type(AutoStrategy.fit_model(strat, x, y)).__name__ == "SingleTaskGP"


def _strategy_on(space_path: str, multitask: bool):
    import optuna

    from autopeft.backbones import load_config
    from autopeft.search.strategies.auto import AutoStrategy
    from autopeft.search.strategies.base import Context
    from autopeft.space.loader import bind_space

    bound = bind_space(space_path, load_config("minilm"), 2)
    budget = bound.max_params()
    ctx = Context(bound, budget, optuna.create_study(), "smoke", seed=0, chance=0.4)
    return AutoStrategy(ctx, multitask=multitask)


def test_multitask_gp_learns_from_an_informative_proxy(small_space):
    """With proxies equal to the objective on 40 candidates and 4 trials, the multi-task GP ranks
    unseen candidates like the objective far better than the GP on the 4 trials alone."""
    import random

    import torch
    from scipy.stats import spearmanr

    truth = SyntheticEvaluator()
    rng = random.Random(0)
    rhos = {}
    for multitask in (True, False):
        strat = _strategy_on(small_space, multitask)
        space, budget = strat.ctx.space, strat.ctx.budget
        draws = {c.key: (a, c) for a, c in (space.sample(rng, budget, mode="mixed") for _ in range(400))}
        items = list(draws.values())
        low, trials, held_out = items[:40], items[40:44], items[44:]
        strat.pool = {c.key: (a, c, truth.score(c)) for a, c in low}
        x = torch.tensor(strat.enc.encode_many(trials), dtype=torch.double)
        y = torch.tensor([[truth.score(c)] for _, c in trials], dtype=torch.double)
        model = strat.fit_model(x, y)
        with torch.no_grad():
            mean = model.posterior(torch.tensor(strat.enc.encode_many(held_out), dtype=torch.double)).mean
        rhos[multitask] = spearmanr(mean.squeeze(-1).numpy(), [truth.score(c) for _, c in held_out])[0]
        rng = random.Random(0)  # the same draws for both models
    print(rhos)
    assert rhos[True] > 0.8 and rhos[True] > rhos[False] + 0.1, rhos


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_sigkill_then_resume_reuses_proxy_scores(tmp_path, small_space, strategy):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(run_dir), small_space, strategy])
    try:
        deadline = time.monotonic() + 240
        while completed_trials(run_dir) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, "the search ended before it was killed"
            time.sleep(0.05)
        time.sleep(0.2)  # inside the next trial's "training"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    storage = f"sqlite:///{run_dir}/study.db"
    proxies_before = len(optuna.load_study(study_name="autopeft-proxy", storage=storage).trials)
    assert proxies_before > 0
    res = search(resume=run_dir, evaluator=SyntheticEvaluator())
    assert res.trials["state"].isin(["complete", "failed"])[res.trials["kind"] == "search"].sum() == 5
    proxies = res.trials[res.trials["kind"] == "proxy"]
    assert proxies["candidate"].is_unique  # nothing scored twice: the record was reused
    if strategy == "noah-paper":  # the same evolution, retraced from the record
        assert len(proxies) == proxies_before


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_real_supernet_on_a_tiny_model(tmp_path, monkeypatch, strategy):
    monkeypatch.setenv("AUTOPEFT_CACHE", str(tmp_path / "cache"))
    model, task = tiny_task(tmp_path)
    space = tmp_path / "space.yaml"
    space.write_text("methods:\n  lora: {sizes: {q: [0, 2, 4], v: [0, 2, 4]}}\n"
                     "  serial_adapter: {tie: all, sizes: {ffn: [0, 4, 8]}}\n")
    extra = {"screen": 8} if strategy == "auto" else {}
    res = search(task, model=model, space=str(space), strategy=strategy, trials=2, budget="5%",
                 fidelity="steps=5,eval=50,batch=8", out=tmp_path / "run", keep_weights="none",
                 strategy_options={"supernet_steps": 6, "proxy_eval": 40} | extra)
    df = res.trials
    assert (df[df["kind"] == "search"]["state"] == "complete").sum() == 2
    assert (df[df["kind"] == "proxy"]["state"] == "complete").all()
    checkpoint = tmp_path / "run" / "supernet"
    assert (checkpoint / "supernet.safetensors").is_file() and (checkpoint / "supernet.json").is_file()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_real_supernet_on_a_tiny_vit(tmp_path, monkeypatch, strategy):
    """The vision side: a ViT, an image folder, prompt tokens (VPT) among the elastic methods."""
    monkeypatch.setenv("AUTOPEFT_CACHE", str(tmp_path / "cache"))
    model = save_tiny_vit(tmp_path / "tiny-vit")
    task = write_image_folder(tmp_path / "shapes", per_class=40)
    space = tmp_path / "space.yaml"
    space.write_text("globals:\n  prompt: {length: [2, 4]}\n"
                     "methods:\n  lora: {sizes: {q: [0, 2, 4], v: [0, 2, 4]}}\n"
                     "  prompt: {tie: all, sizes: {insert: [0, 1]}}\n")
    extra = {"screen": 8} if strategy == "auto" else {}
    res = search(str(task), model=model, space=str(space), strategy=strategy, trials=2, budget="20%",
                 fidelity="steps=5,eval=40,batch=8", out=tmp_path / "run", keep_weights="none",
                 strategy_options={"supernet_steps": 6, "proxy_eval": 40} | extra)
    df = res.trials
    assert (df[df["kind"] == "search"]["state"] == "complete").sum() == 2
    proxies = df[df["kind"] == "proxy"]
    assert len(proxies) and (proxies["state"] == "complete").all()
