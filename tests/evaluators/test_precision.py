"""Training precision: `auto` follows the CPU's native bf16 flags (both branches, whatever this
machine has), bf16 trains under autocast with float32 weights and optimizer state, fp32 is unchanged."""

import pytest
import torch

from autopeft.errors import UserError
from autopeft.evaluators.fidelity import parse_fidelity
from autopeft.evaluators.job import Job
from autopeft.evaluators.precision import (
    attention_for,
    cpu_flags,
    fast_bf16,
    machine_info,
    precision_autocast,
    resolve_precision,
    use_attention,
)
from autopeft.evaluators.tasks import task_ref
from autopeft.evaluators.worker import Worker, WorkerSpec
from tests.helpers.data import sentiment_rows, write_csv

AVX512_BF16 = "processor : 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile\n"
AVX2_ONLY = "processor : 0\nflags\t\t: fpu sse2 avx2 fma\n"


@pytest.mark.parametrize("cpuinfo, auto", [(AVX512_BF16, "bf16"), (AVX2_ONLY, "fp32"), ("", "fp32")])
def test_auto_follows_the_cpu_flags(tmp_path, cpuinfo, auto):
    path = tmp_path / "cpuinfo"
    path.write_text(cpuinfo)
    assert resolve_precision("auto", "cpu", path) == auto
    assert fast_bf16("cpu", path) == (auto == "bf16")
    # an explicit choice is taken as asked, whatever the CPU
    assert resolve_precision("fp32", "cpu", path) == "fp32" and resolve_precision("bf16", "cpu", path) == "bf16"


@pytest.mark.parametrize("quantize", ["4bit", "8bit"])
def test_auto_keeps_fp32_on_a_quantized_backbone(tmp_path, quantize):
    path = tmp_path / "cpuinfo"
    path.write_text(AVX512_BF16)
    assert resolve_precision("auto", "cpu", path, quantize=quantize) == "fp32"
    assert resolve_precision("auto", "cpu", path, quantize=None) == "bf16"  # the same CPU, full precision
    assert resolve_precision("bf16", "cpu", path, quantize=quantize) == "bf16"  # asked for, it is given


def test_cpu_flags_without_cpuinfo(tmp_path):
    assert cpu_flags(tmp_path / "missing") == set()


@pytest.mark.parametrize("cpuinfo, flags", [(AVX512_BF16, ["avx2", "avx512f", "avx512_bf16"]), (AVX2_ONLY, ["avx2"])])
def test_the_machine_record_names_the_cpu_and_its_speed_flags(tmp_path, cpuinfo, flags):
    path = tmp_path / "cpuinfo"
    path.write_text(cpuinfo.replace("flags", "model name\t: Some CPU 9000\nflags"))
    info = machine_info(path)
    assert info["cpu"] == "Some CPU 9000" and info["flags"] == flags and info["cpus"] >= 1
    assert machine_info(tmp_path / "missing")["cpu"] is None and machine_info(tmp_path / "missing")["flags"] == []


def test_unknown_precision_is_one_line():
    with pytest.raises(UserError, match="unknown precision 'fp16'"):
        resolve_precision("fp16", "cpu")


def test_autocast_runs_matmuls_in_bf16_only_when_asked():
    a, b = torch.randn(4, 8), torch.randn(8, 3)
    with precision_autocast("bf16", "cpu"):
        assert (a @ b).dtype == torch.bfloat16
    with precision_autocast("fp32", "cpu"):
        assert (a @ b).dtype == torch.float32


@pytest.fixture(scope="module")
def task_path(tmp_path_factory):
    return write_csv(tmp_path_factory.mktemp("task") / "sentiment.csv", ["text", "label"], sentiment_rows(300))


def _train(tiny_bert, task_path, precision, attention="auto"):
    worker = Worker(WorkerSpec(task_ref(str(task_path)), model=tiny_bert, max_length=32, threads=1, head_lr=3e-2,
                               precision=precision, attention=attention))
    from autopeft.methods.candidate import Candidate

    cand = Candidate([{"lora": {"q": 4, "v": 4}}, {"parallel_adapter": {"attn": 4}}],
                     {"lora": {"lr": 3e-2}, "parallel_adapter": {"lr": 3e-2}})
    result = worker.evaluate(Job.of(cand, parse_fidelity("steps=60,eval=all,batch=16"), 0, keep_state=True))
    assert result.ok, result.reason
    return result


def test_bf16_trains_with_float32_weights_and_differs_from_fp32(tiny_bert, task_path):
    fp32, bf16 = _train(tiny_bert, task_path, "fp32"), _train(tiny_bert, task_path, "bf16")
    assert fp32.precision == "fp32" and bf16.precision == "bf16"
    assert all(t.dtype == torch.float32 for t in bf16.state.values())  # mixed precision: fp32 master weights
    # the negative control: autocast really changed the arithmetic (weights are not bit-identical) ...
    assert any(not torch.equal(fp32.state[k], bf16.state[k]) for k in fp32.state)
    # ... and fp32 is deterministic, so the difference is the precision's
    assert all(torch.equal(v, _train(tiny_bert, task_path, "fp32").state[k]) for k, v in fp32.state.items())
    # it still learns the task (chance is 0.5), about as well
    assert bf16.score > 0.7 and abs(bf16.score - fp32.score) < 0.15


@pytest.mark.parametrize("precision, dtype", [("bf16", torch.bfloat16), ("fp32", torch.float32)])
def test_a_split_is_scored_in_the_trials_precision(tiny_bert, task_path, precision, dtype):
    """Scoring runs its forward under the precision the trial trained in (fp32: the negative control)."""
    from autopeft.evaluators.trainer import score_split

    worker = Worker(WorkerSpec(task_ref(str(task_path)), model=tiny_bert, max_length=32, threads=1))
    seen = []
    hook = worker.model.bert.encoder.layer[0].attention.self.query.register_forward_hook(
        lambda m, i, out: seen.append(out.dtype))
    try:
        values = score_split(worker.model, worker.task, worker.task.splits["dev"], "cpu", precision)
    finally:
        hook.remove()
    assert seen and set(seen) == {dtype} and 0 <= values["score"] <= 1


@pytest.mark.parametrize("precision, device, kernel", [("bf16", "cpu", "eager"), ("fp32", "cpu", "sdpa"),
                                                       ("bf16", "cuda", "sdpa"), ("fp32", "cuda", "sdpa")])
def test_attention_is_eager_only_under_bf16_on_a_cpu(precision, device, kernel):
    assert attention_for(precision, device) == kernel
    # asked for, it is given, whatever the precision and device
    assert attention_for(precision, device, "sdpa") == "sdpa" and attention_for(precision, device, "eager") == "eager"


def test_unknown_attention_is_one_line():
    with pytest.raises(UserError, match="unknown attention 'flash'"):
        attention_for("bf16", "cpu", "flash")


@pytest.mark.parametrize("precision, kernel", [("bf16", "eager"), ("fp32", "sdpa")])
def test_a_worker_trains_with_its_precisions_attention(tiny_bert, task_path, precision, kernel):
    """The worker switches the backbone's attention, and what a trial ran on is in its result;
    fp32 (SDPA, transformers' default) is the negative control."""
    result = _train(tiny_bert, task_path, precision)
    assert result.attention == kernel
    assert _train(tiny_bert, task_path, precision, "sdpa").attention == "sdpa"  # --attention overrides auto


def test_use_attention_leaves_a_non_sdpa_backbone_alone():
    from transformers import BertForSequenceClassification

    from tests.helpers.models import tiny_bert_config

    model = BertForSequenceClassification(tiny_bert_config())
    assert use_attention(model, "bf16", "cpu") == "eager"
    assert use_attention(model, "fp32", "cpu") == "eager"  # switched once, on load, never back and forth
    model = BertForSequenceClassification(tiny_bert_config())
    assert use_attention(model, "fp32", "cpu") == "sdpa"
