"""Pausing and continuing a candidate's training (a multi-fidelity search's rungs): continuing from
rung k to rung k+1 gives the same weights as one uninterrupted run of the same schedule, and a
checkpoint is refused where it does not belong."""

import pytest
import torch

from autopeft.evaluators.fidelity import parse_fidelity
from autopeft.evaluators.job import Job
from autopeft.evaluators.tasks import task_ref
from autopeft.evaluators.worker import Worker, WorkerSpec
from autopeft.methods.candidate import Candidate
from tests.helpers.data import sentiment_rows, write_csv

PLAN = "steps=24,eval=all,batch=8"
# a hybrid with dropout (the torch RNG must be carried over), a prefix reparameterisation (a
# training-only MLP) and the head, each at its own learning rate
HYBRID = Candidate(
    [{"lora": {"q": 4, "v": 2}, "prefix": {"length": 2}}, {"parallel_adapter": {"attn": 4}, "ia3": {"v": 1}}],
    {"lora": {"dropout": 0.2, "lr": 3e-2}, "prefix": {"reparam": True}},
)


@pytest.fixture(scope="module")
def worker(tiny_bert, tmp_path_factory):
    path = write_csv(tmp_path_factory.mktemp("task") / "sentiment.csv", ["text", "label"], sentiment_rows(300))
    return Worker(WorkerSpec(task_ref(str(path)), model=tiny_bert, max_length=32, threads=1, head_lr=3e-2))


def _trained(worker, fidelity: str, resume=None, seed=0):
    job = Job.of(HYBRID, parse_fidelity(fidelity), seed, keep_state=True, keep_checkpoint=True, resume=resume)
    result = worker.evaluate(job)
    assert result.ok, result.reason
    return result


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_continuing_rung_by_rung_equals_one_run(worker):
    """0 -> 8 -> 16 steps in two jobs gives the weights, score and checkpoint of 0 -> 16 in one."""
    from safetensors.torch import load

    from autopeft.evaluators.checkpoint import metadata

    first = _trained(worker, f"{PLAN},stop=8")
    assert first.steps == 8
    continued = _trained(worker, f"{PLAN},stop=16", resume=first.checkpoint)
    straight = _trained(worker, f"{PLAN},stop=16")
    assert continued.steps == straight.steps == 16
    assert _same(continued.state, straight.state)
    assert continued.score == straight.score
    assert _same(load(continued.checkpoint), load(straight.checkpoint))  # AdamW's moments and the RNG too
    assert metadata(continued.checkpoint) == metadata(straight.checkpoint)
    # the last rung: to the end of the plan
    assert _same(_trained(worker, PLAN, resume=continued.checkpoint).state, _trained(worker, PLAN).state)


def test_negative_controls_a_shorter_plan_or_a_lost_optimizer_state_differ(worker):
    """The equality above is not vacuous: a shorter plan (its learning rate decays sooner), or a
    continuation that lost AdamW's moments, ends elsewhere."""
    from safetensors.torch import load, save

    from autopeft.evaluators.checkpoint import metadata

    straight = _trained(worker, f"{PLAN},stop=16")
    assert not _same(_trained(worker, "steps=16,eval=all,batch=8").state, straight.state)
    first = _trained(worker, f"{PLAN},stop=8")
    tensors = {k: v for k, v in load(first.checkpoint).items() if not k.startswith("optim/")}
    forgetful = save(tensors, metadata=metadata(first.checkpoint))
    assert not _same(_trained(worker, f"{PLAN},stop=16", resume=forgetful).state, straight.state)


def test_a_checkpoint_of_another_plan_or_candidate_is_refused(worker):
    first = _trained(worker, f"{PLAN},stop=8")
    other_plan = worker.evaluate(Job.of(HYBRID, parse_fidelity("steps=30,eval=all,batch=8,stop=16"), 0,
                                        resume=first.checkpoint))
    assert not other_plan.ok and "24-step schedule" in other_plan.reason
    other = Candidate([{"lora": {"q": 2}}, {}])
    wrong = worker.evaluate(Job.of(other, parse_fidelity(f"{PLAN},stop=16"), 0, resume=first.checkpoint))
    assert not wrong.ok and "other parameters" in wrong.reason
    past = worker.evaluate(Job.of(HYBRID, parse_fidelity(f"{PLAN},stop=4"), 0, resume=first.checkpoint))
    assert not past.ok and "past this job's stop" in past.reason
    garbage = worker.evaluate(Job.of(HYBRID, parse_fidelity(f"{PLAN},stop=16"), 0, resume=b"not a checkpoint"))
    assert not garbage.ok and "not a training checkpoint" in garbage.reason


def test_stop_is_part_of_the_fidelity_label():
    fid = parse_fidelity("standard,stop=33")
    assert fid.label() == "steps=300,eval=2000,stop=33"
    assert parse_fidelity(fid.label()) == fid.__class__(**{**fid.__dict__, "name": "custom"})
    assert fid.stop_steps(10_000) == 33 and fid.final().stop_steps(10_000) == 300
