"""`--strategy adalora` on a tiny BERT: AdaLoRA trials at shares of the budget, each followed by plain
LoRA on the allocation it found; every recorded candidate fits and counts exactly; resume continues."""

import json

import pytest

from autopeft.errors import UserError
from autopeft.search.api import search
from tests.helpers.models import tiny_task

FIDELITY = "steps=30,eval=80,batch=16"
OPTIONS = {"lr": 3e-2, "init_r": 4}


@pytest.fixture()
def tiny(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOPEFT_CACHE", str(tmp_path / "cache"))
    return tiny_task(tmp_path)


def test_adalora_front_pairs_and_exact_counts(tiny, tmp_path):
    from autopeft.backbones import load_task_model
    from autopeft.methods.attach import apply

    model, task = tiny
    res = search(task, model=model, strategy="adalora", trials=4, budget="20%", fidelity=FIDELITY,
                 out=tmp_path / "run", strategy_options=OPTIONS)
    df = res.trials[res.trials["kind"] == "search"].reset_index(drop=True)
    assert list(df["state"]) == ["complete"] * 4
    budget = res.info["budget"]["peft_params"]
    ada, plain = df.iloc[[0, 2]], df.iloc[[1, 3]]
    assert ada["recipe"].str.contains("adalora").all() and (plain["recipe"] == "").all()
    targets = [json.loads(r)["target_params"] for r in ada["recipe"]]
    assert targets == [budget, budget // 2]  # all of the budget, then half
    assert (ada["peft_params"].to_numpy() <= targets).all()
    assert list(plain["candidate"]) == list(ada["candidate"])  # the same allocation, trained as plain LoRA
    assert "trial 0" in plain.iloc[0]["origin"]
    net = load_task_model(model, 2, "single_label_classification")
    for r in df.itertuples():  # the count recorded is the built model's
        attached = apply(net, r.candidate)
        assert attached.peft_params == r.peft_params <= budget
        attached.detach()
    front = res.front
    assert front["test_score"].notna().all()
    assert (tmp_path / "run" / "weights").is_dir()
    # the report sets each AdaLoRA trial beside its plain-LoRA twin
    from autopeft.report.build import build_report

    md = build_report(tmp_path / "run")["front"].read_text()
    section = md.split("## AdaLoRA: its allocation or its schedule?")[1]
    assert section.count("\n| 0 | 1 |") == 1 and section.count("\n| 2 | 3 |") == 1


def test_resume_runs_the_pending_retrain_then_the_next_share(tiny, tmp_path):
    model, task = tiny
    out = tmp_path / "run"
    search(task, model=model, strategy="adalora", trials=1, budget="20%", fidelity=FIDELITY, out=out,
           strategy_options=OPTIONS)
    res = search(resume=out, trials=3)
    df = res.trials[res.trials["kind"] == "search"]
    assert list(df["origin"].str.split().str[0]) == ["AdaLoRA", "plain", "AdaLoRA"]
    assert df.iloc[1]["candidate"] == df.iloc[0]["candidate"]


def test_adalora_needs_a_lora_only_space(tiny, tmp_path):
    model, task = tiny
    with pytest.raises(UserError, match="LoRA ranks only"):
        search(task, model=model, strategy="adalora", space="full", trials=1, budget="20%", fidelity=FIDELITY,
               out=tmp_path / "run")
