"""Supernet training on a tiny BERT: it learns, proxy scores come back (failures recorded), and a
resumed supernet continues exactly where a straight run would be."""

import dataclasses
import random

import pytest
import torch

from autopeft.evaluators.supernet import SupernetPlan, SupernetTrainer
from autopeft.evaluators.tasks import task_ref
from autopeft.evaluators.worker import Worker, WorkerSpec
from autopeft.space.loader import bind_space

PLAN = SupernetPlan(steps=40, batch=16, checkpoint_every=10, eval=200, head_lr=3e-2)


@pytest.fixture(scope="module")
def worker(tiny_bert, tmp_path_factory, sentiment_rows_600):
    return Worker(WorkerSpec(task_ref(str(sentiment_rows_600)), model=tiny_bert, max_length=32, threads=1))


@pytest.fixture(scope="module")
def sentiment_rows_600(tmp_path_factory):
    from tests.helpers.data import sentiment_rows, write_csv

    return write_csv(tmp_path_factory.mktemp("sn") / "s.csv", ["text", "label"], sentiment_rows(600))


def _space(worker, lr=3e-2):
    space = {"version": 1, "name": "small", "globals": {"lora": {"lr": lr}, "serial_adapter": {"lr": lr}},
             "methods": {"lora": {"sizes": {"q": [0, 2, 8], "v": [0, 2, 8]}},
                         "serial_adapter": {"sizes": {"ffn": [0, 4, 16]}}}}
    return bind_space(space, worker.config, num_labels=2)


def _state(trainer):
    return {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}


def test_supernet_learns_and_scores_candidates(worker):
    space = _space(worker)
    plan = SupernetPlan(steps=100, batch=16, eval=200, head_lr=3e-2)
    trainer = SupernetTrainer(worker.model, worker.task, space, budget=4000, plan=plan, seed=0)
    try:
        before = trainer.proxy(trainer.largest)
        trainer.train()
        after = trainer.proxy(trainer.largest)
        assert before.ok and after.ok
        assert after.score > 0.7 and after.score > before.score  # chance is 0.5
        rng = random.Random(0)
        for _ in range(5):
            _, cand = space.sample(rng, 4000)
            result = trainer.proxy(cand)
            assert result.ok and result.peft_params == space.params(cand) and result.fidelity == "supernet"
        state, plain = _state(trainer), trainer.proxy(trainer.largest)
        tuned = trainer.proxy(trainer.largest, finetune_steps=3)
        # its own steps train at the base rates (the supernet's schedule has decayed to 0) and are undone
        assert tuned.fidelity == "supernet+3" and tuned.metrics["loss"] != plain.metrics["loss"]
        after_state = _state(trainer)
        assert all(torch.equal(v, after_state[k]) for k, v in state.items())
        # bf16 proxies (where the CPU has fast bf16) read the same dev loss as fp32 ones, to ~1%
        trainer.plan = dataclasses.replace(plan, proxy_dtype="float32")
        exact = trainer.proxy(trainer.largest)
        assert plain.metrics["loss"] == pytest.approx(exact.metrics["loss"], rel=0.02)
        assert all(p.requires_grad for p in trainer.net.parameters())
    finally:
        trainer.close()
    assert not any(p.requires_grad for p in worker.model.base_model.parameters())


def test_proxy_failure_is_recorded_not_raised(worker):
    space = _space(worker)
    trainer = SupernetTrainer(worker.model, worker.task, space, budget=4000, plan=PLAN, seed=0)
    try:
        from autopeft.methods.candidate import Candidate

        too_big = Candidate([{"lora": {"q": 16}}, {}])  # the supernet was built with rank 8
        result = trainer.proxy(too_big)
        assert result.status == "failed" and "supernet was built with 8" in result.reason
    finally:
        trainer.close()


def test_resumed_supernet_equals_a_straight_run(worker, tmp_path):
    space = _space(worker)
    straight = SupernetTrainer(worker.model, worker.task, space, budget=4000, plan=PLAN, seed=1)
    straight.train(20)
    expected = _state(straight)
    straight.close()

    first = SupernetTrainer(worker.model, worker.task, space, 4000, PLAN, seed=1, checkpoint_dir=tmp_path)
    first.train(10)
    first.close()
    resumed = SupernetTrainer(worker.model, worker.task, space, 4000, PLAN, seed=1, checkpoint_dir=tmp_path)
    assert resumed.step == 10
    resumed.train(20)
    got = _state(resumed)
    resumed.close()
    assert got.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], atol=1e-6, rtol=1e-5, msg=name)


def test_fused_supernet_trains_as_the_plain_one(worker):
    """`kernels="fused"` replaces the branch hooks of every branch-carrying linear of the supernet
    (plain fuses none: the negative control) and trains the same weights, to float32 rounding."""
    space, plan = _space(worker), dataclasses.replace(PLAN, train_dtype="float32")
    states, fused = {}, {}
    for kernels in ("plain", "fused"):
        trainer = SupernetTrainer(worker.model, worker.task, space, budget=4000, plan=plan, seed=2, kernels=kernels)
        try:
            fused[kernels] = trainer.fused_linears
            trainer.train(5)
            states[kernels] = _state(trainer)
        finally:
            trainer.close()
    assert fused == {"plain": 0, "fused": 2 * 2 + 2}  # q, v and the FFN output in each of 2 layers
    assert states["plain"].keys() == states["fused"].keys()
    for name, value in states["plain"].items():
        torch.testing.assert_close(states["fused"][name], value, rtol=1e-4, atol=1e-5, msg=name)
    assert not any(len(m._forward_hooks) for m in worker.model.modules())  # close() removed the fused hooks


@pytest.mark.parametrize("precision, requested, kernel", [("bf16", "auto", "eager"), ("fp32", "auto", "sdpa"),
                                                       ("bf16", "sdpa", "sdpa"), ("fp32", "eager", "eager")])
def test_supernet_attention_follows_its_training_precision(worker, monkeypatch, precision, requested, kernel):
    """Under bf16 on the CPU the supernet trains on eager attention, as a trial does (SDPA's bf16
    backward is the slow one there), unless `--attention` names a kernel, which it then runs as every
    trial does; close() gives the worker its backbone's kernel back."""
    import autopeft.evaluators.supernet as sn

    monkeypatch.setattr(sn, "supernet_precision", lambda device, dtype: precision)  # both branches, any CPU
    before = worker.model.config._attn_implementation
    trainer = SupernetTrainer(worker.model, worker.task, _space(worker), budget=4000, plan=PLAN, seed=3,
                              attention=requested)
    try:
        assert trainer.attention == kernel
        trainer.train(2)
    finally:
        trainer.close()
    assert worker.model.config._attn_implementation == before == "sdpa"


def test_supernet_proxy_runs_the_attention_the_user_asked_for(worker, tiny_bert, sentiment_rows_600, tmp_path,
                                                              monkeypatch):
    """`--attention sdpa` reaches the supernet of `auto`/`noah-paper` (it once kept eager under bf16
    whatever the user asked); `auto` is the negative control, eager under bf16 on the CPU."""
    import autopeft.evaluators.supernet as sn
    from autopeft.search.proxy import ProxyPlan, SupernetProxy

    monkeypatch.setattr(sn, "supernet_precision", lambda device, dtype: "bf16")  # any CPU
    for requested, kernel in (("sdpa", "sdpa"), ("auto", "eager")):
        spec = WorkerSpec(task_ref(str(sentiment_rows_600)), model=tiny_bert, max_length=32, threads=1,
                          attention=requested)
        proxy = SupernetProxy(spec, _space(worker), 4000, ProxyPlan(steps=2, eval=50, batch=8), seed=0,
                              checkpoint_dir=tmp_path / requested)
        try:
            assert proxy.trainer.attention == kernel
        finally:
            proxy.close()
