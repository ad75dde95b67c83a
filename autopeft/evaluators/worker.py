"""A worker: the backbone and the encoded task loaded once, then many candidates in a row
(attach, train, score, detach), each giving what a fresh load would give for the same seed."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from autopeft.backbones import DEFAULT_DROPOUT
from autopeft.evaluators.fidelity import HEAD_LR
from autopeft.evaluators.job import Job
from autopeft.evaluators.precision import resolve_precision, use_attention
from autopeft.evaluators.result import EvalResult
from autopeft.evaluators.tasks import TaskRef
from autopeft.methods.kernels.select import resolve_kernels


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker loads; plain data, so Ray can ship it to its actors."""

    task: TaskRef
    model: str = "minilm"
    max_length: int = 128
    dropout: float = DEFAULT_DROPOUT
    threads: int | None = None  # torch threads; None leaves torch's default (all cores)
    device: str = "auto"  # "auto" takes CUDA when there is one
    head_lr: float = HEAD_LR
    dynamic_padding: bool = True  # False pads every batch to max_length (measured in train_speed)
    group_by_length: bool = True
    precision: str = "fp32"  # fp32, bf16 (autocast) or auto (bf16 where the device does it natively)
    quantize: str | None = None  # 4bit / 8bit: the backbone's linears stored by bitsandbytes (quantize.py)
    kernels: str = "auto"  # plain, fused, triton or auto (methods/kernels/select.py)
    attention: str = "auto"  # the backbone's attention: sdpa, eager or auto (precision.py `attention_for`)


def resolve_device(device: str) -> str:
    """`auto` → `cuda` when available, else `cpu`."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class Worker:
    """Holds one loaded backbone and encoded task; evaluates jobs one after another."""

    def __init__(self, spec: WorkerSpec) -> None:
        import torch

        from autopeft.backbones import load_config, load_task_model, resolve_model_path
        from autopeft.evaluators.cache import encode_task

        self.spec = spec
        if spec.threads:
            # both knobs: torch's intra-op pool and the OpenMP/MKL pools it starts from
            os.environ["OMP_NUM_THREADS"] = str(spec.threads)
            torch.set_num_threads(spec.threads)
        self.device = resolve_device(spec.device)
        self.precision = resolve_precision(spec.precision, self.device, quantize=spec.quantize)
        self.kernels = resolve_kernels(spec.kernels, self.device)
        path = resolve_model_path(spec.model)
        self.config = load_config(spec.model)
        self.task = encode_task(spec.task, path, self.config, spec.max_length)
        s = self.task.spec
        self.model = load_task_model(spec.model, s.num_labels, s.problem_type, spec.dropout, spec.quantize,
                                     self.device)
        self.model.to(self.device)
        self.attention = use_attention(self.model, self.precision, self.device, spec.attention)

    def backbone_info(self) -> dict[str, Any]:
        """The loaded backbone's precision and memory footprint (run.json's `backbone`)."""
        from autopeft.evaluators.quantize import backbone_info
        from autopeft.methods.anatomy import dims_from_config, resolve

        return backbone_info(self.model, self.spec.quantize,
                             dims_from_config(self.config, resolve(self.config)).backbone_params)

    def evaluate(self, job: Job, progress: Any = None) -> EvalResult:
        """Train and score one candidate; a failure comes back as a `failed` result.

        `progress(step, total, loss)` is called after every optimizer step when given."""
        from autopeft.evaluators.result import FAILED
        from autopeft.evaluators.trainer import train_and_score
        from autopeft.methods.candidate import Candidate

        if job.recipe:
            if job.resume is not None or job.keep_checkpoint:
                return EvalResult(status=FAILED, metric=self.task.spec.metric, seed=job.seed,
                                  fidelity=job.fidelity.label(),
                                  reason="a recipe (AdaLoRA) cannot be paused and continued")
            return self._evaluate_recipe(job, progress)
        try:
            candidate = Candidate.from_json(job.candidate)
        except Exception as exc:
            return EvalResult(status=FAILED, metric=self.task.spec.metric, seed=job.seed, candidate=job.candidate,
                              reason=f"bad candidate: {exc}", fidelity=job.fidelity.label())
        splits = self.task.splits
        missing = [s for s in (job.split, *job.report_splits) if s not in splits]
        if missing:
            return EvalResult(status=FAILED, metric=self.task.spec.metric, seed=job.seed, candidate=job.candidate,
                              reason=f"task {self.task.spec.name} has no split {missing[0]!r} ({', '.join(splits)})")
        pad_to = None if self.spec.dynamic_padding else self.spec.max_length
        return train_and_score(self.model, self.task, candidate, job.fidelity, job.seed, self.device, job.split,
                               job.report_splits, job.keep_state, self.spec.head_lr, pad_to, self.spec.group_by_length,
                               progress, resume=job.resume, keep_checkpoint=job.keep_checkpoint,
                               precision=self.precision, quantize=self.spec.quantize, kernels=self.kernels)

    def _evaluate_recipe(self, job: Job, progress: Any = None) -> EvalResult:
        from autopeft.evaluators.adalora import Recipe, train_and_score_adalora
        from autopeft.evaluators.result import FAILED

        try:
            recipe = Recipe.from_json(job.recipe or "")
        except Exception as exc:
            return EvalResult(status=FAILED, metric=self.task.spec.metric, seed=job.seed, fidelity=job.fidelity.label(),
                              reason=f"bad recipe: {exc}")
        pad_to = None if self.spec.dynamic_padding else self.spec.max_length
        result = train_and_score_adalora(self.model, self.task, recipe, job.fidelity, job.seed, self.device,
                                         job.split, job.report_splits, job.keep_state, self.spec.head_lr, pad_to,
                                         self.spec.group_by_length, progress, self.precision)
        result.quantize = self.spec.quantize or "fp32"  # peft's AdaLoRA ran on a copy of this backbone
        return result

    def threads(self) -> int:
        """torch's intra-op thread count in this worker."""
        import torch

        return torch.get_num_threads()
