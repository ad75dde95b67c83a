"""`auto`: a supernet screens many candidates cheaply, Bayesian optimisation on the
true (standalone) objective uses the proxy score as an input feature, and only promising,
diverse candidates are trained standalone.

1. The supernet is trained once within the budget (sandwich rule) and scores a pool of feasible
   candidates (the largest, the smallest and random ones) with inherited weights.
2. The first standalone trials are diverse and promising: the pool is cut into bins of the
   (log) parameter range and the best proxy score of each bin is trained.
3. Then a GP models the standalone score on the candidate's encoding plus its proxy score, and
   qLogNEHVI over (score, -params) picks the next batch from the pool (pending points for the
   batch). Before each round the pool grows, so the search is not confined to the first pool:
   by `mobo`'s own acquisition maxima over the whole space (its GP on the encoding alone,
   local search; without them the later trials could only be the screened random candidates
   and their mutations: experiments/search_auto_vs_mobo compares both) and by mutations of the
   front and of the best proxies, all scored by the supernet.

Proxy scores are recorded (kind `proxy`, fidelity `supernet`) and reused on resume.
"""

from __future__ import annotations

import math
import random
import warnings
from typing import Any

import numpy as np

from autopeft.search.evolution import EvolutionConfig, mutate
from autopeft.search.proxy import plan_for, proxy_value, start_scorer
from autopeft.search.proxy_record import cached_scores, record_proxy
from autopeft.search.record import Observation
from autopeft.search.strategies.base import Context, Proposal
from autopeft.search.strategies.mobo import MOBOStrategy
from autopeft.space.candidate import Candidate

# proxies are ranked by their dev loss (see search.proxy.proxy_value and experiments/supernet)
RANK_BY = "loss"
SCREEN = {"smoke": 16, "quick": 64, "standard": 160, "paper": 400}  # first pool, per fidelity
Entry = tuple[dict[str, Any], Candidate, float]  # assignment, candidate, proxy score


class AutoStrategy(MOBOStrategy):
    """Supernet screening + multi-fidelity BO (proxy as a GP input)."""

    name = "auto"
    uses_proxy = True

    def __init__(self, ctx: Context, screen: int | None = None, expand: int = 8, bo_proposals: int = 2,
                 n_init: int | None = None, supernet_steps: int | None = None, proxy_eval: int | None = None,
                 **options: Any):
        super().__init__(ctx, n_init=n_init if n_init is not None else 4, **options)
        self.options.update(screen=screen or SCREEN.get(ctx.fidelity, SCREEN["quick"]), expand=expand,
                            bo_proposals=bo_proposals)
        self.plan = plan_for(ctx.fidelity, supernet_steps, proxy_eval)
        self.pool: dict[str, Entry] = {}
        self.cache: dict[str, tuple[float | None, dict[str, Any] | None]] | None = None
        self.scorer: Any = None
        self.screened = False
        self.initial: list[Entry] | None = None  # the diverse first trials, chosen once

    # --- the proxy ------------------------------------------------------------------------
    def _score(self, items: list[tuple[dict[str, Any], Candidate]]) -> None:
        """Proxy-score candidates not yet in the pool (from the record when it has them)."""
        if self.cache is None:
            self.cache = cached_scores(getattr(self.ctx, "proxy_study", None), RANK_BY)
        todo = [(a, c) for a, c in items if c.key not in self.pool and c.key not in self.cache]
        if todo:
            scorer = self._scorer()
            for i, (a, c) in enumerate(todo):
                self.ctx.status(f"supernet proxy {i + 1}/{len(todo)}")
                r = scorer.score([c])[0]
                record_proxy(getattr(self.ctx, "proxy_study", None), self.ctx.space, c, a, r, self.name,
                             self.ctx.budget)
                self.cache[c.key] = (proxy_value(r.score, r.metrics, RANK_BY) if r.ok else None, a)
        for a, c in items:
            score = self.cache.get(c.key, (None, None))[0]
            if score is not None and math.isfinite(score):
                self.pool[c.key] = (a, c, float(score))

    def _scorer(self) -> Any:
        if self.scorer is None:
            self.scorer = start_scorer(self.ctx, self.name, self.ctx.budget, self.plan)
        return self.scorer

    def _screen(self) -> None:
        if self.screened:
            return
        rng = random.Random(self.ctx.seed)
        space, budget = self.ctx.space, self.ctx.budget
        items = [space.largest_within(budget, rng, tries=100)]
        smallest = space.smallest()
        if smallest is not None:
            items.append(smallest)
        seen = {c.key for _, c in items}
        for _ in range(self.options["screen"] * 20):
            if len(items) >= self.options["screen"]:
                break
            a, c = space.sample(rng, budget, mode="mixed")
            if c.key not in seen:
                seen.add(c.key)
                items.append((a, c))
        self._score(items)
        self.screened = True

    def _expand(self) -> None:
        """Grow the pool: mutations of the standalone front and of the best proxies."""
        parents = self._front_assignments([o for o in self.history if o.status == "complete"
                                           and o.assignment is not None and o.score is not None])
        best = sorted(self.pool.values(), key=lambda e: e[2], reverse=True)[:4]
        parents += [a for a, _, _ in best]
        if not parents:
            return
        rng = random.Random(self.ctx.seed * 7919 + len(self.history))
        cfg = EvolutionConfig(gene_prob=0.15, mutation_prob=0.15)
        items = []
        for _ in range(self.options["expand"] * 20):
            if len(items) >= self.options["expand"]:
                break
            child = mutate(self.ctx.space, rng.choice(parents), cfg, rng)
            cand = self.ctx.space.decode(child)
            if cand is not None and self.ctx.fits(cand) and cand.key not in self.pool and self.ctx.is_new(cand):
                items.append((child, cand))
        self._score(items)

    # --- proposals ------------------------------------------------------------------------
    def ask(self, n: int) -> list[Proposal]:
        """Diverse, promising proxies first; then acquisition maxima over the pool."""
        self._screen()
        done = [o for o in self.history if o.assignment is not None]
        out: list[Proposal] = []
        if len(done) < self.n_init:
            if self.initial is None:
                self.initial = self._diverse(self.n_init - len(done))
            while self.initial and len(out) < n:
                a, c, s = self.initial.pop(0)
                if self.ctx.is_new(c):
                    out.append(self.open_trial(c, a, proxy_value=s))
        if len(out) < n:
            if len(done) >= self.n_init:
                self._expand()
                self._add_bo_proposals(n - len(out), out)
            for a, c, s in self._acquire_pool(n - len(out), out):
                out.append(self.open_trial(c, a, proxy_value=s))
        return out

    def _add_bo_proposals(self, q: int, pending: list[Proposal]) -> None:
        """Proxy-score `mobo`'s next picks (acquisition maxima over the whole space, from the GP on
        the encoding alone) into the pool, `bo_proposals` per trial asked for."""
        k = self.options["bo_proposals"] * q
        if not k:
            return
        in_pool = set(self.pool)
        picks = super()._acquire(k, pending)  # mobo's batch, pending points included
        self._score([(a, c) for a, c in picks if c.key not in in_pool and self.ctx.fits(c)])

    def _untried(self) -> list[Entry]:
        return [e for e in self.pool.values() if self.ctx.is_new(e[1]) and self.ctx.fits(e[1])]

    def _diverse(self, k: int) -> list[Entry]:
        """The best proxy in each of `n_init` log-parameter bins, smallest bin first (then the rest
        by proxy score). Smallest first: a small trained candidate claims the front's area below
        it at once, so the hypervolume rises from the first trial (the set is the same either way)."""
        entries = self._untried()
        if not entries:
            return []
        logs = np.array([math.log1p(self.ctx.space.params(c)) for _, c, _ in entries])
        edges = np.linspace(logs.min(), logs.max() + 1e-9, self.n_init + 1)
        picks: list[Entry] = []
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            inside = [e for e, v in zip(entries, logs, strict=True) if lo <= v < hi]
            if inside:
                picks.append(max(inside, key=lambda e: e[2]))
        rest = sorted((e for e in entries if e not in picks), key=lambda e: e[2], reverse=True)
        return (picks + rest)[:k]

    def _features(self, entries: list[tuple[dict[str, Any], Candidate, float]]) -> np.ndarray:
        """The mobo encoding with the proxy value, scaled to [0, 1] over the pool, inserted before
        the last (params) column."""
        x = self.enc.encode_many([(a, c) for a, c, _ in entries])
        lo, hi = self._proxy_range()
        proxy = np.array([[min(1.0, max(0.0, (s - lo) / max(hi - lo, 1e-9)))] for _, _, s in entries])
        return np.concatenate([x[:, :-1], proxy, x[:, -1:]], axis=1)

    def _acquire_pool(self, q: int, pending: list[Proposal]) -> list[Entry]:
        import torch

        candidates = self._untried()
        obs = [o for o in self.history if o.status == "complete" and o.assignment is not None and o.score is not None]
        if not candidates:
            return []
        if len(obs) < 2:  # nothing to model yet: the best proxies
            return sorted(candidates, key=lambda e: e[2], reverse=True)[:q]
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # small matrices (see mobo)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return self._greedy_batch(q, pending, candidates, obs)
        finally:
            torch.set_num_threads(threads)

    def _greedy_batch(self, q: int, pending: list[Proposal], candidates: list[Entry],
                      obs: list[Observation]) -> list[Entry]:
        import torch

        known = [(o.assignment, o.candidate, self._proxy_of(o.candidate)) for o in obs]
        x = torch.tensor(self._features(known), dtype=torch.double)
        y = torch.tensor([[o.score] for o in obs], dtype=torch.double)
        model = self.fit_model(x, y)
        pend = [(p.assignment, p.candidate, self._proxy_of(p.candidate)) for p in pending if p.assignment is not None]
        xc = torch.tensor(self._features(candidates), dtype=torch.double)
        picks: list[Entry] = []
        for _ in range(q):
            xp = torch.tensor(self._features(pend + picks), dtype=torch.double) if pend or picks else None
            acqf = self.acquisition(model, x, xp)
            with torch.no_grad():
                values = acqf(xc.unsqueeze(1)).numpy()
            for i in np.argsort(-values):
                if candidates[i] not in picks:
                    picks.append(candidates[i])
                    break
        return picks

    def _proxy_of(self, cand: Candidate) -> float:
        entry = self.pool.get(cand.key)
        if entry is not None:
            return entry[2]
        cached = (self.cache or {}).get(cand.key)
        return float(cached[0]) if cached and cached[0] is not None else self._proxy_range()[0]

    def _proxy_range(self) -> tuple[float, float]:
        """The lowest and highest proxy value in the pool (a candidate without one counts as the lowest)."""
        values = [e[2] for e in self.pool.values()]
        return (min(values), max(values)) if values else (0.0, 1.0)

    def close(self) -> None:
        """Free the supernet's worker."""
        if self.scorer is not None:
            self.scorer.close()
            self.scorer = None

    def info(self) -> dict[str, Any]:
        """Settings for run.json."""
        return super().info() | {"supernet": self.plan.__dict__, "screen": self.options["screen"],
                                 "expand": self.options["expand"], "bo_proposals": self.options["bo_proposals"],
                                 "proxy_feature": True}
