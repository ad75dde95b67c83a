"""Baselines shrink to fit a budget: sized designs by their size, BitFit and (IA)³ by their targets."""

import pytest
import torch

from autopeft.errors import UserError
from autopeft.methods.anatomy import dims_from_config, resolve
from autopeft.methods.attach import apply
from autopeft.methods.count import count_dims
from autopeft.space.baselines import baseline, fitted
from tests.helpers.models import tiny_llama_config


@pytest.fixture(scope="module")
def minilm(minilm_config):
    return dims_from_config(minilm_config, resolve(minilm_config))


def _fitted(dims, budget: int) -> dict[str, dict]:
    return {name: cand.layers[0] for name, cand in fitted(dims, budget)}


def test_full_designs_are_the_papers(minilm):
    assert baseline("ia3", minilm).layers[0] == {"ia3": {"k": 1, "v": 1, "ffn": 1}}
    assert baseline("bitfit", minilm).layers[0] == {"bitfit": dict.fromkeys(
        ("q", "k", "v", "o", "ffn_in", "ffn_out", "ln"), 1)}


def test_ia3_keeps_values_then_keys_as_the_budget_shrinks(minilm):
    # MiniLM: 6 layers; (IA)³'s vectors are 384 (k, v) and 1,536 (ffn) a layer
    assert _fitted(minilm, 13_824)["ia3"] == {"ia3": {"k": 1, "v": 1, "ffn": 1}}
    assert _fitted(minilm, 13_823)["ia3@t2"] == {"ia3": {"k": 1, "v": 1}}
    assert _fitted(minilm, 4_607)["ia3@t1"] == {"ia3": {"v": 1}}
    assert not any(name.startswith("ia3") for name in _fitted(minilm, 2_303))


def test_bitfit_shrinks_to_the_query_and_first_ffn_biases(minilm):
    full = count_dims(baseline("bitfit", minilm), minilm).peft_params
    small = _fitted(minilm, full - 1)
    assert small["bitfit@t2"] == {"bitfit": {"q": 1, "ffn_in": 1}}
    assert count_dims(baseline("bitfit@t2", minilm), minilm).peft_params == 6 * (384 + 1536)
    assert "bitfit" not in small and "bitfit" in _fitted(minilm, full)


def test_shrunk_counts_match_the_built_model(minilm_config):
    from transformers import AutoConfig, BertForSequenceClassification

    config = AutoConfig.for_model(**minilm_config)
    with torch.device("meta"):
        model = BertForSequenceClassification(config)
    dims = dims_from_config(minilm_config, resolve(minilm_config))
    for name in ("ia3@t2", "ia3@t1", "bitfit@t2"):
        cand = baseline(name, dims)
        peft = apply(model, cand)
        try:
            head = {id(p) for _, p in peft.head_parameters()}
            trained = sum(p.numel() for p in model.parameters() if p.requires_grad and id(p) not in head)
            assert trained == count_dims(cand, dims).train_params, name
        finally:
            peft.detach()


def test_bitfit_is_no_baseline_on_a_backbone_without_biases():
    config = tiny_llama_config().to_dict()
    dims = dims_from_config(config, resolve(config))  # llama: no linear biases, RMSNorm without bias
    with pytest.raises(UserError, match="nothing to attach to"):  # not an empty candidate of 0 parameters
        baseline("bitfit@t2", dims)
    names = [name for name, _ in fitted(dims, None)]
    assert "ia3" in names and not any(name.startswith("bitfit") for name in names)


@pytest.mark.parametrize("name", ["ia3@t0", "ia3@t4", "bitfit@t8"])
def test_target_counts_out_of_range_are_one_line_errors(minilm, name):
    with pytest.raises(UserError, match=r"keep 1 to \d targets"):
        baseline(name, minilm)
