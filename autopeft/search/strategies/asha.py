"""`asha`: many candidates briefly, the promising ones longer (multi-fidelity `mobo`).

The search's fidelity is the final rung; below it are rungs at 1/eta, 1/eta², ... of its steps:
`rungs=N` of them, or by default up to three with none under 30 steps (`quick`: 33 and 100 steps;
`standard`: 33, 100 and 300; `default_rungs` says why). Every trial is one rung of one candidate: new
candidates start at the bottom, and whenever a slot is free the highest rung with an unclimbed
member in its top 1/eta promotes it (search/rungs.py: MO-ASHA's ranking, asynchronous). A promoted
candidate continues from its checkpoint at the rung below (evaluators/checkpoint.py): every rung
trains the same planned schedule (warm-up and linear decay over the final steps) and stops early,
so continuing is exactly the longer run planned from the start, and a rung's score is the score
the final run had at that step.

New candidates come from `mobo`'s GP over every rung's scores, asked at the final rung, in one of
two ways (`asha:model=...`; experiments/fidelity_agreement measured them offline on 24 candidates'
rungs: they rank held-out final scores alike, `level`'s predictive spread is calibrated and
`multitask`'s is overconfident with few final scores, and with 8 or more final scores both rank
far better than a GP on the final scores alone):
- `level` (the default): the rung as an input (log steps over log final steps, the first column
  of the encoding); the GP learns how scores rise with steps from candidates that climbed, and
  what a candidate would score at the end from the rest (as BoTorch's multi-fidelity models do);
- `multitask`: each rung a task of BoTorch's `MultiTaskGP` (an ICM kernel, as `auto` uses for its
  proxy), predicting the final rung: it learns from the data how far each rung is to be trusted.
  Lower rungs' scores are put on the final rung's mean and spread first (BoTorch standardises the
  tasks jointly); with fewer than two final-rung scores it pools every rung in one GP.

A lower rung scores on a share of the final rung's dev examples in proportion to its steps, at
least 500 (`asha:eval=scaled`, the default; the supernet proxy's 500), or on all of them
(`asha:eval=full`). Scoring 2,000 dev tweets took about three quarters of an 11-step rung's CPU time
in experiments/search_quality's clock runs, so a full-eval bottom rung cost about 40% of a final
trial, not 11%; with two rungs, scaled scoring gained 0.007-0.010 dev hypervolume at 10 CPU-minutes
on two seeds of three and tied on the third. Every candidate at a rung is scored on the same
examples (a fixed stratified subset).

A rung's top 1/eta climbs in MO-ASHA's order (`asha:promote=front`, the default: the front's
spread) or by score alone (`promote=score`: the best score is what a user who takes the best
within the budget picks by; rungs.py says why).

Only final-rung trials make the front (their fidelity is the search's). `--trials N` buys the
training steps of N final-fidelity trials: a rung trial counts its share, the steps it trained over
the final steps (its `cost`), so `asha` and `mobo` with the same `--trials` spend the same steps.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any

import numpy as np

from autopeft.errors import UserError
from autopeft.evaluators.fidelity import parse_fidelity
from autopeft.methods.candidate import Candidate
from autopeft.search.record import Observation
from autopeft.search.rungs import ORDERS, RungResult, promotable, rung_steps
from autopeft.search.strategies.base import Context, Proposal
from autopeft.search.strategies.mobo import MOBOStrategy, ScoredObs

# how the GP uses lower rungs: the rung as an input, or one task per rung
MODELS = ("level", "multitask")
# what a lower rung scores on: the final rung's dev examples, or a share in proportion to its steps
EVALS = ("full", "scaled")
RUNG_EVAL_FLOOR = 500  # the fewest dev examples a scaled rung scores on (the supernet proxy's)
# Without `rungs=N`: up to DEFAULT_RUNGS rungs, none below MIN_RUNG_STEPS steps. At 11 steps (`quick`'s
# third rung) every candidate scored the majority class (experiments/fidelity_agreement), while at 33
# a rung added about as much beside the count as at 100; dropping the 11-step rung gained asha 0.013-0.014
# dev hypervolume at 10 CPU-minutes on every seed (experiments/search_quality, `asha-r2`).
DEFAULT_RUNGS, MIN_RUNG_STEPS = 3, 30


def default_rungs(final_steps: int, eta: int) -> list[int]:
    """Rung stops for `final_steps` when the user names no `rungs`: up to DEFAULT_RUNGS, each lower
    rung at MIN_RUNG_STEPS or more (a single rung, plain `mobo` at the final fidelity, if none fits)."""
    steps = rung_steps(final_steps, eta, DEFAULT_RUNGS)
    return [s for s in steps[:-1] if s >= MIN_RUNG_STEPS] + steps[-1:]


class ASHAStrategy(MOBOStrategy):
    """Asynchronous successive halving over training steps, proposals from a fidelity-aware GP."""

    name = "asha"

    def __init__(self, ctx: Context, eta: int = 3, rungs: int | None = None, model: str = "level", **options: Any):
        if model not in MODELS:
            raise UserError(f"asha: model must be one of {', '.join(MODELS)}, not {model!r}")
        rung_eval = str(options.pop("eval", "scaled"))
        if rung_eval not in EVALS:
            raise UserError(f"asha: eval must be one of {', '.join(EVALS)}, not {rung_eval!r}")
        promote = str(options.pop("promote", "front"))
        if promote not in ORDERS:
            raise UserError(f"asha: promote must be one of {', '.join(ORDERS)}, not {promote!r}")
        final = parse_fidelity(ctx.fidelity)
        if final.steps is None or final.stop is not None:
            raise UserError(f"asha needs a fidelity counted in steps (e.g. quick, standard, steps=300), "
                            f"not {ctx.fidelity!r}")
        self.steps = rung_steps(final.steps, eta, rungs) if rungs is not None else default_rungs(final.steps, eta)
        self.final, self.rung_eval, self.promote = final, rung_eval, promote
        super().__init__(ctx, eta=eta, rungs=len(self.steps), model=model, **options)
        self.eta, self.model = eta, model
        self._rungs: list[int] = []  # the rung of each row the GP is fitted on (multitask)
        self.genes: dict[str, dict[str, Any] | None] = {}  # candidate key -> its gene assignment

    # --- rungs -----------------------------------------------------------------------------
    def fidelity_of(self, rung: int) -> str:
        """The fidelity label a trial at `rung` records (the search's own at the top: its front)."""
        if rung == len(self.steps) - 1:
            return self.ctx.fidelity
        return dataclasses.replace(self.final, stop=self.steps[rung], eval=self.eval_at(rung)).label()

    def eval_at(self, rung: int) -> int | None:
        """The dev examples `rung` scores on (None: the whole split, as the final rung asks)."""
        full = self.final.eval
        if self.rung_eval == "full" or full is None:  # a whole split's size is not known here: kept whole
            return full
        return min(full, max(RUNG_EVAL_FLOOR, round(full * self.steps[rung] / self.steps[-1])))

    def level(self, rung: int) -> float:
        """The GP's fidelity input: log steps over log final steps (1 at the final rung)."""
        return math.log(self.steps[rung]) / math.log(self.steps[-1]) if self.steps[-1] > 1 else 1.0

    def _results(self, rung: int) -> list[RungResult]:
        return [RungResult(o.candidate.key, o.number, float(o.score), o.params,
                           math.inf if o.loss is None else o.loss) for o in self.history
                if o.rung == rung and o.status == "complete" and o.score is not None]

    def _reached(self, rung: int) -> set[str]:
        """Candidates with a trial at `rung`: finished, failed, or running (opened, not yet told)."""
        keys = {o.candidate.key for o in self.history if o.rung == rung}
        return keys | {p.candidate.key for p in self.running.values() if p.rung == rung}

    def _promotion(self) -> Proposal | None:
        for rung in range(len(self.steps) - 2, -1, -1):
            ready = promotable(self._results(rung), self._reached(rung + 1), self.eta,
                               self.ctx.chance, self.ctx.budget, self.promote)
            if ready:
                best = ready[0]
                cand = next(o.candidate for o in self.history if o.number == best.trial)
                return self.open_rung(cand, self.genes.get(best.key), rung + 1, continues=best.trial)
        return None

    def open_rung(self, candidate: Candidate, assignment: dict[str, Any] | None, rung: int,
                  continues: int | None = None, **extra: Any) -> Proposal:
        """Open the trial that trains `candidate` to `rung` (from its checkpoint at `continues`)."""
        start = self.steps[rung - 1] if continues is not None else 0
        cost = (self.steps[rung] - start) / self.steps[-1]
        extra |= {"rung": rung, "cost": cost, "stop": self.steps[rung]}
        if continues is not None:
            extra["continues"] = continues
        prop = super().open_trial(candidate, assignment, fidelity=self.fidelity_of(rung), **extra)
        prop.rung, prop.resume_from = rung, continues
        prop.keep_checkpoint = rung < len(self.steps) - 1
        self.genes[candidate.key] = assignment
        return prop

    def open_trial(self, candidate: Candidate, assignment: dict[str, Any] | None, recipe: str | None = None,
                   fidelity: str | None = None, **extra: Any) -> Proposal:
        """A new candidate (mobo's proposal, or a re-run of an interrupted trial) at the bottom rung;
        an interrupted trial of a higher rung re-runs at its rung, from the checkpoint it continued.
        (`fidelity` is the rung's; a recipe cannot be paused, so asha opens none.)"""
        rung = extra.pop("rung", 0)
        continues = extra.pop("continues", None)
        return self.open_rung(candidate, assignment, rung, continues, **extra)

    # --- asking --------------------------------------------------------------------------
    def ask(self, n: int) -> list[Proposal]:
        """Promotions first (highest rung first), then new candidates from the GP at the bottom rung."""
        out: list[Proposal] = []
        while len(out) < n:
            prop = self._promotion()
            if prop is None:
                break
            out.append(prop)
        if len(out) < n:
            out += super().ask(n - len(out))
        return out

    def started(self) -> int:
        """Distinct candidates started (a promotion is not a new point of the space-filling start)."""
        return len({o.candidate.key for o in self.history if o.assignment is not None})

    def tell(self, observations: list[Observation]) -> None:
        for o in observations:
            if o.assignment is not None:
                self.genes.setdefault(o.candidate.key, o.assignment)
        super().tell(observations)

    # --- the GP over every rung ----------------------------------------------------------
    def training_data(self, obs: list[ScoredObs]) -> tuple[np.ndarray, np.ndarray]:
        """Every rung's score; `level`: the rung's level as the first column."""
        x, y = super().training_data(obs)
        self._rungs = [o.rung or 0 for o, _, _ in obs]
        if self.model == "multitask":
            return x, y
        levels = np.array([[self.level(r)] for r in self._rungs])
        return np.hstack([levels, x]), y

    def baseline_points(self, obs: list[ScoredObs]) -> np.ndarray:
        """The observed candidates, each once, at the final rung (where the acquisition is asked)."""
        seen: dict[str, tuple[dict[str, Any], Candidate]] = {}
        for o, a, _ in obs:
            seen.setdefault(o.candidate.key, (a, o.candidate))
        x = self.enc.encode_many(list(seen.values()))
        return x if self.model == "multitask" else np.hstack([np.ones((len(x), 1)), x])

    def fit_model(self, x, y):
        """`level`: mobo's GP on (level, encoding). `multitask`: one task per rung, predicting the last."""
        import torch
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import MultiTaskGP
        from gpytorch.mlls import ExactMarginalLogLikelihood

        top = len(self.steps) - 1
        rungs = torch.tensor(self._rungs, dtype=x.dtype).unsqueeze(-1)
        final = rungs.squeeze(-1) == top
        if self.model != "multitask" or int(final.sum()) < 2 or len(set(self._rungs)) < 2:
            return super().fit_model(x, y)
        y = y.clone()
        mean, spread = y[final].mean(), y[final].std().clamp_min(1e-9)
        for rung in set(self._rungs) - {top}:
            low = rungs.squeeze(-1) == rung
            if int(low.sum()) > 1:
                y[low] = (y[low] - y[low].mean()) / y[low].std().clamp_min(1e-9) * spread + mean
        gp = MultiTaskGP(torch.cat([x, rungs], -1), y, task_feature=x.shape[-1], output_tasks=[top])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
        return gp

    def acquisition(self, score_model, x_baseline, x_pending):
        """mobo's acquisition; `level`: over (level, encoding) with the level fixed at the final rung."""
        import torch
        from botorch.acquisition.fixed_feature import FixedFeatureAcquisitionFunction

        if self.model == "multitask":
            return super().acquisition(score_model, x_baseline, x_pending)
        if x_pending is not None:
            x_pending = torch.cat([torch.ones(len(x_pending), 1, dtype=x_pending.dtype), x_pending], dim=1)
        full = super().acquisition(score_model, x_baseline, x_pending)
        return FixedFeatureAcquisitionFunction(full, d=x_baseline.shape[-1], columns=[0], values=[1.0])

    def info(self) -> dict[str, Any]:
        """Settings for run.json: the rungs and how they count."""
        return super().info() | {"rung_steps": self.steps, "eta": self.eta, "model": self.model,
                                 "eval": self.rung_eval, "promote": self.promote,
                                 "rung_fidelities": [self.fidelity_of(r) for r in range(len(self.steps))],
                                 "trials_count": "final-fidelity steps: a rung trial counts its steps / final steps"}
