"""AdaLoRA through peft on a tiny BERT: the allocation it ends with is a LoRA candidate of ours that
fits its budget, counts exactly, equals peft's model, and leaves the worker's backbone untouched."""

import pytest
import torch

from autopeft.errors import UserError
from autopeft.evaluators.adalora import AdaLoRARun, Recipe, schedule
from autopeft.evaluators.fidelity import parse_fidelity
from autopeft.evaluators.job import Job
from autopeft.evaluators.tasks import task_ref
from autopeft.evaluators.worker import Worker, WorkerSpec

FID = parse_fidelity("steps=40,eval=all,batch=16")
LR = 3e-2  # a random tiny backbone needs larger rates than a pretrained one


@pytest.fixture(scope="module")
def worker(tiny_bert, tmp_path_factory):
    from tests.helpers.data import sentiment_rows, write_csv

    path = write_csv(tmp_path_factory.mktemp("task") / "s.csv", ["text", "label"], sentiment_rows(400))
    return Worker(WorkerSpec(task_ref(str(path)), model=tiny_bert, max_length=32, threads=1, head_lr=LR))


def _run(worker, target, **kw):
    recipe = Recipe(target, init_r=4, lr=LR, **kw).to_json()
    return worker.evaluate(Job("", FID, seed=0, keep_state=True, recipe=recipe))


def test_the_allocation_fits_counts_exactly_and_equals_peft(worker):
    from autopeft.methods.candidate import Candidate
    from autopeft.methods.count import count

    before = {k: v.clone() for k, v in worker.model.base_model.state_dict().items()}
    for target in (2000, 800):
        r = _run(worker, target)
        assert r.ok, r.reason
        cand = Candidate.from_json(r.candidate)
        assert set(cand.methods) == {"lora"}
        n = count(cand, worker.model).peft_params
        assert n == r.peft_params <= target  # the built model's count is the analytic one
        assert r.metrics["adalora_conversion_diff"] < 1e-4  # our LoRA computes what peft's AdaLoRA did
        ranks = [r for layer in cand.layers for r in layer.get("lora", {}).values()]
        assert max(ranks) <= 4 and len(ranks) < 2 * 6  # pruned from init_r on 12 matrices
        assert any("autopeft_lora" in k for k in r.state) and any("classifier" in k for k in r.state)
    after = worker.model.base_model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # peft worked on a copy


def test_kept_weights_reproduce_the_score(worker):
    """The kept state is in our format: attached to the candidate it gives the recorded score."""
    from autopeft.evaluators.trainer import score_split
    from autopeft.methods.attach import apply

    r = _run(worker, 2000)
    attached = apply(worker.model, r.candidate)
    try:
        worker.model.load_state_dict(r.state, strict=False)
        assert score_split(worker.model, worker.task, worker.task.splits["dev"], "cpu")["score"] == r.score
    finally:
        attached.detach()


def test_over_budget_allocations_lose_their_least_important_ranks(worker):
    from autopeft.methods.count import count

    run = AdaLoRARun(worker.model, Recipe(1000, init_r=4), total_steps=40, lr=LR, head_lr=LR)
    inner = run.peft.base_model.model
    names = [n for n, _ in inner.named_parameters() if "lora_E.default" in n]
    run.config.rank_pattern = {n: [True] * 4 for n in names}  # everything kept: far above 1,000
    scores = {n: torch.arange(4.0) + 10 * i for i, n in enumerate(names)}  # later matrices, later ranks matter more
    run._fit(scores)
    kept = run.config.rank_pattern
    assert count(run.candidate_from(), inner).peft_params <= 1000 < count(run.candidate_from(
        {n: [True] * 4 for n in names}), inner).peft_params
    assert run.trimmed > 0
    # the lowest scores went first: the first matrices are emptied, the last keeps its ranks
    assert not any(kept[names[0]]) and all(kept[names[-1]])
    e = dict(inner.named_parameters())[names[0]]
    assert torch.count_nonzero(e) == 0  # and their singular values are masked


def test_schedule_and_bad_recipes():
    s = schedule(100)
    assert (s["tinit"], s["tfinal"], s["deltaT"], s["total_step"]) == (10, 20, 1, 100)
    with pytest.raises(UserError, match="more than"):
        schedule(2)
    with pytest.raises(UserError, match="unknown training recipe"):
        Recipe.from_json('{"method": "vera", "target_params": 10}')
    assert Recipe.from_json(Recipe(5, layers=(0,)).to_json()) == Recipe(5, layers=(0,))


def test_a_recipe_failure_is_a_failed_result(worker):
    r = worker.evaluate(Job("", parse_fidelity("steps=2,eval=all"), recipe=Recipe(1000).to_json()))
    assert not r.ok and "more than" in r.reason
    r = worker.evaluate(Job("", FID, recipe='{"method": "adalora"}'))
    assert not r.ok and r.reason.startswith("bad recipe")


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_adalora_trains_and_scores_in_the_workers_precision(tiny_bert, tmp_path, monkeypatch, precision):
    """An AdaLoRA trial runs in the precision every other trial of its search runs in (it once
    trained in fp32 whatever `--precision` said); fp32 is the negative control. Its allocation is
    still an exact LoRA copy of peft's model."""
    import autopeft.evaluators.precision as prec
    from tests.helpers.data import sentiment_rows, write_csv

    asked = []
    real = prec.precision_autocast
    monkeypatch.setattr(prec, "precision_autocast", lambda p, device: asked.append(p) or real(p, device))
    path = write_csv(tmp_path / "s.csv", ["text", "label"], sentiment_rows(200))
    w = Worker(WorkerSpec(task_ref(str(path)), model=tiny_bert, max_length=32, threads=1, head_lr=LR,
                          precision=precision))
    r = _run(w, 2000)
    assert r.ok, r.reason
    assert r.precision == precision and asked and set(asked) == {precision}
    assert r.metrics["adalora_conversion_diff"] < 1e-4
