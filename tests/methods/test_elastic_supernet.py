"""The elastic supernet: a candidate active gives the plain model's outputs with sliced weights."""

import random

import pytest
import torch

from autopeft.errors import UserError
from autopeft.space.loader import bind_space
from autopeft.supernet import Supernet
from tests.helpers.models import tiny_bert_config
from tests.helpers.supernet import assert_slice_matches_plain

IDS = torch.tensor([[2, 5, 9, 14, 3, 7, 1], [2, 8, 11, 4, 6, 0, 0]])
MASK = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0]])


def _model(seed=0):
    from transformers import BertForSequenceClassification

    torch.manual_seed(seed)
    return BertForSequenceClassification(tiny_bert_config()).eval()


def _full(config):
    return bind_space("full", config)


def test_random_full_candidates_match_plain_models_with_sliced_weights():
    supermodel, plain = _model(), _model()
    bound = _full(supermodel.config.to_dict())
    net = Supernet(supermodel, bound)
    with torch.no_grad():  # move every shared weight off its init so that slicing matters
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    rng = random.Random(0)
    fresh = _model().state_dict()
    for _ in range(25):
        _, cand = bound.sample(rng)
        assert_slice_matches_plain(net, bound, cand, plain, fresh, {"input_ids": IDS, "attention_mask": MASK})


def test_supernet_refuses_varying_globals(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("globals: {lora: {alpha_ratio: [1.0, 2.0]}}\nmethods:\n  lora: {sizes: {q: [0, 4]}}\n")
    model = _model()
    with pytest.raises(UserError, match="global options must be fixed"):
        Supernet(model, bind_space(str(path), model.config.to_dict()))


def test_detach_restores_backbone():
    model = _model()
    base = model(input_ids=IDS, attention_mask=MASK).logits
    net = Supernet(model, _full(model.config.to_dict()))
    net.detach()
    torch.testing.assert_close(model(input_ids=IDS, attention_mask=MASK).logits, base)
