"""The strategy interface: `ask(n)` proposals (trials opened in the study), `tell` observations,
`rebuild` from the record on resume. Strategies never train: the study loop does."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import optuna

from autopeft.methods.candidate import Candidate
from autopeft.search import record
from autopeft.search.record import Observation
from autopeft.space.space import BoundSpace


@dataclass
class Proposal:
    """A candidate to train, with the Optuna trial opened for it."""

    trial: optuna.Trial
    candidate: Candidate
    assignment: dict[str, Any] | None
    recipe: str | None = None  # a training recipe that finds its own candidate (AdaLoRA), as JSON
    fidelity: str | None = None  # its own fidelity (a multi-fidelity rung); None: the search's
    rung: int | None = None  # a multi-fidelity search's rung
    resume_from: int | None = None  # the trial whose checkpoint this one continues
    keep_checkpoint: bool = False  # keep a checkpoint where it stops (a rung below the last)
    seed: int | None = None  # its own training seed (a confirmation's); None: the search's


@dataclass
class Context:
    """What every strategy may read: the space, the budget, the study, and what was already tried."""

    space: BoundSpace
    budget: int
    study: optuna.Study
    fidelity: str
    seed: int = 0
    chance: float = 0.0  # the hypervolume reference score
    seen: set[str] = field(default_factory=set)  # keys of candidates trained, running or failed
    owner: str | None = None  # who opens this search's trials (search/sharing.py)
    # for strategies that screen with a supernet (auto, noah-paper): makes a ProxyScorer from
    # (space, budget or None, ProxyPlan, seed), and the study proxy scores are recorded in
    proxy_factory: Any = None
    proxy_study: optuna.Study | None = None
    on_status: Any = None  # the loop's callback for "what I am doing now" (shown beside the progress bar)

    def status(self, message: str) -> None:
        """Tell the user what the strategy is doing between trials."""
        if self.on_status is not None:
            self.on_status(message)

    def fits(self, candidate: Candidate | None) -> bool:
        """Non-empty and within the budget."""
        return candidate is not None and self.space.params(candidate) <= self.budget

    def is_new(self, candidate: Candidate) -> bool:
        """Not yet tried in this search."""
        return candidate.key not in self.seen


class Strategy(ABC):
    """Base class: proposes feasible, unseen candidates. Subclasses define `ask` (and may extend
    `tell`), and declare what the search must know before it starts (the class attributes)."""

    name: ClassVar[str] = "base"
    default_space: ClassVar[str | None] = None  # the recipe's own space (None: the search's default)
    uses_proxy: ClassVar[bool] = False  # screens with a supernet proxy (the search opens one for it)

    @staticmethod
    def deviations(fidelity: str) -> list[str]:
        """How this search departs from the recipe it names, at `fidelity` (written to run.json)."""
        return []

    def __init__(self, ctx: Context, **options: Any):
        self.ctx = ctx
        self.rng = random.Random(ctx.seed)
        self.options = options
        self.history: list[Observation] = []
        # trials opened and not yet told (with parallel workers the next ask comes while they train):
        # what a model-based strategy must treat as pending points
        self.running: dict[int, Proposal] = {}

    @classmethod
    def trains_baselines(cls, options: dict[str, Any]) -> bool:
        """Whether, with these options, its first trials are the fitting baselines (the best of which
        `--challenge` trains against the pick; search/challenge.py)."""
        return False

    @classmethod
    def sampler(cls, seed: int, options: dict[str, Any]) -> optuna.samplers.BaseSampler:
        """The Optuna sampler the study is opened with (only Optuna strategies use it to propose)."""
        return optuna.samplers.RandomSampler(seed=seed)

    @abstractmethod
    def ask(self, n: int) -> list[Proposal]:
        """Up to `n` proposals (fewer only when the space is exhausted)."""

    def tell(self, observations: list[Observation]) -> None:
        """Learn from finished trials."""
        self.history.extend(observations)
        for o in observations:
            self.running.pop(o.number, None)

    def rebuild(self, history: list[Observation]) -> None:
        """Restore the state from the record of a resumed search."""
        self.tell(history)

    def close(self) -> None:  # noqa: B027 (a hook: most strategies hold nothing)
        """Release what the strategy holds (a supernet's worker); the study loop calls it at the end."""

    def info(self) -> dict[str, Any]:
        """Settings (and deviations from a recipe) for run.json."""
        return {"strategy": self.name} | {k: v for k, v in self.options.items() if _plain(v)}

    # --- helpers --------------------------------------------------------------------------
    def open_trial(self, candidate: Candidate, assignment: dict[str, Any] | None, recipe: str | None = None,
                   fidelity: str | None = None, **extra: Any) -> Proposal:
        """Open a trial with fixed parameters (the strategy's own proposal) and mark it running, at
        the search's fidelity unless `fidelity` names another (a multi-fidelity rung).

        With a `recipe`, `candidate` is where it starts; the trial records the candidate it ends with."""
        if recipe is not None:
            extra["recipe"] = recipe
        attrs = record.start_attrs(candidate, self.ctx.space, self.name, fidelity or self.ctx.fidelity,
                                   owner=self.ctx.owner, **extra)
        trial = record.create_running(self.ctx.study, assignment, self.ctx.space, attrs)
        self.ctx.seen.add(candidate.key)
        prop = Proposal(trial, candidate, assignment, recipe, fidelity)
        self.running[trial.number] = prop
        return prop

    def random_new(self, tries: int = 200) -> tuple[dict[str, Any], Candidate] | None:
        """A random feasible candidate not yet tried (None when none is found)."""
        for _ in range(tries):
            assignment, cand = self.ctx.space.sample(self.rng, self.ctx.budget, mode="mixed")
            if self.ctx.is_new(cand):
                return assignment, cand
        return None


def _plain(v: Any) -> bool:
    return isinstance(v, int | float | str | bool | type(None) | list | tuple | dict)
