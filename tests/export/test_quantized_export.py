"""A quantized search's exports load onto the full-precision backbone (peft and native), a full-precision
run's onto a quantized one, each with the logit difference stated; run.json and the report say the
backbone's precision; a missing bitsandbytes is one line at the command line."""

import json
import sys

import pytest
import torch

from autopeft.export.exporter import Request, export
from autopeft.search.api import search
from tests.helpers.models import tiny_task

pytest.importorskip("bitsandbytes")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_task(tmp_path_factory.mktemp("quantized-task"))


def _search(tmp_path, tiny, quantize):
    model, task = tiny
    return search(task, model=model, strategy="random", trials=2, budget="20%", exportable="peft", quantize=quantize,
                  fidelity="steps=3,eval=40,batch=8", out=tmp_path / f"run-{quantize}")


def test_a_4bit_search_exports_onto_the_full_precision_backbone(tmp_path, tiny, monkeypatch):
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    import autopeft
    from autopeft.backbones import load_task_model
    from autopeft.evaluators.quantize import is_quantized
    from autopeft.report.build import build_report

    monkeypatch.setenv("AUTOPEFT_CACHE", str(tmp_path / "cache"))
    model, _ = tiny
    res = _search(tmp_path, tiny, "4bit")
    done = res.trials[res.trials["state"] == "complete"]
    assert len(done) == 2 and done["score"].notna().all()
    info = json.loads((res.run_dir / "run.json").read_text())
    assert info["precision"]["quantize"] == "4bit"
    assert info["backbone"]["quantize"] == "4bit" and info["backbone"]["quantized_linears"] == 12
    build_report(res.run_dir)
    assert "backbone 4bit (NF4, double quantization)" in (res.run_dir / "report" / "front.md").read_text()

    for fmt in ("native", "peft"):
        lines = export(Request(res.run_dir, tmp_path / fmt, fmt, best=True))
        stated = [line for line in lines if "trained on a 4bit backbone, exported onto fp32" in line]
        assert len(stated) == 1 and "differ from the 4bit backbone's by" in stated[0]
        assert any("logits match" in line for line in lines)
    meta = json.loads((tmp_path / "native" / "autopeft_config.json").read_text())
    assert meta["source"]["precision"]["trained_on"] == "4bit"
    assert meta["source"]["precision"]["max_rel_logit_diff"] > 0  # 4-bit weights really differ
    # both load onto a plain full-precision backbone, and agree with each other there
    plain = AutoModelForSequenceClassification.from_pretrained(model, num_labels=2)
    native = autopeft.load(load_task_model(model, 2), tmp_path / "native").eval()
    reloaded = PeftModel.from_pretrained(plain, str(tmp_path / "peft")).eval()
    assert not is_quantized(native) and not is_quantized(reloaded)
    ids = torch.randint(5, plain.config.vocab_size, (3, 9))
    with torch.no_grad():
        assert torch.allclose(native(input_ids=ids).logits, reloaded(input_ids=ids).logits, atol=1e-5)


def test_a_full_precision_run_exports_onto_a_4bit_backbone(tmp_path, tiny, monkeypatch):
    import autopeft
    from autopeft.backbones import load_task_model
    from autopeft.evaluators.quantize import is_quantized

    monkeypatch.setenv("AUTOPEFT_CACHE", str(tmp_path / "cache"))
    model, _ = tiny
    res = _search(tmp_path, tiny, None)
    assert json.loads((res.run_dir / "run.json").read_text())["backbone"]["quantize"] == "fp32"
    lines = export(Request(res.run_dir, tmp_path / "q", "native", best=True, quantize="4bit"))
    assert any("trained on a fp32 backbone, exported onto 4bit" in line for line in lines)
    assert any("reloaded with autopeft.load onto a 4bit backbone, logits match" in line for line in lines)
    loaded = autopeft.load(load_task_model(model, 2, quantize="4bit"), tmp_path / "q")
    assert is_quantized(loaded)
    # the negative control: exporting at the run's own precision states no difference
    same = export(Request(res.run_dir, tmp_path / "same", "native", best=True))
    assert not any("trained on a" in line for line in same)


@pytest.mark.parametrize("command", ["search", "train", "export"])
def test_missing_bitsandbytes_is_one_line_and_status_2(tmp_path, tiny, monkeypatch, capsys, command):
    from autopeft.cli import main

    model, task = tiny
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # as if it were not installed
    args = {"search": ["search", "--task", task, "--model", model, "--out", str(tmp_path / "r")],
            "train": ["train", "lora-r8", "--task", task, "--model", model],
            "export": ["export", str(tmp_path / "r"), "--best", "--out", str(tmp_path / "o")]}[command]
    monkeypatch.setattr(sys, "argv", ["autopeft", *args, "--quantize", "4bit"])
    with pytest.raises(SystemExit) as exc:
        main()
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and "needs bitsandbytes, which cannot be imported" in err[0]


def test_an_unsupported_device_is_one_line(tmp_path, tiny, monkeypatch, capsys):
    from autopeft.cli import main

    model, task = tiny
    monkeypatch.setenv("AUTOPEFT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "argv", ["autopeft", "train", "lora-r8", "--task", task, "--model", model,
                                      "--quantize", "8bit", "--device", "mps"])
    with pytest.raises(SystemExit) as exc:
        main()
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and "runs on the CPU or CUDA, not 'mps'" in err[0]
