"""What evaluating one candidate gives back (never an exception for a candidate's own failure)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

OK, FAILED = "ok", "failed"


@dataclass
class EvalResult:
    """One candidate trained at one fidelity and seed, scored on one split (plus optional reports)."""

    status: str  # "ok" | "failed"
    metric: str  # the task's metric name (evaluators.metrics.METRICS)
    score: float | None = None  # the value a search ranks by
    metrics: dict[str, float] = field(default_factory=dict)  # every value of the metric
    split: str = "dev"
    seed: int = 0
    fidelity: str = ""
    peft_params: int = 0  # exported PEFT parameters (what the budget counts)
    head_params: int = 0
    train_params: int = 0  # what the optimizer trained (PEFT incl. reparameterisations + head)
    steps: int = 0  # optimizer steps actually taken
    train_loss: float | None = None  # mean loss over the last steps
    wall_s: float = 0.0
    train_s: float = 0.0  # of wall_s, the training steps alone (what kernels change; precision changes scoring too)
    peak_mem_mb: float = 0.0
    mem_kind: str = "rss-rise"  # "cuda" (max allocated) | "rss-rise" (process RSS over the worker's baseline)
    reason: str | None = None  # why it failed
    reports: dict[str, dict[str, float]] = field(default_factory=dict)  # report split -> metric values
    candidate: str = ""  # the candidate's canonical JSON
    precision: str = "fp32"  # what it trained in: fp32, or bf16 autocast (evaluators/precision.py)
    quantize: str = "fp32"  # the backbone's storage: fp32, 4bit or 8bit (evaluators/quantize.py)
    kernels: str = "plain"  # how its branches were computed: plain, fused or triton (methods/kernels/select.py)
    attention: str = "sdpa"  # the backbone's attention kernel: sdpa, or eager under bf16 on a CPU (precision.py)
    state: dict[str, Any] | None = field(default=None, repr=False)  # PEFT + head tensors, when kept
    checkpoint: bytes | None = field(default=None, repr=False)  # the paused training, when asked for
    # each scored split's (labels, predictions) in the order scored: for paired tests over examples
    predictions: dict[str, tuple[Any, Any]] | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """Whether training and scoring completed."""
        return self.status == OK

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (without the tensors)."""
        out = asdict(self)
        out.pop("state")
        out.pop("checkpoint")
        out.pop("predictions")
        return out
