"""Determinism (issue 24, item 4): the same seed gives the same candidates and the same scores, for
a real (tiny) backbone trained in-process, with `mobo` (its GP, acquisition and first trials) and
`asha` (its rungs continue checkpoints); another seed gives other candidates (the negative control).
Ray workers against in-process are compared in tests/evaluators/test_ray_runner.py."""

from __future__ import annotations

import pytest

from autopeft.search.api import search
from tests.helpers.models import tiny_task


def _trials(run) -> list[tuple]:
    rows = run.trials[run.trials["kind"] == "search"].sort_values("trial")
    return list(zip(rows["candidate"], rows["fidelity"], rows["score"], strict=True))


@pytest.mark.parametrize("strategy, trials", [("mobo", 5), ("asha:rungs=3", 2)])  # 9 steps: rungs named
def test_the_same_seed_gives_the_same_search(tmp_path, monkeypatch, strategy, trials):
    monkeypatch.setenv("AUTOPEFT_CACHE", str(tmp_path / "cache"))
    model, task = tiny_task(tmp_path)
    kw = dict(model=model, strategy=strategy, trials=trials, budget="20%", fidelity="steps=9,eval=60,batch=8",
              keep_weights="none", test_scores=False,
              strategy_options={"pool": 32, "restarts": 1, "max_evals": 100, "mc_samples": 16})
    first = _trials(search(task, out=tmp_path / "a", seed=3, **kw))
    again = _trials(search(task, out=tmp_path / "b", seed=3, **kw))
    other = _trials(search(task, out=tmp_path / "c", seed=4, **kw))
    assert len(first) >= trials and first == again
    assert [c for c, *_ in other] != [c for c, *_ in first]


def test_the_same_seed_gives_the_same_trials_on_ray_as_in_process(tmp_path, monkeypatch):
    """Two Ray workers: results arrive in either order, so trial numbers may differ, but the same seed
    trains the same candidates to the same scores as one in-process worker on as many torch threads
    (1), which the test above shows repeats itself. `random` proposes without reading results; a
    model-based strategy with several workers asks after whichever result came first, so its later
    picks follow timing."""
    pytest.importorskip("ray")
    import torch

    monkeypatch.setenv("AUTOPEFT_CACHE", str(tmp_path / "cache"))
    model, task = tiny_task(tmp_path)
    kw = dict(model=model, strategy="random", trials=4, budget="20%", fidelity="steps=9,eval=60,batch=8",
              keep_weights="none", test_scores=False, seed=3)
    on_ray = sorted(_trials(search(task, out=tmp_path / "a", workers=2, **kw)))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what each of the two Ray workers on this 2-CPU budget runs with
    try:
        local = sorted(_trials(search(task, out=tmp_path / "b", workers=1, **kw)))
        other = sorted(_trials(search(task, out=tmp_path / "c", workers=1, **(kw | {"seed": 4}))))
    finally:
        torch.set_num_threads(threads)
    assert len(on_ray) >= 4 and on_ray == local
    assert [c for c, *_ in other] != [c for c, *_ in local]  # the negative control: another seed differs
