"""Which GP should `asha` fit on its rungs: the rung as an input (`level`) or one task per rung
(`multitask`)? (issue 21, item 1: "fidelity as an input, or a multi-task model: measure which")

Offline, on `run.py`'s 24 candidates, each trained up asha's rungs (33 / 100 / 300 steps at
`standard`) as one run. A split reveals every candidate's lower rungs and the final score of `k`
of them, as a search has them once `k` candidates were promoted to the top; each model is fitted
exactly as `ASHAStrategy.fit_model` fits it (the strategy's own `training_data` and `fit_model`,
on the `full` space's encoding) and predicts the final score of the others. Two controls:
- `final-only`: `mobo`'s GP on the `k` final scores alone (what the lower rungs add, if anything);
- `params`: the parameter count alone (Spearman of the count with the held-out finals), which the
  encoding holds exactly (experiments/fidelity_agreement: the count alone has rho 0.71).

Splits: the `k` candidates asha itself would promote from the 100-step rung (its MO-ASHA order,
`search/rungs.py`, k = 8, one split), and random splits of k = 4, 8, 12 (`--splits` each, 10 by
default). Per split,
held-out Spearman rho of the posterior mean with the truth (what the acquisition's ranking needs),
RMSE, and the mean negative log predictive density (Gaussian, with the fitted noise: how well the
spread the acquisition integrates over is calibrated). Three GP fits a split, about a CPU-minute
(the multi-task fit is most of it): about half an hour on one core for the defaults:

    .venv/bin/python experiments/fidelity_agreement/model_choice.py cpu/tweet_sentiment-0.5-standard
"""

from __future__ import annotations

import argparse
import json
import math
import random
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

HERE = Path(__file__).resolve().parent
MODELS = ("level", "multitask", "final-only", "params")
RANDOM_KS, PROMOTED_K = (4, 8, 12), 8


def strategy(model: str, fidelity: str, budget: int):
    """An `ASHAStrategy` (`level`, `multitask`) or `MOBOStrategy` (`final-only`) on the `full` space
    over MiniLM, as `autopeft search --strategy asha` / `mobo` builds it."""
    import optuna

    from autopeft.backbones import load_config
    from autopeft.search.strategies.asha import ASHAStrategy
    from autopeft.search.strategies.base import Context
    from autopeft.search.strategies.mobo import MOBOStrategy
    from autopeft.space.loader import bind_space

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    bound = bind_space("full", load_config("minilm"), 2)
    ctx = Context(bound, budget, optuna.create_study(), fidelity, seed=0, chance=0.44)
    if model == "final-only":
        return MOBOStrategy(ctx)
    return ASHAStrategy(ctx, model=model)


def observations(rows: pd.DataFrame, space) -> dict[int, list]:
    """Per candidate, its rungs as the strategy's (Observation, genes, score) triples."""
    from autopeft.methods.candidate import Candidate
    from autopeft.search.record import Observation

    out: dict[int, list] = {}
    genes_of: dict[str, dict] = {}
    for (idx, rung), row in rows.set_index(["candidate_index", "rung"]).iterrows():
        cand = Candidate.from_json(row["candidate"])
        if cand.key not in genes_of:
            genes_of[cand.key] = space.assignment_of(cand)
        genes = genes_of[cand.key]
        assert genes is not None, f"candidate {idx} is not expressible in the full space"
        obs = Observation(len(out), "complete", cand, genes, int(row["peft_params"]), float(row["score"]), int(rung))
        out.setdefault(int(idx), []).append((obs, genes, float(row["score"])))
    return out


def predict(strat, train: list, test: list, top: int) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and predictive sd (noise included) of the final rung at `test`'s candidates."""
    import torch

    if strat.name == "mobo":  # final-only: mobo's own GP, on the final scores alone
        train = [t for t in train if t[0].rung == top]
    x, y = strat.training_data(train)
    gp = strat.fit_model(torch.tensor(x, dtype=torch.double), torch.tensor(y, dtype=torch.double))
    xt = strat.baseline_points(test)  # the final rung's inputs (level 1, or the output task)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = gp.posterior(torch.tensor(xt, dtype=torch.double), observation_noise=True)
        return post.mean.squeeze(-1).numpy(), post.variance.clamp_min(1e-12).sqrt().squeeze(-1).numpy()


def evaluate(strats: dict, obs: dict[int, list], known: list[int], regime: str, k: int, split: int) -> list[dict]:
    """Each model's held-out metrics when `known` candidates have a final score."""
    top = max(o.rung for chain in obs.values() for o, _, _ in chain)
    held = [i for i in obs if i not in known]
    truth = np.array([next(s for o, _, s in obs[i] if o.rung == top) for i in held])
    train = [t for i in obs for t in obs[i] if i in known or t[0].rung < top]
    test = [next(t for t in obs[i] if t[0].rung == top) for i in held]
    out = []
    for model in MODELS:
        base = dict(regime=regime, k=k, split=split, model=model, held_out=len(held))
        if model == "params":
            params = np.array([t[0].params for t in test], float)
            out.append(base | dict(spearman=spearmanr(params, truth)[0], rmse=math.nan, nlpd=math.nan))
            continue
        mean, sd = predict(strats[model], train, test, top)
        nlpd = float(np.mean(0.5 * np.log(2 * np.pi * sd**2) + 0.5 * ((truth - mean) / sd) ** 2))
        out.append(base | dict(spearman=float(spearmanr(mean, truth)[0]),
                               rmse=float(np.sqrt(np.mean((truth - mean) ** 2))), nlpd=nlpd))
    return out


def promoted(obs: dict[int, list], strat, k: int) -> list[int]:
    """The candidates asha would promote from the rung below the top, in its own order."""
    from autopeft.search.rungs import RungResult, mo_order

    below = max(o.rung for chain in obs.values() for o, _, _ in chain) - 1
    members = [RungResult(str(i), i, s, o.params) for i, chain in obs.items() for o, _, s in chain if o.rung == below]
    return [int(m.key) for m in mo_order(members, strat.ctx.chance, strat.ctx.budget)[:k]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="a run.py output folder under this study, e.g. cpu/tweet_sentiment-0.5-standard")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--splits", type=int, default=10, help="random splits of each k")
    args = ap.parse_args()
    folder = HERE / args.run
    rows = pd.read_csv(folder / "rungs.csv")
    from autopeft.backbones import load_config
    from autopeft.space.budget import parse_budget
    from autopeft.space.loader import bind_space

    budget = parse_budget("0.5%", bind_space("full", load_config("minilm"), 2).dims.backbone_params)
    strats = {m: strategy(m, "standard", budget) for m in MODELS if m != "params"}
    assert strats["level"].steps == sorted(rows["stop"].unique().tolist()), "rungs.csv is not asha's rungs"
    for s in strats.values():
        s.ctx.chance = float(rows[rows["rung"] == 0]["score"].min())  # below every score: the reference point
    obs = observations(rows, strats["level"].ctx.space)
    results = evaluate(strats, obs, promoted(obs, strats["level"], PROMOTED_K), "promoted", PROMOTED_K, 0)
    rng = random.Random(args.seed)
    for k in RANDOM_KS:
        for split in range(args.splits):
            results += evaluate(strats, obs, rng.sample(sorted(obs), k), "random", k, split)
            print(f"k={k} split {split + 1}/{args.splits}", flush=True)
    table = pd.DataFrame(results)
    table.to_csv(folder / "model_choice_splits.csv", index=False, float_format="%.4f")
    summary = (table.groupby(["regime", "k", "model"], sort=False)
               .agg(splits=("split", "size"), spearman=("spearman", "mean"), spearman_sd=("spearman", "std"),
                    rmse=("rmse", "mean"), nlpd=("nlpd", "mean")).reset_index())
    wins = []
    for (regime, k), part in table.groupby(["regime", "k"], sort=False):
        piv = part.pivot(index="split", columns="model", values="spearman")
        wins.append(dict(regime=regime, k=k, level_beats_multitask=float((piv["level"] > piv["multitask"]).mean())))
    summary = summary.merge(pd.DataFrame(wins), on=["regime", "k"])
    summary.to_csv(folder / "model_choice.csv", index=False, float_format="%.4f")
    print(summary.to_string(index=False))
    print(json.dumps({"candidates": len(obs), "rungs": strats["level"].steps}))


if __name__ == "__main__":
    main()
