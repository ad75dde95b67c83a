"""Faults around a candidate (issue 24, item 2): a full disk while a trial's weights or checkpoint are
written is noted on the trial and the search completes with every score (failures inside training,
NaN, exceptions, out of memory and a dead Ray worker, are tested in tests/evaluators)."""

from __future__ import annotations

import errno

from autopeft.search import weights
from autopeft.search.api import search
from autopeft.search.evaluator import SyntheticEvaluator


def test_a_full_disk_while_writing_weights_is_noted_and_the_search_completes(tmp_path, small_space, monkeypatch):
    calls = {"n": 0}
    real = weights.save

    def flaky(*args, **kwargs):  # every other write finds the disk full
        calls["n"] += 1
        if calls["n"] % 2 == 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(weights, "save", flaky)
    res = search("tweet_sentiment", space=small_space, strategy="random", trials=6, out=tmp_path / "run",
                 evaluator=SyntheticEvaluator(keep_state=True), keep_weights="all")
    rows = res.trials[res.trials["kind"] == "search"]
    assert (rows["state"] == "complete").sum() == 6 and res.info["status"] == "finished"
    noted = rows[rows["note"].fillna("").str.contains("No space left on device")]
    assert len(noted) == 3
    kept = {p.name for p in (tmp_path / "run" / "weights").glob("trial-*.safetensors")}
    missing = set(noted["trial"].astype(int))
    assert kept == {f"trial-{int(t)}.safetensors" for t in rows["trial"] if int(t) not in missing}


def test_a_full_disk_while_writing_a_checkpoint_means_a_climb_from_the_start(tmp_path, small_space, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(weights, "save_checkpoint", full)
    res = search("tweet_sentiment", space=small_space, strategy="asha:rungs=3", trials=2, out=tmp_path / "run",
                 evaluator=SyntheticEvaluator(), keep_weights="none")
    rows = res.trials[res.trials["kind"] == "search"]
    assert res.info["status"] == "finished" and (rows["state"] == "complete").all()
    assert rows[rows["rung"] == 0]["note"].str.contains("checkpoint not kept").all()
    climbs = rows[rows["rung"] > 0]
    # no checkpoint to continue: each climb trained from step 0 and counts all its steps
    assert len(climbs) and climbs["continues"].isna().all()
    for _, r in climbs.iterrows():
        assert r["cost"] == {1: 0.33, 2: 1.0}[int(r["rung"])]


def test_out_of_memory_inside_a_trial_is_a_failed_trial_and_the_worker_goes_on(tiny_bert_dir, tmp_path, monkeypatch):
    """An allocation failure while a candidate trains fails that trial with the reason; the worker's
    model is left as the backbone and the next candidate trains normally."""
    import torch

    from autopeft.evaluators import trainer
    from autopeft.evaluators.fidelity import parse_fidelity
    from autopeft.evaluators.job import Job
    from autopeft.evaluators.tasks import task_ref
    from autopeft.evaluators.worker import Worker, WorkerSpec
    from autopeft.methods.candidate import Candidate
    from tests.helpers.data import sentiment_rows, write_csv

    path = write_csv(tmp_path / "t.csv", ["text", "label"], sentiment_rows(120))
    worker = Worker(WorkerSpec(task_ref(str(path)), model=str(tiny_bert_dir), max_length=32, threads=1))
    # the backbone's tensors (the head is drawn afresh for every trial)
    before = {k: v.clone() for k, v in worker.model.state_dict().items() if not k.startswith("classifier")}
    real = trainer.train_loop

    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(trainer, "train_loop", oom)
    fid = parse_fidelity("steps=5,eval=all,batch=8")
    failed = worker.evaluate(Job.of(Candidate([{"lora": {"q": 2}}, {}, {}]), fid))
    assert not failed.ok and failed.reason.startswith("out of memory: CUDA out of memory")
    after = {k: v for k, v in worker.model.state_dict().items() if not k.startswith("classifier")}
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    monkeypatch.setattr(trainer, "train_loop", real)
    assert worker.evaluate(Job.of(Candidate([{"lora": {"q": 2}}, {}, {}]), fid)).ok
