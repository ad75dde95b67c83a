"""`search --exportable peft`: only candidates peft can load are searched, and the front exports to peft."""

import json

import pytest

from autopeft.errors import UserError
from autopeft.export.peft_format import peft_blockers
from autopeft.methods.candidate import Candidate
from autopeft.search.api import search
from autopeft.search.evaluator import SyntheticEvaluator


def test_every_candidate_is_peft_loadable(tmp_path):
    res = search("tweet_sentiment", strategy="random", trials=6, exportable="peft", out=tmp_path / "run",
                 evaluator=SyntheticEvaluator(), keep_weights="none")
    assert res.info["space"] == "lora" and res.info["settings"]["exportable"] == "peft"
    done = res.trials[res.trials["state"] == "complete"]
    assert len(done) == 6
    assert all(not peft_blockers(Candidate.from_json(c)) for c in done["candidate"])
    # the negative control: the default space's random candidates are mostly not peft-loadable
    full = search("tweet_sentiment", strategy="random", trials=6, out=tmp_path / "full",
                  evaluator=SyntheticEvaluator(), keep_weights="none")
    assert any(peft_blockers(Candidate.from_json(c)) for c in full.trials["candidate"])


@pytest.mark.parametrize("kw, expected", [
    ({"space": "full"}, "cannot load"),
    ({"space": "autopeft", "strategy": "autopeft-paper"}, "cannot load"),
    ({"space": "lora", "exportable": "onnx"}, "--exportable 'onnx'"),
])
def test_spaces_peft_cannot_load_are_refused(tmp_path, kw, expected):
    kw = {"exportable": "peft", "strategy": "random"} | kw
    with pytest.raises(UserError, match=expected):
        search("tweet_sentiment", trials=1, out=tmp_path / "run", evaluator=SyntheticEvaluator(), **kw)


def test_the_front_of_a_real_exportable_search_loads_in_peft(tmp_path, monkeypatch):
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    from autopeft.export.exporter import Request, export
    from tests.helpers.models import tiny_task

    monkeypatch.setenv("AUTOPEFT_CACHE", str(tmp_path / "cache"))
    model, task = tiny_task(tmp_path)
    res = search(task, model=model, strategy="random", trials=2, budget="20%", exportable="peft",
                 fidelity="steps=3,eval=40,batch=8", out=tmp_path / "run")
    assert len(res.front)
    lines = export(Request(tmp_path / "run", tmp_path / "out", "peft", best=True))
    assert any("logits match" in line for line in lines)
    config = json.loads((tmp_path / "out" / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["rank_pattern"]
    PeftModel.from_pretrained(AutoModelForSequenceClassification.from_pretrained(model, num_labels=2),
                              str(tmp_path / "out"))
