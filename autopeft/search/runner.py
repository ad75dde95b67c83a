"""The real evaluator: the evaluators' runners (in-process or Ray) behind the search's `Evaluator`.

It also gives what the search needs beside training: the task's metric and chance score (the
hypervolume reference), the head's size, weight-file metadata in export/weights.py's format, and
the front's scores on the reporting split once the search ends.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from autopeft.evaluators.job import Job, MoreJobs, OnResult
from autopeft.evaluators.result import EvalResult
from autopeft.search.settings import Settings

if TYPE_CHECKING:  # the worker imports torch; the search loads it only when it trains
    from autopeft.evaluators.worker import Worker


class RunnerEvaluator:
    """Trains candidates with `autopeft.evaluators` (a worker reused across trials)."""

    def __init__(self, s: Settings):
        from autopeft.backbones import load_config, resolve_model_path
        from autopeft.evaluators.cache import encode_task
        from autopeft.evaluators.metrics import chance_score
        from autopeft.evaluators.runners import InProcessRunner, make_runner
        from autopeft.evaluators.tasks import task_ref
        from autopeft.evaluators.worker import WorkerSpec

        self.s = s
        if s.options.task is None:
            raise ValueError("a search's settings without a task: resolve_settings refuses those")
        self.ref = task_ref(s.options.task, s.options.data_dir, s.options.text_cols, s.options.label_col)
        self.keep_state = s.options.keep_weights != "none"
        self.workers = max(1, s.options.workers or 1)
        spec = WorkerSpec(task=self.ref, model=s.options.model, precision=s.options.precision,
                          quantize=s.options.quantize, kernels=s.options.kernels,
                          attention=s.options.attention or "auto")
        self.runner = make_runner(spec, self.workers, s.options.ray_address)
        if isinstance(self.runner, InProcessRunner):
            task = self.runner.worker.task  # loads the backbone and the data now, with clear errors
        else:
            model = s.options.model
            task = encode_task(self.ref, resolve_model_path(model), load_config(model), spec.max_length)
        self.task = task
        self.metric = task.spec.metric
        self.num_labels: int | None = task.spec.num_labels  # typed as the Evaluator protocol declares it
        self.report_splits = tuple(r for r in task.spec.report_splits if r in task.splits)
        self.chance = chance_score(self.metric, task.splits["train"].labels, task.splits["dev"].labels)
        self._model: Any = None

    def backbone_info(self) -> dict[str, Any] | None:
        """The backbone's precision and memory footprint as loaded (in-process only: Ray's workers hold it)."""
        from autopeft.evaluators.runners import InProcessRunner

        return self.runner.worker.backbone_info() if isinstance(self.runner, InProcessRunner) else None

    def _job(self, job: Job, report: bool = False) -> Job:
        """What the worker runs for a trial: trained on dev at the job's fidelity (the search's, or a
        multi-fidelity rung's; scored on the reporting split too when `report`), its state kept when
        the search keeps weights."""
        reports = self.report_splits if report else ()
        return replace(job, split="dev", report_splits=reports, keep_state=self.keep_state)

    def evaluate(self, jobs: list[Job], on_result: OnResult, more: MoreJobs | None = None) -> None:
        """Train and score jobs; each result is passed on as it arrives, and each free worker takes
        what `more()` hands over next."""
        refill = (lambda: [self._job(j) for j in more()]) if more is not None else None
        self.runner.run([self._job(j) for j in jobs], on_result, refill)

    def report(self, jobs: list[Job], on_result: OnResult) -> None:
        """Scores on the reporting split (`test`): from the trial's kept weights in this process, else
        retrained with the trial's seed (the evaluators guarantee the same weights as in the search)."""
        from autopeft.evaluators.runners import InProcessRunner

        if not self.report_splits:
            return
        split = self.report_splits[0]
        retrain = []
        for job in jobs:
            scored = None
            if job.weights and isinstance(self.runner, InProcessRunner):
                scored = self._score_weights(self.runner.worker, job, job.weights, split)
            if scored is None:
                retrain.append(job)
            else:
                on_result(job, scored)

        def relay(job: Job, r: EvalResult) -> None:
            rep = r.reports.get(split) if r.ok else None
            out = EvalResult(r.status, r.metric, score=rep.get("score") if rep else None, metrics=rep or {},
                             split=split, seed=r.seed, fidelity=r.fidelity, reason=r.reason)
            on_result(job, out)

        self.runner.run([self._job(j, report=True) for j in retrain], relay)

    def _score_weights(self, w: Worker, job: Job, weights: str, split: str) -> EvalResult | None:
        """Attach the candidate to the in-process worker's model, load its kept tensors (`weights`),
        score `split`; None if the tensors do not fit."""
        from safetensors.torch import load_file

        from autopeft.evaluators.trainer import score_split
        from autopeft.methods.attach import apply

        attached = apply(w.model, job.parsed())
        try:
            w.model.to(w.device)
            state = load_file(weights)
            missing = set(attached.state_dict()) - set(state)
            unexpected = w.model.load_state_dict(state, strict=False).unexpected_keys
            if missing or unexpected:
                return None
            w.model.eval()
            values = score_split(w.model, w.task, w.task.splits[split], w.device, w.precision)
        except Exception:  # fall back to retraining
            return None
        finally:
            attached.detach()
        return EvalResult("ok", self.metric, score=values["score"], metrics=values, split=split, seed=job.seed)

    def weights_metadata(self, candidate: Any, state: dict[str, Any]) -> dict[str, str]:
        """export/weights.py's metadata, from the worker's model (or, with Ray, one loaded here once)."""
        from autopeft.evaluators.runners import InProcessRunner
        from autopeft.export.weights import trial_metadata

        if isinstance(self.runner, InProcessRunner) and not self.s.options.quantize:
            model = self.runner.worker.model
        else:  # Ray's workers hold the model elsewhere; a quantized one cannot give the full-precision
            # weights' hash that exports are checked against (they load onto the full-precision backbone)
            if self._model is None:
                from autopeft.backbones import load_task_model

                s = self.task.spec
                self._model = load_task_model(self.s.options.model, s.num_labels, s.problem_type)
            model = self._model
        meta = {"backbone": self.s.options.model, "task": self.s.options.task, "fidelity": self.s.fidelity,
                "id2label": list(self.task.spec.label_names), "problem_type": self.task.spec.problem_type,
                "quantize": self.s.options.quantize or "fp32"}
        return trial_metadata(model, candidate, state, meta)

    def proxy(self, space: Any, budget: int | None, plan: Any, seed: int, checkpoint_dir: Any) -> Any:
        """A supernet on its own worker (same task and backbone), checkpointed in `checkpoint_dir`."""
        from autopeft.evaluators.worker import WorkerSpec
        from autopeft.search.proxy import SupernetProxy

        spec = WorkerSpec(task=self.ref, model=self.s.options.model, quantize=self.s.options.quantize)
        return SupernetProxy(spec, space, budget, plan, seed, checkpoint_dir)

    def close(self) -> None:
        """Free the workers."""
        self.runner.close()


def make_evaluator(s: Settings) -> RunnerEvaluator:
    """The evaluator a search over a real task uses."""
    return RunnerEvaluator(s)
