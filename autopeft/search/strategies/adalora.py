"""`adalora`: what a peft user switches on instead of searching, given a front of its own.

Each AdaLoRA trial is one peft AdaLoRA run (`evaluators/adalora.py`) whose final allocation must
fit a share of the budget (by default all of it, then 1/2, 1/4, 1/8, ...); the trial records the
LoRA candidate AdaLoRA ended with, so the point has an exact count and kept weights like any other.
After each, the same allocation is trained again as plain LoRA (from scratch, our schedule): the
pair says whether a gain comes from where AdaLoRA put the ranks or from how it trained them.
The space must be LoRA-only (the `lora` preset by default); its slots and layers are the matrices
AdaLoRA starts on.
"""

from __future__ import annotations

from typing import Any

from autopeft.errors import UserError
from autopeft.methods.candidate import Candidate
from autopeft.search.record import Observation
from autopeft.search.strategies.base import Context, Proposal, Strategy

# shares of the budget: the four first, then finer ones for longer runs
FRACTIONS = (1.0, 0.5, 0.25, 0.125, 0.0625, 0.75, 0.375, 0.03125)


class AdaLoRAStrategy(Strategy):
    """AdaLoRA at several budget shares, each followed by plain LoRA on the allocation it found."""

    name = "adalora"
    default_space = "lora"

    def __init__(self, ctx: Context, fractions: list[float] | tuple[float, ...] = FRACTIONS, init_r: int | None = None,
                 retrain: bool = True, lr: float | None = None, **options: Any):
        from autopeft.evaluators.adalora import INIT_R

        super().__init__(ctx, fractions=list(fractions), init_r=init_r or INIT_R, retrain=retrain, lr=lr, **options)
        self.slots, self.layers = _lora_matrices(ctx)
        self.init_r = init_r or INIT_R
        smallest = ctx.space.min_params()
        self.targets = [t for t in dict.fromkeys(int(f * ctx.budget) for f in fractions) if t >= smallest]
        self.started: set[int] = set()  # target_params of AdaLoRA trials opened
        self.retrained: set[int] = set()  # AdaLoRA trial numbers whose allocation was trained as plain LoRA
        self.pending: list[tuple[int, Candidate]] = []

    @staticmethod
    def deviations(fidelity: str) -> list[str]:
        """Where these runs differ from peft's AdaLoRA defaults and the paper's recipe."""
        return [
            "learning rate: LoRA's measured default (methods/lora/spec.py), not the paper's 5e-4-1e-3 for "
            f"thousands of steps, since trials here are short ({fidelity})",
            "schedule from the trial's steps: tinit 10%, tfinal 20%, deltaT 1% (peft's own worked example)",
            "target_r is set through the allocator's total rank so the final LoRA fits a parameter budget; "
            "an allocation that still lands above it loses its least important ranks before the final phase",
        ]

    def recipe(self, target: int) -> str:
        from autopeft.evaluators.adalora import Recipe

        return Recipe(target, self.init_r, self.slots, self.options.get("lr"), tuple(self.layers)).to_json()

    def start_candidate(self) -> Candidate:
        """Where AdaLoRA starts: `init_r` on every matrix (recorded until the trial names what it found)."""
        layers = [{"lora": {s: self.init_r for s in self.slots}} if i in self.layers else {}
                  for i in range(self.ctx.space.dims.num_layers)]
        return Candidate(layers, {"lora": {"alpha_ratio": 1.0}})

    def ask(self, n: int) -> list[Proposal]:
        """Plain-LoRA retrains of allocations found, then AdaLoRA at the next budget share."""
        out: list[Proposal] = []
        while len(out) < n:
            if self.pending:
                number, cand = self.pending.pop(0)
                self.retrained.add(number)
                out.append(self.open_trial(cand, None, allocation_of=number,
                                           origin=f"plain LoRA with the allocation AdaLoRA found in trial {number}"))
                continue
            todo = [t for t in self.targets if t not in self.started]
            if not todo:
                break
            target = todo[0]
            self.started.add(target)
            out.append(self.open_trial(self.start_candidate(), None, recipe=self.recipe(target),
                                       origin=f"AdaLoRA within {target:,} PEFT parameters "
                                              f"({target / self.ctx.budget:.3g} of the budget)"))
        return out

    def tell(self, observations: list[Observation]) -> None:
        """Queue each completed AdaLoRA trial's allocation for a plain-LoRA retrain."""
        super().tell(observations)
        if not self.options.get("retrain", True):
            return
        attrs = self._attrs()
        for o in observations:
            a = attrs.get(o.number, {})
            if o.status == "complete" and a.get("recipe") and o.number not in self.retrained:
                self.pending.append((o.number, o.candidate))

    def rebuild(self, history: list[Observation]) -> None:
        """From the record: budget shares already run and allocations already retrained."""
        from autopeft.evaluators.adalora import Recipe

        for a in self._attrs().values():
            if a.get("recipe"):
                self.started.add(Recipe.from_json(a["recipe"]).target_params)
            if a.get("allocation_of") is not None:
                self.retrained.add(int(a["allocation_of"]))
        self.tell(history)

    def _attrs(self) -> dict[int, dict[str, Any]]:
        return {t.number: t.user_attrs for t in self.ctx.study.get_trials(deepcopy=False)}

    def info(self) -> dict[str, Any]:
        return super().info() | {"targets": self.targets, "slots": list(self.slots), "layers": self.layers}


def _lora_matrices(ctx: Context) -> tuple[tuple[str, ...], list[int]]:
    """The LoRA slots and layers of the space's largest candidate (AdaLoRA starts on all of them)."""
    top = ctx.space.decode({g.name: g.largest() for g in ctx.space.genes})
    if top is None or set(top.methods) != {"lora"}:
        raise UserError(f"--strategy adalora allocates LoRA ranks only; space {ctx.space.name!r} has "
                        f"{', '.join(sorted(top.methods)) if top else 'nothing'}: use --space lora")
    slots = sorted({s for layer in top.layers for s in layer.get("lora", {})},
                   key=lambda s: ("q", "k", "v", "o", "ffn_in", "ffn_out").index(s))
    layers = [i for i, layer in enumerate(top.layers) if layer.get("lora")]
    return tuple(slots), layers
