"""Bad exports and bad input give one clear line (exit 2 from the CLI); nothing is pickled."""

from __future__ import annotations

import json
import pickle
import sys

import pytest
import torch
from transformers import AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification

import autopeft
from autopeft.cli import main
from autopeft.errors import UserError
from autopeft.export.exporter import Request, export
from tests.helpers.runs import HYBRID, LABELS, LORA, make_run


def _cli(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["autopeft", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    return exc.value.code, capsys.readouterr().err


@pytest.fixture()
def native(tmp_path, backbone):
    run = make_run(tmp_path, backbone, [(HYBRID, 0.8)])
    export(Request(run, tmp_path / "out", "native", trial="0"))
    return tmp_path / "out"


def _model(backbone: str):
    return AutoModelForSequenceClassification.from_pretrained(backbone, num_labels=len(LABELS))


def test_wrong_backbone_weights(native, backbone):
    model = _model(backbone)
    with torch.no_grad():
        model.bert.embeddings.word_embeddings.weight.mul_(1.01)
    with pytest.raises(UserError, match="weights differ"):
        autopeft.load(model, native)
    assert not any("autopeft_" in n for n, _ in model.named_modules()) and not hasattr(model, "autopeft")


def test_wrong_backbone_architecture(native):
    config = BertConfig(hidden_size=48, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                        vocab_size=120, max_position_embeddings=64, num_labels=3)
    with pytest.raises(UserError, match="config differs"):
        autopeft.load(BertForSequenceClassification(config), native)


def test_missing_weight_file(native, backbone):
    (native / "adapter.safetensors").unlink()
    with pytest.raises(UserError, match="not found"):
        autopeft.load(_model(backbone), native)


def test_corrupted_weight_file(native, backbone):
    path = native / "adapter.safetensors"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(UserError, match="corrupted") as exc:
        autopeft.load(_model(backbone), native)
    assert "\n" not in str(exc.value)


def test_newer_format_version(native, backbone):
    path = native / "autopeft_config.json"
    config = json.loads(path.read_text())
    config["format_version"] = 99
    path.write_text(json.dumps(config))
    with pytest.raises(UserError, match="newer than this autopeft"):
        autopeft.load(_model(backbone), native)


def test_newer_candidate_version(native, backbone):
    path = native / "autopeft_config.json"
    config = json.loads(path.read_text())
    config["candidate"]["format_version"] = 7
    path.write_text(json.dumps(config))
    with pytest.raises(UserError, match="candidate format version 7"):
        autopeft.load(_model(backbone), native)


def test_cli_corrupted_trial_weights_exit_2(tmp_path, backbone, monkeypatch, capsys):
    run = make_run(tmp_path, backbone, [(LORA, 0.7)])
    (run / "weights" / "trial-0.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    code, err = _cli(monkeypatch, capsys, "export", str(run), "--trial", "0", "--out", str(tmp_path / "o"))
    assert code == 2
    assert err.startswith("error: ") and "corrupted" in err and err.count("\n") == 1


def test_cli_wrong_backbone_exit_2(tmp_path, backbone, monkeypatch, capsys):
    run = make_run(tmp_path, backbone, [(LORA, 0.7)])
    other = tmp_path / "other"
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                        vocab_size=120, max_position_embeddings=64)
    BertForSequenceClassification(config).bert.save_pretrained(other)  # same shape, other weights
    (run / "run.json").write_text(json.dumps({"model": str(other), "task": "toy"}))
    tw_path = run / "weights" / "trial-0.safetensors"
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(tw_path), "pt") as f:
        meta = f.metadata()
    save_file(load_file(str(tw_path)), str(tw_path), metadata=meta | {"backbone": str(other)})
    code, err = _cli(monkeypatch, capsys, "export", str(run), "--best", "--out", str(tmp_path / "o"))
    assert code == 2 and "not the one the trial was trained on" in err and err.count("\n") == 1


@pytest.mark.parametrize("args, message", [
    (["--trial", "9"], "no trial 9"),
    (["--best", "--knee"], "exactly one of"),
    (["--trial", "0", "--format", "onnx"], "unknown format"),
    (["--knee", "--budget", "1%"], "--best only"),
])
def test_cli_bad_selection_exit_2(tmp_path, backbone, monkeypatch, capsys, args, message):
    run = make_run(tmp_path, backbone, [(LORA, 0.7)], keep=False)
    code, err = _cli(monkeypatch, capsys, "export", str(run), *args, "--out", str(tmp_path / "o"))
    assert code == 2 and message in err


def test_no_pickle_written_or_read(tmp_path, backbone, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pickle used")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    run = make_run(tmp_path, backbone, [(LORA, 0.7), (HYBRID, 0.8)])
    export(Request(run, tmp_path / "a", "peft", trial="0", merged=True))
    export(Request(run, tmp_path / "b", "native", trial="1", merged=True))
    autopeft.load(_model(backbone), tmp_path / "b")
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert not [p for p in written if p.suffix in (".bin", ".pt", ".pth", ".pkl", ".ckpt")]
    for path in written:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), "pt") as f:  # parses: really safetensors
                assert list(f.keys())
        else:
            assert not path.read_bytes().startswith(b"\x80"), path  # a pickle stream starts with PROTO 0x80


def test_another_label_set_is_refused(native, backbone):
    """An export's head is for its task's labels: a model built for another number of labels is one line,
    and nothing is attached."""
    model = AutoModelForSequenceClassification.from_pretrained(backbone, num_labels=len(LABELS) + 1)
    with pytest.raises(UserError, match=f"exported for {len(LABELS)} labels .* head has {len(LABELS) + 1}"):
        autopeft.load(model, native)
    assert not any("autopeft_" in n for n, _ in model.named_modules()) and not hasattr(model, "autopeft")
    assert autopeft.load(_model(backbone), native).autopeft is not None  # the right head loads
