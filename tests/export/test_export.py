"""Exports reproduce the trained candidate: peft for LoRA, native for hybrids, merged models."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForSequenceClassification

import autopeft
from autopeft.errors import UserError
from autopeft.export.exporter import Request, export
from autopeft.export.probe import logits_of, probe_inputs
from tests.helpers.runs import HYBRID, LABELS, LORA, make_run, restored


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def test_lora_winner_exports_to_peft_and_matches(tmp_path, backbone):
    from peft import PeftModel
    from peft.tuners.lora import LoraLayer

    run = make_run(tmp_path, backbone, [(LORA, 0.7)])
    lines = export(Request(run, tmp_path / "out", "peft", best=True))
    assert any("logits match" in line for line in lines)
    config = json.loads((tmp_path / "out" / "adapter_config.json").read_text())
    # one fully qualified key per module: the trap of `output.dense` matching two modules
    assert set(config["rank_pattern"]) == {
        "bert.encoder.layer.0.attention.self.query", "bert.encoder.layer.0.attention.self.value",
        "bert.encoder.layer.1.attention.self.query", "bert.encoder.layer.1.output.dense"}
    base = AutoModelForSequenceClassification.from_pretrained(backbone, num_labels=len(LABELS))
    loaded = PeftModel.from_pretrained(base, str(tmp_path / "out"))
    ranks = {n: m.r["default"] for n, m in loaded.base_model.model.named_modules() if isinstance(m, LoraLayer)}
    assert ranks == {"bert.encoder.layer.0.attention.self.query": 4, "bert.encoder.layer.0.attention.self.value": 2,
                     "bert.encoder.layer.1.attention.self.query": 2, "bert.encoder.layer.1.output.dense": 3}
    ours = restored(backbone, run, 0)
    inputs = probe_inputs(ours, seed=7)
    assert _close(logits_of(loaded, inputs), logits_of(ours, inputs))


def test_peft_best_takes_the_best_member_peft_can_load_and_says_what_it_gives_up(tmp_path, backbone):
    from peft import PeftModel

    run = make_run(tmp_path, backbone, [(HYBRID, 0.8), (LORA, 0.7)])
    lines = export(Request(run, tmp_path / "out", "peft", best=True))
    assert "trial 0" in lines[0] and "serial adapters" in lines[0] and "Writing trial 1" in lines[0]
    assert "-0.1000" in lines[0]  # the score given up against the overall best
    assert not (tmp_path / "out" / "autopeft_config.json").exists()
    base = AutoModelForSequenceClassification.from_pretrained(backbone, num_labels=len(LABELS))
    loaded = PeftModel.from_pretrained(base, str(tmp_path / "out"))
    ours = restored(backbone, run, 1)
    inputs = probe_inputs(ours, seed=2)
    assert _close(logits_of(loaded, inputs), logits_of(ours, inputs))


@pytest.mark.parametrize("trials, request_kw, expected", [
    ([(HYBRID, 0.8), (LORA, 0.7)], {"trial": "0"}, "nearest trial peft can load is trial 1"),
    ([(HYBRID, 0.8)], {"best": True}, "no front member"),
    ([(HYBRID, 0.8)], {"knee": True}, "no trial of this run can be"),
])
def test_peft_never_writes_another_format(tmp_path, backbone, trials, request_kw, expected):
    run = make_run(tmp_path, backbone, trials)
    with pytest.raises(UserError, match=expected):
        export(Request(run, tmp_path / "out", "peft", **request_kw))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_hybrid_exports_natively_and_loads(tmp_path, backbone):
    run = make_run(tmp_path, backbone, [(HYBRID, 0.8)])
    export(Request(run, tmp_path / "out", "native", trial="0"))
    assert (tmp_path / "out" / "autopeft_config.json").is_file()
    assert not (tmp_path / "out" / "adapter_config.json").exists()
    model = AutoModelForSequenceClassification.from_pretrained(backbone, num_labels=len(LABELS))
    model.train()
    assert autopeft.load(model, tmp_path / "out").eval() is model  # the model back, as peft's from_pretrained
    assert not model.training
    peft = model.autopeft
    assert peft.candidate.methods == ["bitfit", "ia3", "lora", "prefix", "serial_adapter"]
    assert model.config.id2label == dict(enumerate(LABELS))
    ours = restored(backbone, run, 0)
    inputs = probe_inputs(ours, seed=3)
    assert _close(logits_of(model, inputs), logits_of(ours, inputs))
    with pytest.raises(UserError, match="already holds an autopeft export"):
        autopeft.load(model, tmp_path / "out")
    # the untouched backbone gives other logits: the comparison above can fail
    model.autopeft.detach()
    assert not hasattr(model, "autopeft")
    assert not _close(logits_of(model, inputs), logits_of(ours, inputs))
    autopeft.load(model, tmp_path / "out")  # detached, it takes an export again
    assert _close(logits_of(model, inputs), logits_of(ours, inputs))


def test_merged_folds_lora_ia3_bitfit_and_keeps_the_rest(tmp_path, backbone):
    run = make_run(tmp_path, backbone, [(HYBRID, 0.8)])
    lines = export(Request(run, tmp_path / "out", "native", trial="0", merged=True))
    assert any("could not fold prefix, serial_adapter" in line for line in lines)
    merged = tmp_path / "out" / "merged"
    config = json.loads((merged / "autopeft_config.json").read_text())
    assert sorted(config["candidate"]["globals"]) == ["prefix", "serial_adapter"]
    model = AutoModelForSequenceClassification.from_pretrained(merged)
    model.eval()
    autopeft.load(model, merged)
    ours = restored(backbone, run, 0)
    inputs = probe_inputs(ours, seed=5)
    assert _close(logits_of(model, inputs), logits_of(ours, inputs))


def test_merged_lora_only_is_a_plain_transformers_model(tmp_path, backbone):
    run = make_run(tmp_path, backbone, [(LORA, 0.7)])
    export(Request(run, tmp_path / "out", "native", trial="0", merged=True))
    merged = tmp_path / "out" / "merged"
    assert not (merged / "autopeft_config.json").exists()
    model = AutoModelForSequenceClassification.from_pretrained(merged)
    ours = restored(backbone, run, 0)
    inputs = probe_inputs(ours, seed=1)
    assert _close(logits_of(model, inputs), logits_of(ours, inputs))


def test_without_kept_weights_writes_the_configuration(tmp_path, backbone):
    run = make_run(tmp_path, backbone, [(LORA, 0.7)], keep=False)
    with pytest.raises(UserError, match="no kept weights"):  # peft gets a trained adapter or nothing
        export(Request(run, tmp_path / "peft", "peft", trial="0"))
    lines = export(Request(run, tmp_path / "out", "native", trial="0"))
    assert any("autopeft train" in line and "candidate.json" in line for line in lines)
    config = json.loads((tmp_path / "out" / "autopeft_config.json").read_text())
    assert config["weights"] is None and config["candidate"]["layers"][0] == {"lora": {"q": 4, "v": 2}}
    assert not (tmp_path / "out" / "adapter.safetensors").exists()
