"""Training a weight-sharing supernet once, and scoring candidates with its inherited weights.

Each step trains the sandwich (the largest feasible candidate, the smallest, and random ones
within the budget, gradients accumulated on one batch, as BigNAS/OFA do); a proxy score is a
candidate's dev metric with the shared weights (optionally after a few steps of its own).
Checkpoints are safetensors (weights and AdamW moments) plus a JSON of the step, so a search
that is killed resumes the supernet where it stopped."""

from __future__ import annotations

import contextlib
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from autopeft.errors import UserError
from autopeft.evaluators.batches import collate, train_batches
from autopeft.evaluators.encoded import EncodedTask
from autopeft.evaluators.fidelity import HEAD_LR
from autopeft.evaluators.precision import attention_of, precision_autocast, set_attention, use_attention
from autopeft.evaluators.result import FAILED, OK, EvalResult
from autopeft.evaluators.tasks.spec import REGRESSION
from autopeft.evaluators.trainer import (
    MAX_GRAD_NORM,
    build_optimizer,
    linear_schedule,
    reset_head,
    score_split,
    seed_everything,
    subset,
)
from autopeft.methods.candidate import Candidate
from autopeft.space.space import BoundSpace
from autopeft.supernet import Supernet

FIDELITY = "supernet"  # how proxy-scored trials are marked in the record


@dataclass(frozen=True)
class SupernetPlan:
    """How long and how to train the supernet."""

    steps: int = 300
    batch: int = 32
    n_random: int = 1  # random sub-networks per step beside the largest and smallest
    sampling: str = "sandwich"  # or "random": one uniformly random sub-network per step (NOAH)
    warmup: float = 0.06
    checkpoint_every: int = 50
    eval: int = 500  # dev examples a proxy score uses
    head_lr: float = HEAD_LR
    # proxy scores run under bfloat16 autocast where the device has fast bf16 (faster on the 2-core
    # CPU, the dev loss unchanged: experiments/supernet/README.md, "Cost"); a screening signal,
    # never a reported score
    proxy_dtype: str = "bfloat16"
    # and so does the supernet's training (forward under autocast, fp32 weights and AdamW
    # moments): faster per step on the 2-core CPU with the same proxies (experiments/supernet/
    # README.md, "Training the supernet under bf16 autocast")
    train_dtype: str = "bfloat16"


def supernet_precision(device: Any, dtype: str) -> str:
    """`bf16` where the supernet's `dtype` is bfloat16 and the device does bf16 fast, else `fp32`."""
    kind = torch.device(device).type
    if dtype != "bfloat16":
        return "fp32"
    if kind == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    if kind == "cpu" and torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return "bf16"
    return "fp32"


def proxy_precision(device: Any, dtype: str) -> contextlib.AbstractContextManager:
    """bfloat16 autocast for the supernet (its training and proxy scores) where the device does
    bf16 fast; float32 elsewhere, whatever `--precision` says: the proxy is a screening signal."""
    return precision_autocast(supernet_precision(device, dtype), device)


class SupernetTrainer:
    """A supernet on a loaded task model: `train()` it, then `proxy(candidate)` many candidates."""

    def __init__(self, model: torch.nn.Module, task: EncodedTask, space: BoundSpace, budget: int | None,
                 plan: SupernetPlan = SupernetPlan(), seed: int = 0, device: Any = "cpu",
                 checkpoint_dir: Path | None = None, kernels: str = "plain", attention: str = "auto"):
        from autopeft.methods.kernels.fuse import fuse

        self.model, self.task, self.space, self.budget = model, task, space, budget
        self.plan, self.seed, self.device = plan, seed, device
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        seed_everything(seed)
        reset_head(model)
        # the attention kernel of its training precision (eager under bf16 on the CPU) or the one the
        # user asked for (`--attention`, as every trial honours it), chosen before the supernet routes
        # attention through the prefix-aware function of the same kernel
        self._backbone_attention = attention_of(model)
        self.attention = use_attention(model, supernet_precision(device, plan.train_dtype), device, attention)
        self.net = Supernet(model, space)
        # `kernels` (resolved: plain, fused or triton) as a standalone trial computes its branches;
        # the fused hooks read each module's active size, so one fused supernet serves every
        # sub-network (tests/methods/test_kernels.py checks them against the plain hooks)
        self.kernels = kernels
        self.fused_linears = fuse(self.net.peft, kernels)
        model.to(device)
        self.largest = space.largest_within(budget, random.Random(seed))[1]
        smallest = space.smallest()
        if smallest is None:
            raise UserError(f"space {space.name!r} has no candidate")
        self.smallest = smallest[1]
        self.optimizer = build_optimizer(self.net.peft, plan.head_lr)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, linear_schedule(plan.steps, int(plan.steps * plan.warmup))
        )
        self.step = 0
        self.train_wall_s = 0.0
        if self.checkpoint_dir and (self.checkpoint_dir / "supernet.json").exists():
            self.load()

    # --- training -------------------------------------------------------------------------
    def sandwich(self, step: int) -> list[Candidate]:
        """Step `step`'s sub-networks: largest feasible, smallest, and `n_random` random feasible
        (drawn from a generator seeded by the step, so a resumed run draws what a straight one would);
        with `sampling="random"`, one uniformly random sub-network."""
        rng = random.Random(self.seed * 1_000_003 + step)
        if self.plan.sampling == "random":  # NOAH: one sub-network per batch, each gene uniform
            return [self.space.sample(rng, self.budget, mode="uniform")[1]]
        randoms = [self.space.sample(rng, self.budget)[1] for _ in range(self.plan.n_random)]
        return [self.largest, self.smallest, *randoms]

    def train(self, steps: int | None = None, on_step: Any = None) -> None:
        """Train up to `steps` (default: the plan's total), checkpointing as it goes."""
        target = min(self.plan.steps, steps if steps is not None else self.plan.steps)
        train = self.task.splits["train"]
        batches = train_batches(train.lengths, self.plan.batch, np.random.default_rng(self.seed))
        for _ in range(self.step):  # a resumed run continues the same batch sequence
            next(batches)
        params = self.net.parameters()
        self.model.train()
        start = time.perf_counter()
        while self.step < target:
            batch = {k: v.to(self.device) for k, v in collate(self.task, train, next(batches)).items()}
            subnets = self.sandwich(self.step)
            for cand in subnets:
                self.net.activate(cand)
                with proxy_precision(self.device, self.plan.train_dtype):
                    loss = self.model(**batch).loss.float() / len(subnets)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"supernet loss became {float(loss)} at step {self.step + 1}")
                loss.backward()
            torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
            self.optimizer.step()
            self.schedule.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.step += 1
            if on_step:
                on_step(self.step, target)
            if self.checkpoint_dir and (self.step % self.plan.checkpoint_every == 0 or self.step == target):
                self.train_wall_s += time.perf_counter() - start
                start = time.perf_counter()
                self.save()
        self.train_wall_s += time.perf_counter() - start

    # --- scoring --------------------------------------------------------------------------
    def proxy(self, candidate: Candidate, finetune_steps: int = 0, split: str = "dev") -> EvalResult:
        """The candidate's metric with inherited weights (after `finetune_steps` of its own, undone after)."""
        start = time.perf_counter()
        result = EvalResult(status=FAILED, metric=self.task.spec.metric, split=split, seed=self.seed,
                            fidelity=FIDELITY if not finetune_steps else f"{FIDELITY}+{finetune_steps}",
                            candidate=candidate.to_json())
        try:
            count = self.space.count(candidate)
            result.peft_params, result.head_params = count.peft_params, count.head_params
            result.train_params = count.train_params + count.head_params
            self.net.activate(candidate)
            saved = self._finetune(finetune_steps) if finetune_steps else None
            regression = self.task.spec.problem_type == REGRESSION
            with proxy_precision(self.device, self.plan.proxy_dtype):
                values = score_split(self.model, self.task,
                                     subset(self.task.splits[split], self.plan.eval, regression), self.device)
            if saved is not None:
                with torch.no_grad():
                    for p, s in zip(self.net.parameters(), saved, strict=True):
                        p.copy_(s)
            result.metrics, result.score, result.status = values, values["score"], OK
            result.steps = finetune_steps
        except UserError as exc:
            result.reason = str(exc)
        except Exception as exc:  # a candidate's failure is recorded, never raised
            result.reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        result.wall_s = time.perf_counter() - start
        return result

    def _finetune(self, steps: int) -> list[torch.Tensor]:
        saved = [p.detach().clone() for p in self.net.parameters()]
        train = self.task.splits["train"]
        batches = train_batches(train.lengths, self.plan.batch, np.random.default_rng(self.seed))
        # the groups' base rates: after training, the supernet's schedule has decayed them to 0.
        # Warmed up over the first quarter, then decayed: fresh AdamW moments make the first steps
        # full-size, and 20 such steps at the base rate once wrecked a converged supernet's ranking
        # (experiments/supernet/README.md, "Rank correlation")
        opt = torch.optim.AdamW([{"params": g["params"], "lr": base}
                                 for g, base in zip(self.optimizer.param_groups, self.schedule.base_lrs, strict=True)])
        schedule = torch.optim.lr_scheduler.LambdaLR(opt, linear_schedule(steps, max(1, steps // 4)))
        self.model.train()
        for _ in range(steps):
            batch = {k: v.to(self.device) for k, v in collate(self.task, train, next(batches)).items()}
            with proxy_precision(self.device, self.plan.train_dtype):
                loss = self.model(**batch).loss.float()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), MAX_GRAD_NORM)
            opt.step()
            schedule.step()
            opt.zero_grad(set_to_none=True)
        return saved

    # --- checkpoints ----------------------------------------------------------------------
    def save(self) -> None:
        """Weights and AdamW moments as safetensors, the step as JSON (written last: a checkpoint
        is complete only once its JSON names it)."""
        assert self.checkpoint_dir is not None
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        names = {id(p): n for n, p in self.model.named_parameters()}
        tensors = {}
        for p in self.net.parameters():
            name = names[id(p)]
            tensors[f"param/{name}"] = p.detach().cpu().contiguous()
            state = self.optimizer.state.get(p, {})
            for key in ("exp_avg", "exp_avg_sq"):
                if key in state:
                    tensors[f"{key}/{name}"] = state[key].detach().cpu().contiguous()
            if "step" in state:
                tensors[f"step/{name}"] = torch.as_tensor(state["step"], dtype=torch.float32).reshape(1)
        tmp = self.checkpoint_dir / "supernet.safetensors.tmp"
        save_file(tensors, str(tmp))
        tmp.replace(self.checkpoint_dir / "supernet.safetensors")
        meta = {"step": self.step, "steps": self.plan.steps, "train_wall_s": self.train_wall_s, "seed": self.seed,
                "space": self.space.name, "largest": self.largest.to_dict(), "smallest": self.smallest.to_dict()}
        (self.checkpoint_dir / "supernet.json").write_text(json.dumps(meta, indent=2))

    def load(self) -> None:
        """Restore weights, AdamW moments and the step from the checkpoint directory."""
        assert self.checkpoint_dir is not None
        meta = json.loads((self.checkpoint_dir / "supernet.json").read_text())
        tensors = load_file(str(self.checkpoint_dir / "supernet.safetensors"))
        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for key, value in tensors.items():
                kind, name = key.split("/", 1)
                p = params[name]
                if kind == "param":
                    p.copy_(value)
                elif kind == "step":
                    self.optimizer.state[p]["step"] = value.reshape(())
                else:
                    self.optimizer.state[p][kind] = value.to(p.device)
        self.step = int(meta["step"])
        self.train_wall_s = float(meta.get("train_wall_s", 0.0))
        self.schedule.last_epoch = self.step  # continue the warm-up/decay where it stopped
        for group, base, factor in zip(self.optimizer.param_groups, self.schedule.base_lrs,
                                       self.schedule.lr_lambdas, strict=True):
            group["lr"] = base * factor(self.step)

    def close(self) -> None:
        """Take the supernet off the model (the worker's backbone is as it was)."""
        self.net.detach()
        set_attention(self.model, self._backbone_attention)
