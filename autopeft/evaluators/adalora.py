"""AdaLoRA (Zhang et al. 2023) as a peft user runs it, recorded as a LoRA candidate of ours.

One training run with peft's `AdaLoraConfig` on a copy of the task model: every projection the
recipe names starts at `init_r`, the total rank budget falls on AdaLoRA's cubic schedule to its
target, and the final allocation is trained for the last `tfinal` steps. The ranks it kept are
then written as a LoRA candidate (per layer, per projection), its trained P·Λ·Q folded into LoRA's
B·A (exactly: ΔW = B diag(λ) A · α/r), attached to the worker's own model and scored there, so the
point has an exact count, kept weights in our format, and can be exported and retrained like any
other. The recipe is plain JSON (`Recipe.to_json`) so it travels in a Job and sits in the record.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass
from typing import Any, TypedDict

import numpy as np
import torch
from torch import nn

from autopeft.errors import UserError
from autopeft.evaluators.fidelity import HEAD_LR

LORA_SLOTS = ("q", "k", "v", "o", "ffn_in", "ffn_out")
# The schedule as fractions of the trial's steps: peft's own worked example (AdaLoraConfig's
# docstring: tinit 10, tfinal 20 of 100 steps); the paper's GLUE runs prune every ~1% of training.
TINIT, TFINAL, DELTA_T = 0.1, 0.2, 0.01
INIT_R = 12  # peft's default initial rank


@dataclass(frozen=True)
class Recipe:
    """An AdaLoRA run: the PEFT parameters its final allocation may use, and where it starts."""

    target_params: int
    init_r: int = INIT_R
    slots: tuple[str, ...] = LORA_SLOTS
    lr: float | None = None  # None: LoRA's measured default rate (methods/lora/spec.py)
    layers: tuple[int, ...] | None = None  # None: every layer
    method: str = "adalora"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | dict) -> Recipe:
        data = json.loads(text) if isinstance(text, str) else dict(text)
        if data.get("method") != "adalora":
            raise UserError(f"unknown training recipe {data.get('method')!r} (known: adalora)")
        data["slots"] = tuple(data.get("slots", LORA_SLOTS))
        data["layers"] = tuple(data["layers"]) if data.get("layers") is not None else None
        return cls(**data)


class Schedule(TypedDict):
    """AdaLoRA's schedule, in `AdaLoraConfig`'s own argument names."""

    tinit: int
    tfinal: int
    deltaT: int
    total_step: int


def schedule(total_steps: int) -> Schedule:
    """`tinit`, `tfinal`, `deltaT`, `total_step` for a run of `total_steps` (peft needs tinit + tfinal below it)."""
    tinit = max(1, round(TINIT * total_steps))
    tfinal = max(1, round(TFINAL * total_steps))
    if tinit + tfinal >= total_steps:
        raise UserError(f"AdaLoRA needs more than {tinit + tfinal} training steps (got {total_steps})")
    return Schedule(tinit=tinit, tfinal=tfinal, deltaT=max(1, round(DELTA_T * total_steps)),
                    total_step=total_steps)


@dataclass
class Target:
    """One matrix AdaLoRA adapts: its module name, layer and LoRA slot, and the cost of one rank."""

    name: str
    layer: int
    slot: str
    cost: int  # d_in + d_out: what one rank of the exported LoRA costs


def targets(model: nn.Module, slots: tuple[str, ...], layers: tuple[int, ...] | None = None) -> list[Target]:
    """The projections of `slots` in `layers` (all when None), by their module names in `model`."""
    from autopeft.methods.anatomy import resolve
    from autopeft.methods.attach import layers_of, model_config

    anatomy = resolve(model_config(model))
    names = {id(m): n for n, m in model.named_modules()}
    out = []
    for i, layer in enumerate(layers_of(model, anatomy)):
        if layers is not None and i not in layers:
            continue
        for slot in slots:
            paths = anatomy.ffn_in if slot == "ffn_in" else (getattr(anatomy, slot),)
            for path in paths:
                linear = layer.get_submodule(path)
                if not isinstance(linear, nn.Linear):
                    raise UserError(f"AdaLoRA adapts linear projections; {names[id(linear)]} is a "
                                    f"{type(linear).__name__}")
                out.append(Target(names[id(linear)], i, slot, linear.in_features + linear.out_features))
    return out


def rank_budget(recipe: Recipe, tgts: list[Target]) -> int:
    """AdaLoRA's total final rank (its `target_r` times the matrices) that spends `target_params` at
    the matrices' mean cost; the allocation is trimmed afterwards if it lands on dearer ones."""
    mean_cost = sum(t.cost for t in tgts) / len(tgts)
    return max(1, int(recipe.target_params // mean_cost))


def initial_rank(recipe: Recipe, total_ranks: int, matrices: int) -> int:
    """`init_r`, raised where the target's average rank reaches it: AdaLoRA prunes from above its
    target (peft's defaults start 1.5x above: init_r 12 for target_r 8)."""
    return max(recipe.init_r, math.ceil(1.5 * total_ranks / matrices))


def candidate_of(ranks: dict[str, int], tgts: list[Target], num_layers: int):
    """Our LoRA candidate for per-module ranks (a slot naming two modules, a gated FFN's gate and up,
    takes the larger rank: the other is zero-padded)."""
    from autopeft.methods.candidate import Candidate

    layers: list[dict[str, dict[str, int]]] = [{} for _ in range(num_layers)]
    for t in tgts:
        r = ranks.get(t.name, 0)
        if r:
            lora = layers[t.layer].setdefault("lora", {})
            lora[t.slot] = max(lora.get(t.slot, 0), r)
    return Candidate(layers, {"lora": {"alpha_ratio": 1.0}} if any(layers) else {})


class AdaLoRARun:
    """peft's AdaLoRA on a copy of `model`; the copy is thrown away, `model` is never touched."""

    def __init__(self, model: nn.Module, recipe: Recipe, total_steps: int, lr: float, head_lr: float):
        from peft import AdaLoraConfig, get_peft_model

        from autopeft.evaluators.trainer import head_modules
        from autopeft.methods.anatomy import resolve
        from autopeft.methods.attach import layers_of, model_config

        self.recipe = recipe
        self.num_layers = len(layers_of(model, resolve(model_config(model))))
        self.targets = targets(model, recipe.slots, recipe.layers)
        self.total_ranks = rank_budget(recipe, self.targets)
        self.init_r = initial_rank(recipe, self.total_ranks, len(self.targets))
        sched = schedule(total_steps)
        self.final_step = sched["total_step"] - sched["tfinal"]
        head = {n for n, m in model.named_children() if any(m is h for h in head_modules(model))}
        work = copy.deepcopy(model)
        config = AdaLoraConfig(
            target_modules=[t.name for t in self.targets], init_r=self.init_r,
            target_r=max(1, round(self.total_ranks / len(self.targets))),
            # alpha = init_r makes AdaLoRA's scale alpha/ranknum 1, as our LoRA's alpha/r
            lora_alpha=self.init_r, lora_dropout=0.0, **sched)
        self.peft = get_peft_model(work, config)
        # peft's target_r is an integer average per matrix; a budget below one rank per matrix (small
        # budgets, where most matrices get none) needs the allocator's total set directly
        self.allocator.target_bgt = self.total_ranks
        for name, p in self.inner.named_parameters():
            if name.split(".")[0] in head:
                p.requires_grad_(True)
        self.head = head
        lora = [p for n, p in self.peft.named_parameters() if "lora_" in n]
        heads = [p for n, p in self.inner.named_parameters() if n.split(".")[0] in head]
        self.optimizer = torch.optim.AdamW([{"params": lora, "lr": lr, "name": "lora"},
                                            {"params": heads, "lr": head_lr, "name": "head"}], weight_decay=0.0)
        self.trimmed = 0

    @property
    def tuner(self) -> Any:
        """peft's AdaLoraModel (its `update_and_allocate` and allocator are not typed by peft)."""
        return self.peft.base_model

    @property
    def inner(self) -> nn.Module:
        """The adapted copy of the task model, under peft's wrappers."""
        return self.peft.get_base_model()

    @property
    def allocator(self) -> Any:
        return self.tuner.rankallocator

    @property
    def config(self) -> Any:
        return self.peft.peft_config["default"]

    def after_step(self, step: int) -> None:
        """peft's `update_and_allocate`, every step; the final allocation is fitted to the budget."""
        scores = self._triplet_scores() if step == self.final_step else None
        self.tuner.update_and_allocate(step)
        if scores is not None:
            self._fit(scores)

    def _triplet_scores(self) -> dict[str, torch.Tensor]:
        """Each singular value's importance, as peft's allocator ranks them (E's score plus the mean
        scores of its row of A and column of B). Taken before the final allocation, which resets them."""
        al, out = self.allocator, {}
        for n, _ in self.inner.named_parameters():
            if "lora_E.default" in n and n in al.exp_avg_ipt:
                a, b = n.replace("lora_E", "lora_A"), n.replace("lora_E", "lora_B")
                ab = torch.cat([al._element_score(a).mean(dim=1, keepdim=True),
                                al._element_score(b).mean(dim=0).view(-1, 1)], dim=1)
                out[n] = al._combine_ipt(al._element_score(n), ab)
        return out

    def _fit(self, scores: dict[str, torch.Tensor]) -> None:
        """Drop the least important kept ranks until the LoRA candidate fits `target_params`
        (the REFERENCE recipe: a rank budget can land above a parameter budget)."""
        from autopeft.methods.count import count

        pattern = {k: list(v) for k, v in self.config.rank_pattern.items()}
        key_of = {self._module(k): k for k in pattern}
        kept = sorted((float(scores[n][i]), n, i) for n in scores
                      for i, on in enumerate(pattern[key_of[self._module(n)]]) if on)
        while kept and count(self.candidate_from(pattern), self.inner).peft_params \
                > self.recipe.target_params:
            _, n, i = kept.pop(0)
            pattern[key_of[self._module(n)]][i] = False
            self.trimmed += 1
        self.config.rank_pattern = pattern
        self.allocator.mask_using_rank_pattern(self.inner, pattern)

    @staticmethod
    def _module(param_name: str) -> str:
        """`base_model.model.bert.encoder...query.lora_E.default` -> `bert.encoder...query`."""
        name = param_name.removeprefix("base_model.model.")
        return name.split(".lora_E")[0]

    def ranks(self, pattern: dict[str, Any] | None = None) -> dict[str, int]:
        """Kept ranks per target module name."""
        pattern = self.config.rank_pattern if pattern is None else pattern
        if not pattern:
            raise RuntimeError("AdaLoRA has no rank allocation yet")
        return {self._module(k): int(sum(bool(x) for x in v)) for k, v in pattern.items()}

    def candidate_from(self, pattern: dict[str, Any] | None = None):
        return candidate_of(self.ranks(pattern), self.targets, self.num_layers)

    @torch.no_grad()
    def export_to(self, model: nn.Module, attached: Any) -> None:
        """Copy the kept ranks into our LoRA modules attached to `model` (A ← λ·A·scale, B ← B) and the head."""
        from autopeft.methods.lora.module import LoRA

        inner = self.inner
        pattern = self.config.rank_pattern
        masks = {self._module(k): torch.tensor([bool(x) for x in v]) for k, v in pattern.items()}
        for t in self.targets:
            keep = masks[t.name]
            if not keep.any():
                continue
            # peft's SVDLinear: its lora_* containers are keyed by adapter name (typed loosely by peft)
            src: Any = inner.get_submodule(t.name)
            scale = float(src.scaling["default"] / (src.ranknum["default"] + 1e-5))
            a = src.lora_A["default"][keep] * src.lora_E["default"][keep] * scale
            b = src.lora_B["default"][:, keep]
            dst = model.get_submodule(f"{t.name}.autopeft_lora")
            if not isinstance(dst, LoRA):
                raise RuntimeError(f"{t.name} carries no LoRA of ours to copy AdaLoRA's ranks into")
            dst.A.weight.zero_()
            dst.B.weight.zero_()
            dst.A.weight[: a.shape[0]] = a / dst.scaling
            dst.B.weight[:, : b.shape[1]] = b
        for name in self.head:
            getattr(model, name).load_state_dict(getattr(inner, name).state_dict())


def train_and_score_adalora(model: nn.Module, task: Any, recipe: Recipe, fidelity: Any, seed: int = 0,
                            device: Any = "cpu", split: str = "dev", report_splits: tuple[str, ...] = (),
                            keep_state: bool = False, head_lr: float | None = None, pad_to: int | None = None,
                            group_by_length: bool = True, progress: Any = None, precision: str = "fp32") -> Any:
    """Run AdaLoRA at `fidelity`, then score the LoRA candidate it found (the result's `candidate`),
    trained and scored in `precision` as every other trial of the search (bf16: autocast, fp32 weights).

    Like `trainer.train_and_score`, a failure comes back as a `failed` result, never raised."""
    from autopeft.evaluators import trainer as tr
    from autopeft.evaluators.memory import PeakMemory
    from autopeft.evaluators.precision import attention_of
    from autopeft.evaluators.result import FAILED, EvalResult
    from autopeft.methods.attach import apply
    from autopeft.methods.registry import METHODS

    start = time.perf_counter()
    result = EvalResult(status=FAILED, metric=task.spec.metric, split=split, seed=seed, fidelity=fidelity.label(),
                        candidate="", attention=attention_of(model), precision=precision)
    attached = run = None
    memory = PeakMemory(device)
    try:
        with memory:
            tr.seed_everything(seed)
            tr.reset_head(model)
            total = fidelity.total_steps(len(tr.train_pool(task, fidelity)))
            run = AdaLoRARun(model, recipe, total, recipe.lr or METHODS["lora"].default_lr, head_lr or HEAD_LR)
            run.peft.to(device)
            tr.train_loop(run.peft, task, run.optimizer, fidelity, seed, device, pad_to, group_by_length, result,
                          progress, after_step=run.after_step, precision=precision)
            cand = run.candidate_from()
            result.candidate = cand.to_json()
            if cand.is_empty():
                raise tr.CandidateFailed("AdaLoRA kept no rank within the budget")
            attached = apply(model, cand)
            model.to(device)
            run.export_to(model, attached)
            result.peft_params, result.head_params = attached.peft_params, attached.head_params
            result.train_params = attached.train_params + attached.head_params
            extra = {"adalora_trimmed_ranks": float(run.trimmed),
                     "adalora_conversion_diff": _conversion_diff(run, model, task, device)}
            tr.score_trained(result, model, task, attached, fidelity, split, report_splits, keep_state, device,
                             extra, precision)
    except UserError as exc:
        result.reason = str(exc)
    except Exception as exc:  # a candidate's failure must never stop a search
        result.reason = tr.failure_reason(exc)
    finally:
        if attached is not None:
            attached.detach()
        model.zero_grad(set_to_none=True)
        del run
    result.peak_mem_mb, result.mem_kind = round(memory.peak_mb, 1), memory.kind
    result.wall_s = round(time.perf_counter() - start, 3)
    return result


@torch.no_grad()
def _conversion_diff(run: AdaLoRARun, model: nn.Module, task: Any, device: Any) -> float:
    """Largest logit difference between peft's AdaLoRA model and our LoRA copy on a few dev examples
    (the conversion is exact up to rounding; recorded so a broken one shows)."""
    from autopeft.evaluators.batches import collate

    split = task.splits["dev"]
    index = np.arange(min(16, len(split)))
    batch = {k: v.to(device) for k, v in collate(task, split, index).items() if k != "labels"}
    model.eval()
    run.peft.eval()
    try:
        ours = model(**batch).logits.float()
        theirs = run.peft(**batch).logits.float()
    finally:
        model.train()
    diff = float((ours - theirs).abs().max())
    return diff if math.isfinite(diff) else float("inf")
