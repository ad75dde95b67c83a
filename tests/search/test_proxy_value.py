"""What proxy-screening strategies rank by: the negated dev loss (auto) or the metric (noah-paper),
both for fresh proxy results and for those read back from the record on resume."""

import math

import pytest

from autopeft.evaluators.result import OK, EvalResult
from autopeft.methods.candidate import Candidate
from autopeft.search import record
from autopeft.search.proxy import proxy_value
from autopeft.search.proxy_record import cached_scores, open_proxy_study, record_proxy


def test_loss_ranks_by_negated_loss_and_falls_back_to_the_score():
    assert proxy_value(0.6, {"score": 0.6, "loss": 0.8}, "loss") == -0.8
    assert proxy_value(0.6, {"score": 0.6, "loss": 0.8}, "score") == 0.6
    assert proxy_value(0.6, {"score": 0.6}, "loss") == 0.6  # no loss (a synthetic proxy): the score
    assert proxy_value(0.6, {"loss": math.nan}, "loss") == 0.6
    assert proxy_value(None, None, "loss") is None


@pytest.mark.parametrize("rank_by, expected", [("loss", -0.75), ("score", 0.61)])
def test_cached_scores_read_back_what_was_recorded(tmp_path, rank_by, expected):
    from autopeft.space.loader import bind_space

    config = {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
              "intermediate_size": 64, "vocab_size": 100, "max_position_embeddings": 64}
    space = bind_space("lora", config, 3)
    study = open_proxy_study(f"sqlite:///{tmp_path / 'study.db'}")
    cand = Candidate([{"lora": {"q": 4}}, {}])
    result = EvalResult(OK, "accuracy", score=0.61, metrics={"accuracy": 0.61, "score": 0.61, "loss": 0.75},
                        fidelity="supernet", candidate=cand.to_json())
    record_proxy(study, space, cand, None, result, "auto", budget=10_000)
    (value, _), = cached_scores(study, rank_by).values()
    assert value == pytest.approx(expected)
    assert record.status_of(study.get_trials()[0]) in record.COUNTED
