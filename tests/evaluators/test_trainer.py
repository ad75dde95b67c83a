"""The trainer and the worker on a tiny BERT: it learns, fails cleanly, and a reused worker
gives what a fresh one gives."""

import math

import pytest

from autopeft.evaluators.fidelity import parse_fidelity
from autopeft.evaluators.job import Job
from autopeft.evaluators.tasks import task_ref
from autopeft.evaluators.worker import Worker, WorkerSpec
from tests.helpers.data import write_csv

FID = parse_fidelity("steps=60,eval=all,batch=16")
LR = 3e-2  # a random tiny backbone needs larger rates than a pretrained one


def _candidate(worker, name="lora-r8", lr=None):
    from autopeft.methods.anatomy import dims_from_config, resolve
    from autopeft.methods.candidate import Candidate
    from autopeft.space.baselines import baseline

    cand = baseline(name, dims_from_config(worker.config, resolve(worker.config)))
    if lr is None:
        return cand
    data = cand.to_dict()
    for method in cand.methods:
        data["globals"].setdefault(method, {})["lr"] = lr
    return Candidate.from_json(data)


@pytest.fixture(scope="module")
def worker(tiny_bert, tmp_path_factory):
    import csv
    import random

    rng = random.Random(0)
    path = tmp_path_factory.mktemp("task") / "sentiment.csv"
    pos, neg, filler = ["good", "great", "nice"], ["bad", "awful", "poor"], ["the", "movie", "was", "very", "day"]
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["text", "label"])
        for i in range(600):
            label = i % 2
            words = rng.sample(filler, rng.randint(1, 5)) + [rng.choice(pos if label else neg)]
            rng.shuffle(words)
            out.writerow([" ".join(words), label])
    return Worker(WorkerSpec(task_ref(str(path)), model=tiny_bert, max_length=32, threads=1, head_lr=LR))


def test_a_candidate_learns_the_task(worker):
    result = worker.evaluate(Job.of(_candidate(worker, lr=LR), FID, seed=0))
    assert result.ok, result.reason
    assert result.score > 0.7 and result.metric == "accuracy"  # chance is 0.5
    assert result.steps == 60 and result.train_loss < math.log(2)
    assert result.peft_params == 2 * 2 * 8 * (32 + 32)  # 2 layers x (q, v) x r(d_in + d_out)
    assert result.head_params == 32 * 2 + 2
    assert result.mem_kind == "rss-rise" and result.peak_mem_mb >= 0


def test_reused_worker_matches_a_fresh_load(worker, tiny_bert):
    cand = _candidate(worker, lr=LR)
    worker.evaluate(Job.of(_candidate(worker, "houlsby"), parse_fidelity("steps=5,eval=50"), seed=3))
    reused = worker.evaluate(Job.of(cand, FID, seed=7))
    fresh = Worker(worker.spec).evaluate(Job.of(cand, FID, seed=7))
    assert reused.ok and fresh.ok
    assert reused.score == fresh.score and reused.train_loss == fresh.train_loss
    other_seed = worker.evaluate(Job.of(cand, FID, seed=8))
    assert other_seed.train_loss != reused.train_loss  # the seed matters, so equality above means something


def test_nan_loss_and_raising_candidates_fail_and_the_next_one_runs(worker, monkeypatch):
    nan = worker.evaluate(Job.of(_candidate(worker, lr=1e30), FID, seed=0))
    assert nan.status == "failed" and ("became" in nan.reason), nan.reason
    assert "nan" in nan.reason or "inf" in nan.reason

    import autopeft.methods.attach as attach

    def broken(model, candidate, anatomy=None):
        raise RuntimeError("module exploded")

    monkeypatch.setattr(attach, "apply", broken)
    raised = worker.evaluate(Job.of(_candidate(worker), FID, seed=0))
    assert raised.status == "failed" and raised.reason == "RuntimeError: module exploded"
    monkeypatch.undo()

    after = worker.evaluate(Job.of(_candidate(worker, lr=LR), FID, seed=0))
    assert after.ok and after.score > 0.7
    trainable = [n for n, p in worker.model.named_parameters() if p.requires_grad and not n.startswith("classifier")]
    assert trainable == []  # detach froze the backbone again


def test_report_splits_and_kept_state(worker):
    job = Job.of(_candidate(worker, "bitfit"), parse_fidelity("steps=5,eval=50"), seed=0, report_splits=("test",),
                 keep_state=True)
    result = worker.evaluate(job)
    assert result.ok and set(result.reports) == {"test"} and "accuracy" in result.reports["test"]
    assert result.state and any(k.startswith("classifier") for k in result.state)
    assert result.to_dict().get("state") is None


def test_regression_task_trains(tiny_bert, tmp_path):
    rows = [(f"good {'very ' * (i % 5)}day", f"the movie {'bad ' * (i % 3)}", float(i % 5) + 0.5) for i in range(200)]
    path = write_csv(tmp_path / "sim.csv", ["a", "b", "score"], rows)
    w = Worker(WorkerSpec(task_ref(str(path), text_cols="a,b", label_col="score"), model=tiny_bert, max_length=32,
                          threads=1, head_lr=LR))
    result = w.evaluate(Job.of(_candidate(w, lr=LR), parse_fidelity("steps=30,eval=all"), seed=0))
    assert result.ok, result.reason
    assert result.metric == "pearson_spearman" and set(result.metrics) == {"pearson", "spearman", "score", "loss"}
    assert math.isfinite(result.metrics["loss"]) and result.metrics["loss"] >= 0  # squared error on dev
