"""Train one candidate on a loaded task model at a fidelity, score it, and take it off again.

Never raises for the candidate's own failure (NaN/inf loss, an exception, out of memory): the
result says `failed` with the reason, and the model is left as the backbone it was.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from autopeft.evaluators import metrics
from autopeft.evaluators.batches import collate, eval_batches, train_batches
from autopeft.evaluators.encoded import EncodedSplit, EncodedTask
from autopeft.evaluators.fidelity import HEAD_LR, Fidelity
from autopeft.evaluators.memory import PeakMemory
from autopeft.evaluators.result import FAILED, OK, EvalResult
from autopeft.evaluators.tasks.spec import REGRESSION
from autopeft.evaluators.tasks.splits import SPLIT_SEED, stratified_indices

MAX_GRAD_NORM = 1.0
# Examples per evaluation batch. Batches are sorted by length, but a large one still pads its
# shorter members: on the 2-core CPU 32 scores faster than 128 (experiments/supernet/README.md,
# "Cost"); a GPU wants wide batches.
EVAL_BATCH = {"cpu": 32, "cuda": 128}
LOSS_WINDOW = 20  # steps averaged into the reported train loss
Progress = Callable[[int, int, float], None]  # (step, total steps, loss), called after each step


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA) so a candidate's run is reproducible."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def head_modules(model: nn.Module) -> list[nn.Module]:
    """The task model's modules outside the backbone (the head a task adds)."""
    return [m for _, m in model.named_children() if m is not model.base_model]


@torch.no_grad()
def reset_head(model: nn.Module) -> None:
    """Re-initialise the head from the current RNG, so a reused worker matches a fresh load."""
    std = float(getattr(model.config, "initializer_range", 0.02))
    for head in head_modules(model):
        for module in head.modules():
            if isinstance(module, nn.Linear):
                module.weight.normal_(0.0, std)
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.LayerNorm):
                module.weight.fill_(1.0)
                module.bias.zero_()


def subset(split: EncodedSplit, size: int | None, regression: bool) -> EncodedSplit:
    """A fixed (seed-independent) stratified subset, so every candidate is scored on the same examples."""
    if size is None or size >= len(split):
        return split
    return split.select(stratified_indices(split.labels, size, SPLIT_SEED, regression))


def build_optimizer(attached: Any, head_lr: float) -> torch.optim.Optimizer:
    """AdamW with one parameter group per method at its own rate, and the head at `head_lr`."""
    rates = attached.learning_rates()
    groups = []
    for name, params in attached.param_groups().items():
        params = [p for p in params if p.requires_grad]
        if params:
            groups.append({"params": params, "lr": head_lr if name == "head" else rates[name], "name": name})
    return torch.optim.AdamW(groups, weight_decay=0.0)


def linear_schedule(total: int, warmup: int, offset: int = 0) -> Any:
    """Linear warm-up to the base rate, then linear decay to 0 at `total` (HF's schedule), from step
    `offset` on: a continued run keeps the schedule it was planned with, so pausing changes nothing."""

    def factor(local_step: int) -> float:
        step = local_step + offset
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def predict(model: nn.Module, task: EncodedTask, split: EncodedSplit, device: Any,
            precision: str = "fp32") -> tuple[np.ndarray, float]:
    """Predictions (class ids, or values for regression) in the split's order, and the mean loss
    (cross-entropy, or squared error for regression; NaN where the split has no labels), with the
    forward under `precision` (evaluators/precision.py)."""
    from autopeft.evaluators.precision import precision_autocast

    regression = task.spec.problem_type == REGRESSION
    out = np.empty(len(split), dtype=np.float32 if regression else np.int64)
    loss_sum = 0.0
    labelled = bool(len(split)) and (regression or bool((split.labels >= 0).all()))
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), precision_autocast(precision, device):
            for index in eval_batches(split.lengths, EVAL_BATCH.get(torch.device(device).type, 32)):
                batch = {k: v.to(device) for k, v in collate(task, split, index).items()}
                labels = batch.pop("labels")
                logits = model(**batch).logits.float()
                pred = logits.squeeze(-1) if regression else logits.argmax(-1)
                out[index] = pred.cpu().numpy()
                if labelled:
                    loss = (F.mse_loss(pred, labels.float(), reduction="sum") if regression
                            else F.cross_entropy(logits, labels, reduction="sum"))
                    loss_sum += float(loss)
    finally:
        model.train(was_training)
    return out, (loss_sum / len(split) if labelled else float("nan"))


def score_split(model: nn.Module, task: EncodedTask, split: EncodedSplit, device: Any,
                precision: str = "fp32") -> dict[str, float]:
    """The task's metric values (with `score`) on a split, and its mean `loss` (a continuous
    signal that small evaluation sets rank by better than accuracy: experiments/supernet)."""
    return split_values(task, split, *predict(model, task, split, device, precision))


def split_values(task: EncodedTask, split: EncodedSplit, preds: np.ndarray, loss: float) -> dict[str, float]:
    """`score_split`'s values from predictions already made."""
    if not np.all(np.isfinite(preds)):
        raise FloatingPointError("the model predicts non-finite values")
    return {**metrics.compute(task.spec.metric, preds, split.labels), "loss": loss}


class CandidateFailed(Exception):
    """Training hit a non-finite loss or gradient: the candidate fails, the worker goes on."""


def train_pool(task: EncodedTask, fidelity: Fidelity) -> EncodedSplit:
    """The training examples a fidelity samples batches from."""
    train = task.splits["train"]
    if fidelity.data < 1.0:
        train = subset(train, max(1, int(round(len(train) * fidelity.data))), task.spec.problem_type == REGRESSION)
    return train


def train_loop(model: nn.Module, task: EncodedTask, optimizer: torch.optim.Optimizer, fidelity: Fidelity,
               seed: int, device: Any, pad_to: int | None, group_by_length: bool, result: EvalResult,
               progress: Progress | None, after_step: Callable[[int], None] | None = None,
               resume: bytes | None = None, keep_checkpoint: bool = False, precision: str = "fp32") -> bytes | None:
    """AdamW steps with warm-up + linear decay and clipping; `after_step(step)` (1-based) runs after
    each optimizer step, before the gradients are cleared (AdaLoRA's rank allocation needs them).

    Trains to `fidelity.stop` of the planned schedule, from `resume` (a checkpoint of the same
    candidate and schedule) when given; returns a checkpoint where it stopped when asked. Under
    `precision` bf16 the forward runs under bfloat16 autocast (evaluators/precision.py)."""
    from autopeft.evaluators import checkpoint
    from autopeft.evaluators.precision import precision_autocast

    train = train_pool(task, fidelity)
    total = fidelity.total_steps(len(train))
    stop = fidelity.stop_steps(len(train))
    start = checkpoint.restore(resume, model, optimizer, total) if resume is not None else 0
    if start > stop:
        raise checkpoint.CheckpointMismatch(f"the checkpoint is at step {start}, past this job's stop at {stop}")
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_schedule(total, int(total * fidelity.warmup), start))
    params = [p for g in optimizer.param_groups for p in g["params"]]
    batches = train_batches(train.lengths, fidelity.batch, np.random.default_rng(seed), group_by_length)
    for _ in range(start):  # the batches the paused run already took
        next(batches)
    losses: list[float] = []
    result.steps = start
    model.train()
    for step in range(start, stop):
        batch = {k: v.to(device) for k, v in collate(task, train, next(batches), pad_to).items()}
        with precision_autocast(precision, device):
            loss = model(**batch).loss
        value = float(loss.detach())
        if not np.isfinite(value):
            raise CandidateFailed(f"loss became {value} at step {step + 1}")
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
        if not torch.isfinite(norm):
            raise CandidateFailed(f"gradient norm became {float(norm)} at step {step + 1}")
        optimizer.step()
        schedule.step()
        if after_step is not None:
            after_step(step + 1)
        optimizer.zero_grad(set_to_none=True)
        losses.append(value)
        result.steps = step + 1
        if progress is not None:
            progress(step + 1, stop, value)
    result.train_loss = float(np.mean(losses[-LOSS_WINDOW:])) if losses else None
    return checkpoint.capture(model, optimizer, stop, total) if keep_checkpoint else None


def score_trained(result: EvalResult, model: nn.Module, task: EncodedTask, attached: Any, fidelity: Fidelity,
                  split: str, report_splits: tuple[str, ...], keep_state: bool, device: Any,
                  extra: dict[str, float] | None = None, precision: str = "fp32") -> None:
    """Score a trained candidate on `split` (a fidelity's subset) and the report splits under the
    precision it trained in, keep its folded tensors when asked, and mark the result ok. Each scored
    split's labels and predictions ride along (`result.predictions`, a few KB): what a paired test over
    examples needs (`autopeft train --predictions`)."""
    regression = task.spec.problem_type == REGRESSION
    result.predictions = predictions = {}

    def scored(name: str, data: EncodedSplit) -> dict[str, float]:
        preds, loss = predict(model, task, data, device, precision)
        predictions[name] = (data.labels, preds)  # a report split scored whole replaces its subset
        return split_values(task, data, preds, loss)

    values = scored(split, subset(task.splits[split], fidelity.eval, regression))
    values.update(extra or {})
    result.metrics, result.score = values, values["score"]
    result.reports = {s: scored(s, task.splits[s]) for s in report_splits}
    if keep_state:  # what an export holds: reparameterisations folded into plain tensors
        attached.fold()
        result.state = {k: v.detach().cpu().clone() for k, v in attached.state_dict().items()}
    result.status = OK


def failure_reason(exc: Exception) -> str:
    """One line for a candidate's failure: a non-finite loss, out of memory, or any exception."""
    if isinstance(exc, CandidateFailed):
        return str(exc)
    if isinstance(exc, torch.OutOfMemoryError):
        return f"out of memory: {str(exc).splitlines()[0] if str(exc) else 'allocation failed'}"
    first = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {first[0] if first else ''}".rstrip(": ")


def train_and_score(
    model: nn.Module,
    task: EncodedTask,
    candidate: Any,
    fidelity: Fidelity,
    seed: int = 0,
    device: Any = "cpu",
    split: str = "dev",
    report_splits: tuple[str, ...] = (),
    keep_state: bool = False,
    head_lr: float = HEAD_LR,
    pad_to: int | None = None,
    group_by_length: bool = True,
    progress: Progress | None = None,
    resume: bytes | None = None,
    keep_checkpoint: bool = False,
    precision: str = "fp32",
    quantize: str | None = None,
    kernels: str = "plain",
) -> EvalResult:
    """Attach `candidate`, train it at `fidelity` (continuing `resume` when given), score it on
    `split` (and `report_splits`), detach; the result carries a checkpoint when asked. `kernels`
    (resolved: plain, fused or triton) says how the branches compute (methods/kernels/), never what."""
    from autopeft.evaluators.precision import attention_of
    from autopeft.evaluators.quantize import check_trainable
    from autopeft.methods.attach import apply
    from autopeft.methods.kernels.fuse import fuse

    start = time.perf_counter()
    result = EvalResult(status=FAILED, metric=task.spec.metric, split=split, seed=seed,
                        fidelity=fidelity.label(), candidate=candidate.to_json(), precision=precision,
                        quantize=quantize or "fp32", kernels=kernels,
                        attention=attention_of(model))
    attached = None
    memory = PeakMemory(device)
    try:
        with memory:
            seed_everything(seed)
            reset_head(model)
            attached = apply(model, candidate)
            fuse(attached, kernels)
            model.to(device)
            if quantize:
                check_trainable(model)  # an eval forward must not have repacked the 4-bit weights
            result.peft_params, result.head_params = attached.peft_params, attached.head_params
            result.train_params = attached.train_params + attached.head_params
            started = time.perf_counter()
            result.checkpoint = train_loop(model, task, build_optimizer(attached, head_lr), fidelity, seed, device,
                                           pad_to, group_by_length, result, progress, resume=resume,
                                           keep_checkpoint=keep_checkpoint, precision=precision)
            result.train_s = round(time.perf_counter() - started, 3)
            score_trained(result, model, task, attached, fidelity, split, report_splits, keep_state, device,
                          precision=precision)
    except Exception as exc:  # a candidate's failure must never stop a search
        result.reason = failure_reason(exc)
    finally:
        if attached is not None:
            attached.detach()
        model.zero_grad(set_to_none=True)
        if str(device).startswith("cuda"):
            torch.cuda.empty_cache()
    result.peak_mem_mb, result.mem_kind = round(memory.peak_mb, 1), memory.kind
    result.wall_s = round(time.perf_counter() - start, 3)
    return result
