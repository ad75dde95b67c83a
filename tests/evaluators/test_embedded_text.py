"""The embedded tweets and MiniLM (integration: real data and model, still well under a minute)."""

import pytest

from autopeft.evaluators.tasks import task_ref


@pytest.mark.integration
def test_tweets_are_deduplicated_and_split_as_documented():
    data = task_ref("tweet_sentiment").load()
    assert data.info == {"rows": 38158, "distinct": 37243, "conflicting": 46, "kept": 37197}
    assert data.sizes() == {"train": 27197, "dev": 5000, "test": 5000}
    texts = [set(ds["text"]) for ds in data.splits.values()]
    assert not (texts[0] & texts[1]) and not (texts[0] & texts[2]) and not (texts[1] & texts[2])


@pytest.mark.integration
def test_minilm_trains_lora_on_tweets_at_smoke_fidelity():
    from autopeft.evaluators.fidelity import parse_fidelity
    from autopeft.evaluators.job import Job
    from autopeft.evaluators.worker import Worker, WorkerSpec
    from autopeft.methods.anatomy import dims_from_config, resolve
    from autopeft.space.baselines import baseline

    worker = Worker(WorkerSpec(task_ref("tweet_sentiment"), model="minilm", max_length=64))
    assert worker.model.config.hidden_dropout_prob == 0.0  # the measured default
    dims = dims_from_config(worker.config, resolve(worker.config))
    result = worker.evaluate(Job.of(baseline("lora-r8", dims), parse_fidelity("steps=10,eval=100"), seed=0))
    assert result.ok, result.reason
    assert result.peft_params == 73_728 and result.head_params == 384 * 3 + 3
    assert 0.0 <= result.score <= 1.0 and result.steps == 10
