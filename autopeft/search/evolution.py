"""Evolutionary search over a space's genes, as NOAH runs it on a supernet (after AutoFormer):
keep the top `parents`, make `mutations` children by resampling genes and `crossovers` by
mixing two parents gene by gene, reject what is over the budget or already seen, repeat."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autopeft.methods.candidate import Candidate
from autopeft.space.space import BoundSpace

Scored = tuple[float, dict[str, Any], Candidate]


@dataclass(frozen=True)
class EvolutionConfig:
    """NOAH's settings by default: 50 per generation, top 10 kept, 25 + 25 children, 15 generations."""

    population: int = 50
    parents: int = 10
    mutations: int = 25
    crossovers: int = 25
    generations: int = 15
    mutation_prob: float = 0.2  # for depth and global genes (AutoFormer's m_prob)
    gene_prob: float = 0.4  # for every other gene (AutoFormer's s_prob)
    max_tries: int = 20  # draws per wanted child before giving up (NOAH: 10x the number wanted)


def mutate(space: BoundSpace, parent: dict[str, Any], cfg: EvolutionConfig, rng: random.Random) -> dict[str, Any]:
    """A child: each gene resampled with its probability."""
    child = dict(parent)
    for g in space.genes:
        p = cfg.mutation_prob if g.kind in ("depth", "global") else cfg.gene_prob
        if rng.random() < p:
            child[g.name] = rng.choice(g.choices)
    return child


def crossover(space: BoundSpace, a: dict[str, Any], b: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A child taking each gene from either parent with equal chance."""
    return {g.name: (a if rng.random() < 0.5 else b)[g.name] for g in space.genes}


def evolve(space: BoundSpace, budget: int, score: Callable[[list[tuple[dict[str, Any], Candidate]]], list[float]],
           rng: random.Random, cfg: EvolutionConfig = EvolutionConfig(),
           on_generation: Callable[[int, list[Scored]], None] | None = None) -> list[Scored]:
    """Run the evolution; returns every scored candidate, best first."""
    seen: set[str] = set()
    scored: list[Scored] = []

    def fresh(assignment: dict[str, Any]) -> Candidate | None:
        cand = space.decode(assignment)
        if cand is None or cand.key in seen or space.params(cand) > budget:
            return None
        return cand

    def add(batch: list[tuple[dict[str, Any], Candidate]]) -> None:
        for (a, c), s in zip(batch, score(batch), strict=True):
            scored.append((s, a, c))

    population: list[tuple[dict[str, Any], Candidate]] = []
    for _ in range(cfg.population * cfg.max_tries):
        if len(population) >= cfg.population:
            break
        a, c = space.sample(rng, budget)
        if c.key not in seen:
            seen.add(c.key)
            population.append((a, c))
    add(population)
    for gen in range(cfg.generations):
        scored.sort(key=lambda t: t[0], reverse=True)
        if on_generation:
            on_generation(gen, scored)
        top = [(a, c) for _, a, c in scored[: cfg.parents]]
        if not top:
            break
        children: list[tuple[dict[str, Any], Candidate]] = []
        for wanted, kind in ((cfg.mutations, "mutation"), (cfg.crossovers, "crossover")):
            made = 0
            for _ in range(wanted * cfg.max_tries):
                if made >= wanted:
                    break
                if kind == "mutation":
                    child = mutate(space, rng.choice(top)[0], cfg, rng)
                else:
                    child = crossover(space, rng.choice(top)[0], rng.choice(top)[0], rng)
                cand = fresh(child)
                if cand is not None:
                    seen.add(cand.key)
                    children.append((child, cand))
                    made += 1
        if not children:
            break
        add(children)
    scored.sort(key=lambda t: t[0], reverse=True)
    return scored
