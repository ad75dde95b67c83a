"""Why `auto`'s BO adds little: on the synthetic objective (where the truth is known), what the
model predicted for each acquisition pick against the pick's noiseless score, beside what
`mobo`'s trials-only GP predicted there. Writes diagnose_picks.csv (or, with `auto` options,
diagnose_picks_<options>.csv), one row per pick.

    .venv/bin/python experiments/search_auto_vs_mobo/diagnose_picks.py [auto:OPTION=VALUE...]
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

import pandas as pd
import torch
from run import variant

from autopeft.search.api import search
from autopeft.search.evaluator import SyntheticEvaluator
from autopeft.search.strategies.auto import AutoStrategy
from autopeft.search.strategies.mobo import MOBOStrategy

HERE = Path(__file__).resolve().parent


def main(label: str = "auto") -> None:
    warnings.filterwarnings("ignore")
    _, options = variant(label)
    truth = SyntheticEvaluator(noise=0.005, seed=0)
    rows: list[dict[str, float]] = []
    fit, acquire = AutoStrategy.fit_model, AutoStrategy._acquire_batch

    def fit_both(self, x, y):  # the strategy's model, and mobo's GP on the same trials beside it
        self._models = (fit(self, x, y), MOBOStrategy.fit_model(self, x, y))
        return self._models[0]

    def acquire_and_record(self, q, pending):
        picks = acquire(self, q, pending)
        x = torch.tensor(self.enc.encode_many(picks), dtype=torch.double)
        with torch.no_grad():
            model, trials_gp = (m.posterior(x) for m in self._models)
        for i, (_, c) in enumerate(picks):
            rows.append({"trials": len([o for o in self.history if o.score is not None]),
                         "peft_params": self.ctx.space.params(c), "true_score": truth.score(c),
                         "predicted": float(model.mean[i]), "predicted_sd": float(model.variance[i].sqrt()),
                         "trials_gp_predicted": float(trials_gp.mean[i])})
        return picks

    AutoStrategy.fit_model, AutoStrategy._acquire_batch = fit_both, acquire_and_record
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        search("tweet_sentiment", budget="0.5%", space="full", strategy="auto", trials=10, seed=0, fidelity="quick",
               out=Path(tmp) / "run", evaluator=truth, keep_weights="none", strategy_options=options)
    df = pd.DataFrame(rows).round(4)
    name = "diagnose_picks" + "".join(f"_{k}-{v}" for k, v in options.items())
    df.to_csv(HERE / f"{name}.csv", index=False)
    print(df.to_string())
    print("mean over-prediction: model", round((df.predicted - df.true_score).mean(), 3),
          "trials-only GP", round((df.trials_gp_predicted - df.true_score).mean(), 3))


if __name__ == "__main__":
    main(*sys.argv[1:2])
