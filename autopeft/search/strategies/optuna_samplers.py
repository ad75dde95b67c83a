"""`tpe` and `nsga2`: Optuna's samplers over the space's genes as categorical parameters.

They know nothing of the budget: an over-budget (or empty) proposal is told to the study as
`rejected` with a positive `budget` constraint (TPE learns the infeasible region from it), a
proposal that decodes to a candidate already tried as `duplicate`; neither is trained nor counts
towards --trials. After `max_rejects` such proposals in a row, the last one is repaired (genes
shrunk until it fits) and trained as the sampler's proposal.
"""

from __future__ import annotations

from typing import Any

import optuna

from autopeft.methods.candidate import Candidate
from autopeft.search import record
from autopeft.search.strategies.base import Proposal, Strategy


class OptunaStrategy(Strategy):
    """A strategy whose proposals come from the study's own Optuna sampler."""

    max_rejects = 3

    def ask(self, n: int) -> list[Proposal]:
        """Up to `n` proposals from the sampler, rejecting what does not fit."""
        out = []
        for _ in range(n):
            prop = self._one()
            if prop is None:
                break
            out.append(prop)
        return out

    def _one(self) -> Proposal | None:
        ctx, dists = self.ctx, record.distributions(self.ctx.space)
        last = None
        for _ in range(self.max_rejects):
            trial = ctx.study.ask(dists)
            assignment = dict(trial.params)
            cand = ctx.space.decode(assignment)
            last = assignment
            if cand is None:
                record.reject(ctx.study, trial, None, ctx.space, ctx.budget, self.name, reason="no PEFT module")
            elif not ctx.fits(cand):
                record.reject(ctx.study, trial, cand, ctx.space, ctx.budget, self.name,
                              reason=f"{ctx.space.params(cand):,} PEFT parameters > budget {ctx.budget:,}")
            elif not ctx.is_new(cand):
                record.reject(ctx.study, trial, cand, ctx.space, ctx.budget, self.name, status="duplicate",
                              reason=f"candidate {cand.key} already tried")
            else:
                record.start(trial, cand, ctx.space, self.name, ctx.fidelity, owner=ctx.owner)
                ctx.seen.add(cand.key)
                return Proposal(trial, cand, assignment)
        fixed = self._repaired(last)
        if fixed is None:
            return None
        return self.open_trial(fixed[1], fixed[0], repaired=True)

    def open_trial(self, candidate: Candidate, assignment: dict[str, Any] | None, recipe: str | None = None,
                   fidelity: str | None = None, **extra: Any) -> Proposal:
        """A proposal of ours (a repair, a re-run) as the sampler's own parameters, so it learns from
        it: enqueued with its genes and asked for at once (its attributes follow, `candidate` last)."""
        if assignment is None or recipe is not None or fidelity is not None:
            return super().open_trial(candidate, assignment, recipe, fidelity, **extra)
        self.ctx.study.enqueue_trial(assignment, skip_if_exists=False)
        trial = self.ctx.study.ask(record.distributions(self.ctx.space))
        record.start(trial, candidate, self.ctx.space, self.name, self.ctx.fidelity, owner=self.ctx.owner,
                     **extra)
        self.ctx.seen.add(candidate.key)
        return Proposal(trial, candidate, assignment)

    def _repaired(self, assignment: dict[str, Any] | None):
        if assignment is not None:
            try:
                fixed, cand = self.ctx.space.repair(assignment, self.rng, self.ctx.budget)
                if self.ctx.is_new(cand):
                    return fixed, cand
            except Exception:  # nothing to shrink: fall back to a random feasible candidate
                pass
        return self.random_new()


class TPEStrategy(OptunaStrategy):
    """Optuna's multi-objective TPE (multivariate, grouped)."""

    name = "tpe"

    @classmethod
    def sampler(cls, seed: int, options: dict[str, Any]) -> optuna.samplers.BaseSampler:
        """TPE seeded from the run's seed."""
        import warnings

        with warnings.catch_warnings():  # multivariate/group are flagged experimental
            warnings.simplefilter("ignore")
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True,
                                              n_startup_trials=options.get("n_startup", 10))


class NSGA2Strategy(OptunaStrategy):
    """Optuna's NSGA-II."""

    name = "nsga2"

    @classmethod
    def sampler(cls, seed: int, options: dict[str, Any]) -> optuna.samplers.BaseSampler:
        """NSGA-II with a population sized for short searches."""
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=options.get("population", 10))
