"""Walk the registry: every method is attachable, elastic, counted exactly and has an export answer,
through nothing but its own folder (spec, module, export) and its registry line."""

from __future__ import annotations

import random

import pytest
import torch

from autopeft.export.adapters_format import adapter_config, adapter_tensors, adapters_blockers
from autopeft.export.merged import merged_state, split_candidate
from autopeft.export.peft_format import peft_blockers, write_peft
from autopeft.methods.attach import apply
from autopeft.methods.common import Elastic
from autopeft.methods.registry import ATTACH_ORDER, METHODS, export_module, method_module
from autopeft.space.loader import bind_space
from autopeft.supernet import Supernet
from tests.helpers.supernet import assert_slice_matches_plain

IDS = torch.tensor([[2, 5, 9, 14, 3, 7, 1], [2, 8, 11, 4, 6, 0, 0]])
MASK = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0]])
PEFT_FUNCTIONS = ("peft_config", "peft_copy", "peft_check")
ADAPTERS_FUNCTIONS = ("adapters_configs", "adapters_tensors")


def _model(backbone: str):
    from autopeft.backbones import load_task_model

    torch.manual_seed(0)
    return load_task_model(backbone, 2, "single_label_classification").eval()


def _space(method: str, config: dict, slots: tuple[str, ...] | None = None):
    """A space of `method` alone: each available slot off or one of two sizes (on/off for flags)."""
    spec = METHODS[method]
    sizes = {s: [0, 1] if spec.flag else [0, 2, 4] for s in slots or spec.slots}
    return bind_space({"name": method, "methods": {method: {"sizes": sizes}}}, config)


def _logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=IDS, attention_mask=MASK).logits


def _perturb(params) -> None:
    """Move trained tensors off their init, so that a wrong slice, fold or copy shows."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in params:
            p.add_(torch.randn_like(p) * 0.1)


def test_the_registry_declares_an_order_a_name_and_a_colour_for_every_method():
    assert sorted(ATTACH_ORDER) == sorted(METHODS)
    ranks = [METHODS[m].attach_rank for m in METHODS]
    assert len(set(ranks)) == len(ranks), "two methods with one attach rank: their hook order is undefined"
    for field in ("label", "colour"):
        values = [getattr(spec, field) for spec in METHODS.values()]
        assert len(set(values)) == len(values), f"two methods share a {field}"


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_attaches_counts_exactly_and_detaches(method, backbone):
    model = _model(backbone)
    base = _logits(model)
    bound = _space(method, model.config.to_dict())
    largest = bound.decode({g.name: g.largest() for g in bound.genes})
    peft = apply(model, largest)
    trained = [p for ps in peft.groups.values() for _, p in ps]
    assert sum(p.numel() for p in trained) == bound.params(largest) > 0  # default globals: no reparam MLP
    if METHODS[method].identity_at_init:
        torch.testing.assert_close(_logits(model), base, atol=1e-5, rtol=1e-4)
    _perturb(trained)
    assert not torch.allclose(_logits(model), base), "training its tensors changes nothing"
    peft.detach()
    torch.testing.assert_close(_logits(model), base)


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_is_elastic_in_a_supernet(method, backbone):
    """Each sub-candidate's slice computes what the plain candidate with the sliced weights does."""
    module = method_module(method)
    assert hasattr(module, "elastic_modules") or hasattr(module, "attach_elastic")
    supermodel, plain = _model(backbone), _model(backbone)
    bound = _space(method, supermodel.config.to_dict())
    net = Supernet(supermodel, bound)
    assert all(isinstance(s.module, Elastic) for s in net.slots) and net.slots
    _perturb(net.parameters())
    rng, seen, fresh = random.Random(0), 0, _model(backbone).state_dict()
    for _ in range(6):
        _, cand = bound.sample(rng)
        if cand is None or cand.is_empty():
            continue
        seen += 1
        assert_slice_matches_plain(net, bound, cand, plain, fresh, {"input_ids": IDS, "attention_mask": MASK})
    assert seen


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_has_an_export_answer(method, backbone, tmp_path):
    """peft: a method with a `peft_type` round-trips through `PeftModel.from_pretrained` (write_peft
    checks modules and logits); every other one is refused with a reason. Likewise AdapterHub, and a
    merged model folds exactly what the spec says folds."""
    spec = METHODS[method]
    model = _model(backbone)
    # LoRA on q and v only: the projections AdapterHub's LoRAConfig can hold
    slots = ("q", "v") if method == "lora" else None
    bound = _space(method, model.config.to_dict(), slots)
    largest = bound.decode({g.name: g.largest() for g in bound.genes})
    peft = apply(model, largest)
    _perturb([p for ps in peft.groups.values() for _, p in ps])

    blockers = peft_blockers(largest)
    if spec.peft_type:
        assert all(hasattr(export_module(method), f) for f in PEFT_FUNCTIONS)
        assert not blockers
        assert "logits match" in write_peft(tmp_path / "peft", model, peft, backbone, 2, "single_label_classification")
    else:
        assert blockers and all(isinstance(b, str) and b for b in blockers)

    reasons = adapters_blockers(largest, peft)
    if spec.adapters:
        assert all(hasattr(export_module(method), f) for f in ADAPTERS_FUNCTIONS)
        assert not reasons
        assert adapter_config(peft, type(model).__name__)["config"]
        assert sum(t.numel() for t in adapter_tensors(peft).values()) == bound.params(largest)
    else:
        assert reasons

    folded, remainder = split_candidate(largest)
    if spec.folds(largest.globals.get(method, {})):
        assert folded == [method] and remainder is None
        merged = _model(backbone)
        merged.load_state_dict(merged_state(model, folded))
        torch.testing.assert_close(_logits(merged), _logits(model), atol=1e-5, rtol=1e-4)
    else:
        assert folded == [] and remainder is not None
    peft.detach()
