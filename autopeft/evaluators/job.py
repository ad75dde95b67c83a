"""The one unit of work: a candidate (or a recipe that finds one) to train at a fidelity with a seed,
and what to score. A worker runs it; a search's trial is one with its `trial` number set.

Plain, torch-free data with the candidate as canonical JSON, so Ray can ship a Job to its actors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from autopeft.evaluators.fidelity import PRESETS, Fidelity
from autopeft.evaluators.result import EvalResult


@dataclass(frozen=True)
class Job:
    """One training of one candidate, and the splits it is scored on."""

    candidate: str  # canonical JSON (`Candidate.to_json`)
    fidelity: Fidelity = field(default_factory=lambda: PRESETS["quick"])
    seed: int = 0
    split: str = "dev"
    report_splits: tuple[str, ...] = ()
    keep_state: bool = False
    # a training recipe that finds its own candidate (AdaLoRA: `evaluators.adalora.Recipe` as JSON);
    # the result's `candidate` is then what it found, and `candidate` here is only its starting point
    recipe: str | None = None
    trial: int | None = None  # the study's trial number, when a search asks
    weights: str | None = None  # the trial's kept weights: report scoring loads them instead of retraining
    # multi-fidelity: continue from this paused training (evaluators/checkpoint.py bytes) instead of
    # starting afresh, and/or hand back a checkpoint where this job's training stops
    resume: bytes | None = field(default=None, repr=False)
    keep_checkpoint: bool = False

    @classmethod
    def of(cls, candidate: Any, fidelity: Fidelity | None = None, seed: int = 0, **kwargs: Any) -> Job:
        """A Job from a Candidate (or its JSON / dict)."""
        from autopeft.methods.candidate import Candidate

        if not isinstance(candidate, Candidate):
            candidate = Candidate.from_json(candidate)
        return cls(candidate.to_json(), fidelity or PRESETS["quick"], seed, **kwargs)

    def parsed(self) -> Any:
        """The candidate as a `Candidate`."""
        from autopeft.methods.candidate import Candidate

        return Candidate.from_json(self.candidate)


# called once per job as each finishes, so a result is recorded before a later job can be lost
OnResult = Callable[[Job, EvalResult], None]
# asked for further jobs whenever a worker is free and none is queued (an empty list: no more), so
# a search hands each free worker its next trial at once instead of waiting for a batch to end
MoreJobs = Callable[[], list[Job]]
