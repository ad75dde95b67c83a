"""Quantized backbones: what stays fp32, every method on 4-bit and 8-bit linears, the counts unchanged,
the eval-repacking trap on AVX512-BF16 CPUs (both branches of the detection), and one-line errors."""

import sys

import pytest
import torch

from autopeft.backbones import load_task_model
from autopeft.errors import UserError
from autopeft.evaluators import quantize as qz
from autopeft.evaluators.fidelity import parse_fidelity
from autopeft.evaluators.job import Job
from autopeft.evaluators.tasks import task_ref
from autopeft.evaluators.worker import Worker, WorkerSpec
from autopeft.methods.attach import apply
from autopeft.methods.candidate import Candidate
from tests.helpers.models import save_tiny_bert

pytest.importorskip("bitsandbytes")

FLAGGED = "processor : 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n"
PLAIN = "processor : 0\nflags\t\t: fpu avx2 fma\n"
# every method of the catalogue: LoRA and (IA)3 on quantized linears, BitFit on a quantized linear's
# bias and a layer norm's, adapters, prefix and prompt tokens beside them
EVERY_METHOD = Candidate(
    [{"lora": {"q": 4, "v": 4}, "ia3": {"k": 1, "v": 1, "ffn": 1}, "bitfit": {"q": 1, "ffn_out": 1, "ln": 1},
      "serial_adapter": {"ffn": 4}, "prompt": {"insert": 1}},
     {"prefix": {"length": 3}, "parallel_adapter": {"attn": 4}, "ln_tuning": {"ln": 1}}],
    {"prompt": {"length": 2}})


@pytest.fixture(scope="module")
def bert64(tmp_path_factory):
    """Hidden 64: bitsandbytes' CPU repacking needs rows of at least one 64-weight block."""
    return save_tiny_bert(tmp_path_factory.mktemp("bert64"), extra_words=20, hidden=64)


def _batch(model):
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(5, model.config.vocab_size, (4, 10), generator=gen)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor([0, 1, 0, 1])}


def _grads(model, batch):
    model.train()
    loss = model(**batch).loss
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return float(loss.detach()), grads


@torch.no_grad()
def _eval_forward(model, batch):
    model.eval()
    with torch.inference_mode():
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])


@pytest.mark.parametrize("value, parsed", [(None, None), ("none", None), ("fp32", None), ("4bit", "4bit"),
                                           ("8BIT", "8bit")])
def test_parse_quantize(value, parsed):
    assert qz.parse_quantize(value) == parsed


def test_unknown_quantization_is_one_line():
    with pytest.raises(UserError, match="use 4bit or 8bit"):
        qz.parse_quantize("3bit")


def test_missing_bitsandbytes_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # `import bitsandbytes` now raises ImportError
    with pytest.raises(UserError, match="needs bitsandbytes, which cannot be imported") as info:
        qz.require_bitsandbytes("4bit")
    assert "\n" not in str(info.value)


def test_unsupported_device_is_one_line():
    qz.check_device("4bit", "cuda:0")
    with pytest.raises(UserError, match="CPU or CUDA, not 'mps'"):
        qz.check_device("4bit", "mps")


def test_a_model_without_quantized_linears_is_refused(tiny_bert):
    plain = load_task_model(tiny_bert, 2)
    with pytest.raises(UserError, match="no linear layer bitsandbytes can quantize"):
        qz.check_quantized(plain, "4bit", tiny_bert, ["classifier"])


@pytest.mark.parametrize("quantize", ["4bit", "8bit"])
def test_head_and_pooler_stay_float32(tiny_bert, quantize):
    from transformers import AutoConfig, AutoModelForSequenceClassification

    assert qz.skip_modules(AutoModelForSequenceClassification, AutoConfig.from_pretrained(tiny_bert)) == [
        "classifier", "bert.pooler"]
    model = load_task_model(tiny_bert, 2, quantize=quantize)
    quantized = qz.quantized_modules(model)
    assert len(quantized) == 2 * 6  # q, k, v, o, ffn in and out of both layers
    assert type(model.classifier) is torch.nn.Linear and type(model.bert.pooler.dense) is torch.nn.Linear
    assert model.classifier.weight.dtype == model.bert.pooler.dense.weight.dtype == torch.float32


def test_the_bare_word_pooler_would_quantize_it(tiny_bert):
    """The negative control of the skip list: bitsandbytes matches full names, so `pooler` alone is ignored."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_bert, num_labels=2, quantization_config=qz.bnb_config("4bit", ["classifier", "pooler"]),
        device_map={"": "cpu"})
    assert "bert.pooler.dense" in qz.quantized_modules(model)


def test_llama_head_is_named_score():
    from transformers import AutoModelForSequenceClassification

    from tests.helpers.models import tiny_llama_config

    assert qz.skip_modules(AutoModelForSequenceClassification, tiny_llama_config()) == ["score"]


@pytest.mark.parametrize("quantize", ["4bit", "8bit"])
def test_every_method_trains_in_float32_on_a_quantized_backbone(bert64, quantize):
    plain = load_task_model(bert64, 2)
    torch.manual_seed(0)
    full_counts = apply(plain, EVERY_METHOD)
    model = load_task_model(bert64, 2, quantize=quantize)
    torch.manual_seed(0)
    peft = apply(model, EVERY_METHOD)
    # accounting is unchanged by quantization
    assert (peft.peft_params, peft.train_params, peft.head_params) == (
        full_counts.peft_params, full_counts.train_params, full_counts.head_params)
    assert set(peft.groups) == set(EVERY_METHOD.methods)
    _, grads = _grads(model, _batch(model))
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert all(p.dtype == torch.float32 for p in trainable.values())  # PEFT modules, biases and head: fp32
    # every trainable tensor gets a gradient, BitFit's bias on a quantized linear included
    assert "bert.encoder.layer.0.attention.self.query.bias" in grads
    assert type(model.bert.encoder.layer[0].attention.self.query).__name__ in ("Linear4bit", "Linear8bitLt")
    assert set(grads) == set(trainable)
    # the gradient reaches the same tensors as on the fp32 backbone (zero only where it is zero there: up
    # projections start at zero, so their partners get none on the first step)
    _, full = _grads(plain, _batch(plain))
    assert {n for n, g in grads.items() if g.abs().sum() > 0} == {n for n, g in full.items() if g.abs().sum() > 0}


@pytest.mark.parametrize("cpuinfo, guarded", [(FLAGGED, True), (PLAIN, False)])
def test_the_guard_follows_the_cpu_flags(bert64, tmp_path, cpuinfo, guarded):
    path = tmp_path / "cpuinfo"
    path.write_text(cpuinfo)
    assert qz.repacks_in_eval("cpu", path) is guarded
    assert not qz.repacks_in_eval("cuda", path)
    model = load_task_model(bert64, 2, quantize="4bit")
    for m in model.modules():  # as bitsandbytes leaves them on a CPU it detects as AVX512-BF16
        if hasattr(m, "support_avx512bf16_for_cpu"):
            m.support_avx512bf16_for_cpu = True
    assert qz.guard_eval_repack(model, "cpu", path) == (12 if guarded else 0)


def _trained_then_scored(bert64, monkeypatch, guarded: bool):
    """A 4-bit BERT with LoRA: its gradients on a batch, then an eval forward (the worker's scoring),
    with the repack guard on or off."""
    monkeypatch.setattr(qz, "repacks_in_eval", lambda device, cpuinfo=None: guarded)
    model = load_task_model(bert64, 2, quantize="4bit")
    apply(model, Candidate([{"lora": {"q": 4, "v": 4}}, {"lora": {"q": 4, "v": 4}}]))
    batch = _batch(model)
    before = _grads(model, batch)
    _eval_forward(model, batch)
    return model, batch, before


def test_train_eval_train_on_4bit(bert64, monkeypatch):
    """With the guard, training after an eval forward computes the same gradients as before it."""
    model, batch, before = _trained_then_scored(bert64, monkeypatch, guarded=True)
    assert qz.repacked(model) == []
    after = _grads(model, batch)
    assert before[0] == after[0] and all(torch.equal(before[1][n], after[1][n]) for n in before[1])


def test_without_the_guard_an_avx512_bf16_cpu_breaks_training(bert64, monkeypatch):
    """The trap itself (the negative control): only where bitsandbytes repacks, i.e. on this kind of CPU."""
    from bitsandbytes.functional import has_avx512bf16

    if not has_avx512bf16():
        pytest.skip("bitsandbytes does not repack on this CPU (no AVX512-BF16)")
    model, batch, before = _trained_then_scored(bert64, monkeypatch, guarded=False)
    assert qz.repacked(model)
    with pytest.raises(RuntimeError, match="repacked for CPU inference"):
        qz.check_trainable(model)
    try:
        after = _grads(model, batch)
    except RuntimeError:
        return  # it crashes, or ...
    assert set(after[1]) != set(before[1]) or any(  # ... trains with other gradients
        not torch.allclose(before[1][n], after[1][n]) for n in before[1])


@pytest.mark.parametrize("quantize", ["4bit", "8bit"])
def test_a_worker_reuses_a_quantized_backbone(bert64, tmp_path, quantize):
    """Two candidates in a row on one worker (train, score in eval, train again), recorded as quantized."""
    from tests.helpers.data import sentiment_rows, write_csv

    task = write_csv(tmp_path / "s.csv", ["text", "label"], sentiment_rows(200))
    worker = Worker(WorkerSpec(task_ref(str(task)), model=bert64, max_length=32, threads=1, quantize=quantize))
    fid = parse_fidelity("steps=4,eval=40,batch=8")
    results = [worker.evaluate(Job.of(c, fid, 0)) for c in (EVERY_METHOD, EVERY_METHOD)]
    assert all(r.ok for r in results), [r.reason for r in results]
    assert all(r.quantize == quantize for r in results)
    assert results[0].score == results[1].score  # the second run on the reused worker equals the first
    info = worker.backbone_info()
    assert info["quantize"] == quantize and info["quantized_linears"] == 12
    assert info["footprint_mb"] < worker_fp32_mb(bert64)


def worker_fp32_mb(model_dir) -> float:
    return load_task_model(model_dir, 2).get_memory_footprint() / 2**20


@pytest.mark.parametrize("quantize", ["4bit", "8bit"])
def test_the_config_estimate_matches_the_loaded_footprint(bert64, quantize):
    from autopeft.backbones import load_config
    from autopeft.methods.anatomy import dims_from_config, resolve

    config = load_config(bert64)
    dims = dims_from_config(config, resolve(config))
    measured = load_task_model(bert64, 2, quantize=quantize).get_memory_footprint() / 2**20
    assert qz.estimate_mb(dims, quantize) == pytest.approx(measured, rel=0.05)
    assert qz.estimate_mb(dims, None) == pytest.approx(worker_fp32_mb(bert64), rel=0.01)


def test_adalora_runs_on_a_quantized_worker(bert64, tmp_path):
    """AdaLoRA (peft's, on a copy of the worker's model) trains over the 4-bit linears and says so."""
    from autopeft.evaluators.adalora import Recipe
    from tests.helpers.data import sentiment_rows, write_csv

    task = write_csv(tmp_path / "s.csv", ["text", "label"], sentiment_rows(200))
    worker = Worker(WorkerSpec(task_ref(str(task)), model=bert64, max_length=32, threads=1, quantize="4bit"))
    recipe = Recipe(2000, init_r=4).to_json()
    result = worker.evaluate(Job("", parse_fidelity("steps=10,eval=40,batch=8"), seed=0, recipe=recipe))
    assert result.ok, result.reason
    assert result.quantize == "4bit" and 0 < result.peft_params <= 2000
    assert qz.is_quantized(worker.model) and qz.repacked(worker.model) == []


def _bf16_scored_then_bitfit(model):
    """A bf16 scoring pass (the worker's, in inference mode), then BitFit on 8-bit layers' biases
    (the attention output's input is bf16 attention under autocast), trained one step under bf16."""
    batch = _batch(model)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _eval_forward(model, batch)
    apply(model, Candidate([{"bitfit": {"o": 1, "q": 1}}, {"bitfit": {"ffn_out": 1}}]))
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(**batch).loss.backward()
    return model.bert.encoder.layer[0].attention.output.dense.bias


def test_8bit_biases_stay_float32_and_trainable_under_bf16(bert64):
    bias = _bf16_scored_then_bitfit(load_task_model(bert64, 2, quantize="8bit"))
    assert bias.dtype == torch.float32 and bias.requires_grad and bias.grad is not None


def test_without_the_int8_guard_bf16_rewrites_the_bias(bert64):
    """The negative control: bitsandbytes' own forward casts the bias to bf16 inside inference mode,
    leaving a tensor BitFit cannot train (the failure a bf16 8-bit search hit)."""
    model = load_task_model(bert64, 2, quantize="8bit")
    for m in model.modules():
        m._forward_pre_hooks.clear()
    with pytest.raises(RuntimeError, match="inference tensor"):
        _bf16_scored_then_bitfit(model)
    assert model.bert.encoder.layer[0].attention.output.dense.bias.dtype == torch.bfloat16
