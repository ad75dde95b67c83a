"""`mobo`: multi-objective Bayesian optimisation with BoTorch.

A GP models the score on an encoding of the candidate (search/encoding.py); the parameter count
is not modelled: it is read back exactly from the encoding by a `GenericDeterministicModel`.
qLogNoisyExpectedHypervolumeImprovement over (score, -params/budget), reference point (chance
score, the budget), is maximised over the discrete space by local search (search/acqopt.py);
a batch is chosen greedily, each pick added to the pending points. The first `n_init` trials are
the hand-designed baselines that fit and that the space can express, then a space-filling design
over a pool of feasible random candidates (`start="baselines"`, the default: the search starts from
what a user would have picked, so its front holds them at the search's fidelity; on the user's
table, experiments/search_quality, it was level with max-min on tweets at 0.5% with a far steadier
knee, ahead on MNIST, and the same search where the space expresses no baseline), or the design
alone: greedy max-min distance in the encoding (`start="maxmin"`, the default before), or the same
within each of `n_init` log-size bins, smallest first (`start="stratified"`). Max-min alone takes
the densest, hence largest, candidates, so the front stays flat through the start; the stratified
start has a far better front after its first few trials, but after 10 it ended behind on the
2-core CPU and level on an H100 (experiments/search_auto_vs_mobo/README.md: cpu_start,
h100_start): the large, many-layer first trials teach the GP what its acquisitions then exploit
at small sizes.

`region=R` (0, off, by default) is a trust region in the spirit of TuRBO (Eriksson et al., 2019)
and of local search for NAS (White et al., 2021): after the first trials, the acquisition is
maximised only over candidates within R facts (`module_distance`: modules added, removed or
resized) of the incumbent, the best-scoring trial within budget. The default search picks the best
baseline on most seeds, and the one hybrid known to beat it at 0.05% of MiniLM shares most of its
modules ((IA)³ on keys and values) while the global acquisition proposes far-away hybrids at the
budget's edge (experiments/search_quality: `warm_region`).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, ClassVar

import numpy as np

from autopeft.methods.candidate import Candidate
from autopeft.search.acqopt import local_search
from autopeft.search.design import maxmin_order, stratified_maxmin
from autopeft.search.encoding import Encoder, params_from_encoding
from autopeft.search.record import Observation
from autopeft.search.strategies.base import Context, Proposal, Strategy
from autopeft.space.space import module_distance

# the first trials: space-filling, space-filling per log-size bin, or the fitting baselines then max-min
STARTS = ("maxmin", "stratified", "baselines")
# a complete trial with its genes and score (both known: what the GP is fitted on)
ScoredObs = tuple[Observation, dict[str, Any], float]


class MOBOStrategy(Strategy):
    """GP + qLogNEHVI over (score, -PEFT params) with exact parameter counts."""

    name = "mobo"
    default_start: ClassVar[str] = "baselines"  # `start` when not given (subclasses choose their own)

    @classmethod
    def trains_baselines(cls, options: dict[str, Any]) -> bool:
        return options.get("start", cls.default_start) == "baselines"

    def __init__(self, ctx: Context, n_init: int | None = None, mc_samples: int = 64, pool: int = 256,
                 restarts: int = 5, max_evals: int = 2000, start: str | None = None, region: int = 0,
                 **options: Any):
        start = start if start is not None else self.default_start
        if start not in STARTS:
            raise ValueError(f"mobo: start must be one of {', '.join(STARTS)}, not {start!r}")
        if not isinstance(region, int) or isinstance(region, bool) or region < 0:
            raise ValueError(f"mobo: region must be a whole number of modules (0: no region), not {region!r}")
        super().__init__(ctx, n_init=n_init, mc_samples=mc_samples, pool=pool, restarts=restarts,
                         max_evals=max_evals, start=start, region=region, **options)
        self.n_init = n_init if n_init is not None else 5
        self.enc = Encoder(ctx.space, ctx.budget)
        self._design: list[tuple[dict[str, Any], Any]] | None = None  # the stratified start, chosen once
        self.seeds: list[tuple[str, dict[str, Any], Any]] = []
        if start == "baselines":
            self.seeds = self.expressible_baselines()
            self.n_init = max(self.n_init, len(self.seeds) + 1)  # and at least one space-filling point

    def expressible_baselines(self) -> list[tuple[str, dict[str, Any], Any]]:
        """(name, genes, candidate) of each fitting baseline the space can express, in BASELINES order."""
        from autopeft.space.baselines import fitted

        out = []
        for name, cand in fitted(self.ctx.space.dims, self.ctx.budget):
            a = self.ctx.space.assignment_of(cand)
            if a is not None:
                out.append((name, a, cand))
        return out

    # --- proposals ------------------------------------------------------------------------
    def ask(self, n: int) -> list[Proposal]:
        """Space-filling points until `n_init` results are in, then acquisition maxima."""
        out: list[Proposal] = []
        while len(out) < n and self.started() + len(out) < self.n_init:
            seed = next(((nm, a, c) for nm, a, c in self.seeds if self.ctx.is_new(c)), None)
            if seed is not None:
                # search/challenge.py reads the baseline's name back from this origin
                out.append(self.open_trial(seed[2], seed[1], origin=f"the baseline {seed[0]} as a first trial"))
                continue
            pick = self._space_filling(list(self.running.values()))
            if pick is None:
                return out
            out.append(self.open_trial(pick[1], pick[0]))
        if len(out) < n:
            for a, cand in self._acquire(n - len(out), pending=list(self.running.values())):
                out.append(self.open_trial(cand, a))
        return out

    def started(self) -> int:
        """Points of the space already started (the space-filling start counts them)."""
        return sum(o.assignment is not None for o in self.history)

    def _space_filling(self, pending: list[Proposal]) -> tuple[dict[str, Any], Candidate] | None:
        taken = [(o.assignment, o.candidate) for o in self.history if o.assignment is not None]
        taken += [(p.assignment, p.candidate) for p in pending if p.assignment is not None]
        if self.options["start"] == "stratified":
            return self._stratified(taken)
        pool: list[tuple[dict[str, Any], Candidate]] = []
        for _ in range(self.options["pool"]):
            a, cand = self.ctx.space.sample(self.rng, self.ctx.budget, mode="mixed")
            if self.ctx.is_new(cand):
                pool.append((a, cand))
        if not pool:
            return self.random_new()
        if not taken:
            return pool[0]
        # copies: encode_many takes a list of candidates or None, and a list type is invariant
        return pool[maxmin_order(self.enc.encode_many(list(pool)), self.enc.encode_many(list(taken)), 1)[0]]

    def _stratified(self, taken: list[tuple[dict[str, Any], Any]]) -> tuple[dict[str, Any], Candidate] | None:
        """The next point of a start spread over the log-size range: out of 4x `pool` random
        feasible draws, one per log-size bin (as many bins as first trials still to run),
        space-filling within each (greedy max-min in the encoding), smallest first, so that
        the first trials claim the front's area at every size."""
        if self._design is None:
            draws: dict[str, tuple[dict[str, Any], Candidate]] = {}
            for _ in range(4 * self.options["pool"]):
                a, cand = self.ctx.space.sample(self.rng, self.ctx.budget, mode="mixed")
                if self.ctx.is_new(cand):
                    draws.setdefault(cand.key, (a, cand))
            pool = list(draws.values())
            k = self.n_init - len(taken)
            picks = self.stratified_picks(pool, taken, k, bins=k)
            self._design = sorted((pool[i] for i in picks), key=lambda p: self.ctx.space.params(p[1]))
        while self._design:
            a, cand = self._design.pop(0)
            if self.ctx.is_new(cand) and all(cand.key != c.key for _, c in taken):
                return a, cand
        return self.random_new()

    def stratified_picks(self, pool: list[tuple[dict[str, Any], Any]], taken: list[tuple[dict[str, Any], Any]],
                         k: int, bins: int) -> list[int]:
        """`k` indices of `pool` spread over `bins` log-size bins, max-min in the encoding within each
        (design.stratified_maxmin), away from `taken`."""
        sizes = np.array([math.log1p(self.ctx.space.params(c)) for _, c in pool])
        return stratified_maxmin(self.enc.encode_many(pool), sizes, self.enc.encode_many(taken), k, bins=bins)

    def _acquire(self, q: int, pending: list[Proposal]) -> list[tuple[dict[str, Any], Any]]:
        import torch

        # small matrices: one thread is several times faster than two contended ones (and the
        # trainer's thread count is restored afterwards)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return self._acquire_batch(q, pending)
        finally:
            torch.set_num_threads(threads)

    def _acquire_batch(self, q: int, pending: list[Proposal]) -> list[tuple[dict[str, Any], Any]]:
        import torch

        obs = [(o, o.assignment, o.score) for o in self.history
               if o.status == "complete" and o.assignment is not None and o.score is not None]
        if len(obs) < 2:
            found = [self.random_new() for _ in range(q)]
            return [f for f in found if f is not None]
        features, scores = self.training_data(obs)
        x, y = torch.tensor(features, dtype=torch.double), torch.tensor(scores, dtype=torch.double)
        model = self.fit_model(x, y)
        x_baseline = torch.tensor(self.baseline_points(obs), dtype=torch.double)
        picks: list[tuple[dict[str, Any], Candidate]] = []
        starts = self._front_assignments(obs)
        chosen: set[str] = set()
        near, draw = self._region(obs)
        if draw is not None:
            starts = [a for a in starts if near(self.ctx.space.decode(a))]
        for _ in range(q):
            pend: list[tuple[dict[str, Any], Candidate | None]] = [
                (p.assignment, p.candidate) for p in pending if p.assignment is not None]
            pend += picks
            x_pending = torch.tensor(self.enc.encode_many(pend), dtype=torch.double) if pend else None
            acqf = self.acquisition(model, x_baseline, x_pending)

            def values(xs: np.ndarray, acqf=acqf) -> np.ndarray:
                with torch.no_grad():
                    return acqf(torch.tensor(xs, dtype=torch.double).unsqueeze(1)).numpy()

            best = local_search(values, self.ctx.space, self.enc,
                                lambda c: self.ctx.is_new(c) and c.key not in chosen and near(c), starts, self.rng,
                                self.ctx.budget, pool=self.options["pool"], restarts=self.options["restarts"],
                                max_evals=self.options["max_evals"], draw=draw)
            if best is None:
                drawn = self.random_new() if draw is None else self._new_in_region(draw, chosen)
                if drawn is None:
                    break
                best_a, best_c = drawn
            else:
                best_a, best_c = best.assignment, best.candidate
            chosen.add(best_c.key)
            picks.append((best_a, best_c))
        return picks

    def _region(self, obs: list[ScoredObs]):
        """(whether a candidate is in the trust region, a draw of a random candidate in it); with no
        region, every candidate and no draw (the whole space's)."""
        radius = self.options["region"]
        fits = [(o, a) for o, a, _ in obs if o.params <= self.ctx.budget]
        if not radius or not fits:
            return (lambda _c: True), None
        incumbent, genes = max(fits, key=lambda p: (p[0].score, -p[0].params))
        space, budget = self.ctx.space, self.ctx.budget

        def near(c: Candidate | None) -> bool:
            return c is not None and module_distance(c, incumbent.candidate) <= radius

        def draw() -> tuple[dict[str, Any], Candidate] | None:
            """The incumbent's genes after 1 to `radius` random changes (each to a random choice)."""
            a = dict(genes)
            for g in self.rng.sample(space.genes, self.rng.randint(1, radius)):
                a[g.name] = self.rng.choice(g.choices)
            c = space.decode(a)
            return (a, c) if c is not None and space.params(c) <= budget and near(c) else None

        return near, draw

    def _new_in_region(self, draw, chosen: set[str], tries: int = 2000) -> tuple[dict[str, Any], Candidate] | None:
        """A random untried candidate in the region, for when the acquisition found none."""
        for _ in range(tries):
            found = draw()
            if found is not None and self.ctx.is_new(found[1]) and found[1].key not in chosen:
                return found
        return None

    def training_data(self, obs: list[ScoredObs]) -> tuple[np.ndarray, np.ndarray]:
        """The GP's inputs (the encoding) and targets (the score), one row per scored trial."""
        x = self.enc.encode_many([(a, o.candidate) for o, a, _ in obs])
        return x, np.array([[score] for _, _, score in obs], dtype=float)

    def baseline_points(self, obs: list[ScoredObs]) -> np.ndarray:
        """The acquisition's observed points (qLogNEHVI's X_baseline), in the GP's inputs."""
        return self.training_data(obs)[0]

    def _front_assignments(self, obs: list[ScoredObs]) -> list[dict[str, Any]]:
        from autopeft.pareto import non_dominated

        mask = non_dominated([score for _, _, score in obs], [o.params for o, _, _ in obs])
        return [a for (_, a, _), m in zip(obs, mask, strict=True) if m]

    # --- the model and the acquisition (autopeft-paper overrides fit_model) ---------------
    def fit_model(self, x, y):
        """A GP on the score (BoTorch's defaults: dimension-scaled lengthscale priors, standardised y)."""
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import SingleTaskGP
        from gpytorch.mlls import ExactMarginalLogLikelihood

        gp = SingleTaskGP(x, y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
        return gp

    def objectives_model(self, score_model):
        """(score, -params/budget): the GP beside the exact, deterministic parameter objective."""
        from botorch.models.deterministic import GenericDeterministicModel
        from botorch.models.model import ModelList

        budget = self.ctx.budget
        return ModelList(score_model, GenericDeterministicModel(lambda X: params_from_encoding(X, budget), 1))

    def acquisition(self, score_model, x_baseline, x_pending):
        """qLogNEHVI with the reference point (chance score, the budget)."""
        import torch
        from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
        from botorch.sampling.get_sampler import get_sampler

        from autopeft.search.strategies.fused_kernel import guard

        guard()  # never wait on the lock of BoTorch's C++ kernel that a killed process left (fused_kernel.py)
        model = self.objectives_model(score_model)
        # one sampler per posterior of the model list (QMC for the GP, none needed for the exact count);
        # seeded by the search's seed and its progress, so a search does not depend on what ran
        # before it in the same process (torch's global generator)
        sampler = get_sampler(model.posterior(x_baseline[:1]), torch.Size([self.options["mc_samples"]]),
                              seed=self.ctx.seed * 10_000 + len(x_baseline))
        return qLogNoisyExpectedHypervolumeImprovement(
            model=model, ref_point=torch.tensor(self.ref_point(), dtype=torch.double),
            X_baseline=x_baseline, X_pending=x_pending, prune_baseline=True, cache_root=True, sampler=sampler)

    def ref_point(self) -> list[float]:
        """The hypervolume reference in (score, -params/budget): chance score, the budget."""
        return [self.ctx.chance, -1.0]

    def info(self) -> dict[str, Any]:
        """Settings for run.json."""
        return super().info() | {"n_init": self.n_init, "encoding_dims": self.enc.dim,
                                 "first_trials": [name for name, _, _ in self.seeds] or None,
                                 "acquisition": "qLogNoisyExpectedHypervolumeImprovement",
                                 "ref_point": [self.ctx.chance, self.ctx.budget],
                                 "log_budget": math.log1p(self.ctx.budget)}
