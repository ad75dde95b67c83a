"""The AdapterHub export's config and key names (checked against adapters itself in experiments/)."""

from __future__ import annotations

import json

from autopeft.export.adapters_format import adapter_config, adapter_tensors, adapters_blockers
from autopeft.export.exporter import Request, export
from tests.helpers.runs import HYBRID, make_run, trained

UNION = {"layers": [{"serial_adapter": {"ffn": 4}, "lora": {"q": 2, "v": 2}},
                    {"parallel_adapter": {"attn": 8}, "lora": {"q": 2, "v": 2}}]}


def test_union_config_and_keys(backbone):
    _, peft = trained(backbone, UNION, seed=0)
    config = adapter_config(peft, "BertForSequenceClassification")["config"]
    assert config["architecture"] == "union"
    # the union's order carries no meaning in adapters: find each config by what it is
    lora = next(c for c in config["configs"] if c["architecture"] == "lora")
    serial, parallel = sorted((c for c in config["configs"] if c is not lora), key=lambda c: c["is_parallel"])
    assert serial["output_adapter"] and serial["reduction_factor"]["0"] == 8 and serial["leave_out"] == [1]
    assert parallel["is_parallel"] and parallel["mh_adapter"] and parallel["reduction_factor"]["1"] == 4
    assert lora["r"] == 2 and lora["attn_matrices"] == ["q", "v"]
    keys = set(adapter_tensors(peft))
    assert "bert.encoder.layer.0.output.adapters.autopeft.adapter_down.0.weight" in keys
    assert "bert.encoder.layer.1.attention.output.adapters.autopeft.adapter_up.bias" in keys
    assert "bert.encoder.layer.1.attention.self.value.loras.autopeft.lora_B" in keys
    assert len(keys) == 4 * 2 + 2 * 4


def test_inexpressible_parts_are_named_and_native_written(tmp_path, backbone):
    _, peft = trained(backbone, HYBRID, seed=0)
    reasons = " ".join(adapters_blockers(peft.candidate, peft))
    assert "BitFit" in reasons and "prefix" in reasons and "(IA)3" in reasons
    run = make_run(tmp_path, backbone, [(HYBRID, 0.8)])
    lines = export(Request(run, tmp_path / "out", "adapters", trial="0"))
    assert any(line.startswith("adapters cannot express BitFit") for line in lines)
    assert json.loads((tmp_path / "out" / "autopeft_config.json").read_text())["weights"] == "adapter.safetensors"
