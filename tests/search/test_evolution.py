import random

from autopeft.search.evaluator import SyntheticEvaluator
from autopeft.search.evolution import EvolutionConfig, crossover, evolve, mutate
from autopeft.space.loader import bind_space


def _space(minilm_config):
    return bind_space("noah", minilm_config)


def test_children_mix_their_parents(minilm_config):
    space = _space(minilm_config)
    rng = random.Random(0)
    a, _ = space.sample(rng)
    b, _ = space.sample(rng)
    child = crossover(space, a, b, rng)
    assert all(child[k] in (a[k], b[k]) for k in child)
    assert child != a and child != b  # genes from both: a copy of one parent would pass the line above
    never = mutate(space, a, EvolutionConfig(mutation_prob=0.0, gene_prob=0.0), rng)
    assert never == a
    assert mutate(space, a, EvolutionConfig(mutation_prob=1.0, gene_prob=1.0), rng) != a  # so `==` can fail


def test_evolution_improves_on_its_first_generation_within_budget(minilm_config):
    space = _space(minilm_config)
    synthetic = SyntheticEvaluator()
    budget = 113_566
    cfg = EvolutionConfig(population=12, parents=4, mutations=6, crossovers=6, generations=5)
    firsts = []
    result = evolve(space, budget, lambda batch: [synthetic.score(c) for _, c in batch], random.Random(1), cfg,
                    on_generation=lambda g, s: firsts.append(s[0][0]) if g == 0 else None)
    assert all(space.params(c) <= budget for _, _, c in result)
    assert len({c.key for _, _, c in result}) == len(result)  # each candidate scored once
    assert result[0][0] > firsts[0]
    assert len(result) > 12
