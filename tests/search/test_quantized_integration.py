"""4-bit and 8-bit searches on the embedded defaults (MiniLM, tweets) end to end on the CPU, and their
exports load onto the full-precision MiniLM (trains for real: marked integration)."""

import json
import subprocess
import sys

import pandas as pd
import pytest


@pytest.mark.integration
@pytest.mark.parametrize("quantize", ["4bit", "8bit"])
def test_quantized_search_on_embedded_defaults(tmp_path, quantize):
    pytest.importorskip("bitsandbytes")
    import autopeft
    from autopeft.backbones import load_task_model
    from autopeft.evaluators.quantize import is_quantized

    out = tmp_path / "run"
    cli = [sys.executable, "-c", "from autopeft.cli import main; main()"]
    proc = subprocess.run([*cli, "search", "--task", "tweet_sentiment", "--strategy", "random", "--trials", "2",
                           "--fidelity", "steps=5,eval=100", "--quantize", quantize, "--no-test-scores",
                           "--out", str(out)],
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "finished" and info["budget"]["peft_params"] == 113566  # the budget is unchanged
    assert info["backbone"]["quantize"] == quantize
    assert info["backbone"]["footprint_mb"] < info["backbone"]["fp32_backbone_mb"]
    trials = pd.read_csv(out / "trials.csv")
    done = trials[trials["state"] == "complete"]
    assert len(done) == 2 and done["score"].between(0, 1).all()
    proc = subprocess.run([*cli, "export", str(out), "--best", "--out", str(tmp_path / "export")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"trained on a {quantize} backbone, exported onto fp32" in proc.stdout
    exported = json.loads((tmp_path / "export" / "autopeft_config.json").read_text())
    model = autopeft.load(load_task_model("minilm", 3), tmp_path / "export")
    assert not is_quantized(model) and model.autopeft.peft_params == exported["counts"]["peft_params"]
