"""Two Ray workers give the in-process scores; a worker that dies has its job retried once."""

import os
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from autopeft.evaluators.fidelity import parse_fidelity  # noqa: E402
from autopeft.evaluators.job import Job  # noqa: E402
from autopeft.evaluators.result import EvalResult  # noqa: E402
from autopeft.evaluators.runners import InProcessRunner  # noqa: E402
from autopeft.evaluators.tasks import task_ref  # noqa: E402
from autopeft.evaluators.worker import WorkerSpec  # noqa: E402


@pytest.fixture(scope="module")
def spec(tiny_bert, tmp_path_factory):
    import csv

    path = tmp_path_factory.mktemp("ray-task") / "words.csv"
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["text", "label"])
        for i in range(200):
            out.writerow([("good " if i % 2 else "bad ") + f"w{i % 60} w{i * 7 % 60} " + "the " * (i % 4), i % 2])
    return WorkerSpec(task_ref(str(path)), model=tiny_bert, max_length=16, threads=1)


def test_two_ray_workers_match_in_process(spec):
    from autopeft.evaluators.ray_runner import RayRunner
    from autopeft.methods.anatomy import dims_from_config, resolve
    from autopeft.space.baselines import baseline

    local = InProcessRunner(spec)
    dims = dims_from_config(local.worker.config, resolve(local.worker.config))
    fid = parse_fidelity("steps=8,eval=all,batch=8")
    jobs = [Job.of(baseline(name, dims), fid, seed=s) for name, s in (("lora-r8", 0), ("houlsby", 1), ("ia3", 2))]
    expected = local.run(jobs)
    seen = []
    with RayRunner(spec, workers=2) as runner:
        assert runner.threads() == [1, 1]
        got = runner.run(jobs, on_result=lambda job, r: seen.append(job.seed))
    assert sorted(seen) == [0, 1, 2]
    assert all(r.ok for r in expected + got)
    assert [(r.score, r.train_loss) for r in got] == [(r.score, r.train_loss) for r in expected]


def test_a_ray_worker_trains_on_a_quantized_backbone(spec):
    """`--quantize` reaches Ray's workers: each loads its own 8-bit backbone and scores as in-process."""
    import dataclasses

    from autopeft.evaluators.ray_runner import RayRunner
    from autopeft.methods.candidate import Candidate

    pytest.importorskip("bitsandbytes")
    quantized = dataclasses.replace(spec, quantize="8bit")
    # LoRA on an 8-bit linear and BitFit on an 8-bit linear's bias
    job = Job.of(Candidate([{"lora": {"q": 4}, "bitfit": {"o": 1}}, {}]), parse_fidelity("steps=8,eval=all,batch=8"))
    expected = InProcessRunner(quantized).run([job])[0]
    with RayRunner(quantized, workers=1) as runner:
        got = runner.run([job])[0]
    assert expected.ok and got.ok and got.quantize == expected.quantize == "8bit"
    assert (got.score, got.train_loss) == (expected.score, expected.train_loss)


def test_dead_worker_is_retried_once_then_failed(spec, tmp_path):
    from autopeft.evaluators.ray_runner import RayRunner

    # defined here so that Ray pickles the class by value (a test module is not importable in a worker)
    class DiesOnce:
        """An actor body that kills its process on a job's first attempt (marker file), then answers."""

        def __init__(self, spec):
            self.marker = Path(spec.task.name).with_suffix(".died")

        def evaluate(self, job):
            if job.seed == 1 or not self.marker.exists():
                self.marker.write_text("x")
                os._exit(1)
            return EvalResult(status="ok", metric="accuracy", score=1.0, seed=job.seed)

        def threads(self):
            return 1

    marker_spec = WorkerSpec(task_ref(str(spec.task.name)), model=spec.model)
    Path(marker_spec.task.name).with_suffix(".died").unlink(missing_ok=True)
    jobs = [Job('{"layers": []}', seed=0), Job('{"layers": []}', seed=1)]
    with RayRunner(marker_spec, workers=1, actor_body=DiesOnce) as runner:
        results = runner.run(jobs)
    assert results[0].ok  # died on its first attempt, succeeded on the retry
    assert results[1].status == "failed" and results[1].reason.startswith("worker died twice")
