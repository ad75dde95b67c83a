"""One strategy variant on the synthetic objective (as experiments/search_auto_vs_mobo/synthetic.py,
with torch's generator seeded per search): prints, per seed, the hypervolume after each of 10 trials.

    .venv/bin/python experiments/archive/search_auto_vs_mobo/h100_v4/synthetic_variant.py LABEL SEEDS

e.g. LABEL `auto:model=cokriging:verify=3`, SEEDS `0,1,2`. The `model` and `verify` options exist
only with auto_cokriging.patch applied (against commit 7d442f3).
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "search_auto_vs_mobo"))  # run.py
from run import variant  # noqa: E402

from autopeft.search.api import search  # noqa: E402
from autopeft.search.evaluator import SyntheticEvaluator  # noqa: E402


def main(label: str, seeds: str) -> None:
    warnings.filterwarnings("ignore")
    strategy, options = variant(label)
    for seed in (int(s) for s in seeds.split(",")):
        torch.manual_seed(seed)
        with tempfile.TemporaryDirectory() as tmp:
            res = search("tweet_sentiment", budget="0.5%", space="full", strategy=strategy, trials=10, seed=seed,
                         fidelity="quick", out=Path(tmp) / "run", evaluator=SyntheticEvaluator(noise=0.005, seed=seed),
                         keep_weights="none", strategy_options=options)
            hv = res.trials[res.trials["kind"] == "search"]["hypervolume"].tolist()
            print(label, seed, " ".join(f"{v:.3f}" for v in hv), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
