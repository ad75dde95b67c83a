"""What does a quantized backbone (`--quantize 4bit|8bit`) cost in score and step time, and what
memory does it save? (issue 23, item 5)

Three parts, each a child process of this script (so each measures its own memory), each row
appended to a CSV as it finishes (resumable: a row already there is not run again):

* `scores.csv`: MiniLM on tweet_sentiment, `lora-r8` and the five-method 33k hybrid of
  experiments/precision, trained at the same fidelity and seed in fp32, 8-bit and 4-bit; the dev
  score, the trial's training time, its peak memory (RSS rise) and the backbone's footprint.
* `steps.csv`: step time, interleaved: the three precisions' workers live in one process and train
  a few steps each in turn, round after round, so a busy machine slows them alike; the ratio to the
  fp32 steps of the same round.
* `llama.csv`: a LLaMA-style model built from a config (342M parameters, random weights saved
  once outside the repository), loaded in fp32, 8-bit and 4-bit, with `lora-r8` attached and a few
  forward/backward steps: the process's peak RSS while loading and while training (after the
  checkpoint's mapped pages are handed back to the kernel: `_page_out` says why).

    .venv/bin/python experiments/quantized/run.py            # all three parts
    .venv/bin/python experiments/quantized/run.py --part llama
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUANTS = ("fp32", "8bit", "4bit")
CANDIDATES = {"lora-r8": "lora-r8", "hybrid-33k": str(HERE.parent / "precision" / "candidates" / "hybrid-33k.json")}
FIDELITY = "quick,eval=1000"  # 100 steps of 32; the dev score on a fixed 1,000 of the held-out tweets
SEED = 0
ROUNDS, ROUND_STEPS = 5, "steps=8,eval=32"  # step-time rounds; each trial trains 8 steps, scores 32 examples
LLAMA = dict(hidden_size=1024, intermediate_size=2816, num_hidden_layers=24, num_attention_heads=16,
             num_key_value_heads=16, vocab_size=32000, max_position_embeddings=512, pad_token_id=0)
LLAMA_STEPS, LLAMA_BATCH, LLAMA_LEN = 3, 2, 64
# glibc's malloc raises its mmap threshold after each large free, so the per-layer dequantized weights
# of a quantized forward/backward end up reused from (and kept in) the heap; a fixed threshold gives
# every large tensor its own mapping, returned on free. Both are measured: the default is what a user
# gets, the fixed one shows what the model itself needs.
MALLOC = {"default": {}, "mmap128k": {"MALLOC_MMAP_THRESHOLD_": "131072"}}
LLAMA_REPEATS = 3  # a process's peak RSS varies between runs (the heap's history): three, interleaved
LLAMA_DIR = Path(os.environ.get("AUTOPEFT_CACHE", Path.home() / ".cache" / "autopeft")) / "quantized-llama-340m"


def _done(path: Path, key: str) -> set[str]:
    if not path.exists():
        return set()
    with path.open() as f:
        return {row[key] for row in csv.DictReader(f)}


def _append(path: Path, row: dict) -> None:
    new = not path.exists()
    with path.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _quant(q: str) -> str | None:
    return None if q == "fp32" else q


def _candidate(name: str, dims):
    from autopeft.methods.candidate import Candidate
    from autopeft.space.baselines import baseline

    spec = CANDIDATES[name]
    return Candidate.from_json(Path(spec).read_text()) if spec.endswith(".json") else baseline(spec, dims)


def _worker(q: str):
    from autopeft.evaluators.tasks import task_ref
    from autopeft.evaluators.worker import Worker, WorkerSpec

    return Worker(WorkerSpec(task_ref("tweet_sentiment"), model="minilm", threads=1, quantize=_quant(q)))


def child_scores(q: str) -> None:
    """One precision's worker trains both candidates; prints one JSON row per candidate."""
    from autopeft.evaluators.fidelity import parse_fidelity
    from autopeft.evaluators.job import Job
    from autopeft.methods.anatomy import dims_from_config, resolve

    worker = _worker(q)
    info = worker.backbone_info()
    dims = dims_from_config(worker.config, resolve(worker.config))
    for name in CANDIDATES:
        r = worker.evaluate(Job.of(_candidate(name, dims), parse_fidelity(FIDELITY), SEED))
        print(json.dumps({"key": f"{name}-{q}", "candidate": name, "quantize": q, "status": r.status,
                          "reason": r.reason, "score": r.score, "dev_loss": r.metrics.get("loss"),
                          "peft_params": r.peft_params, "steps": r.steps, "train_s": r.train_s, "wall_s": r.wall_s,
                          "trial_peak_rss_rise_mb": r.peak_mem_mb, "footprint_mb": info["footprint_mb"],
                          "process_maxrss_mb": round(_maxrss_mb(), 1)}), flush=True)


def child_steps() -> None:
    """The three precisions' workers in one process, training in turn; one JSON row per trial."""
    from autopeft.evaluators.fidelity import parse_fidelity
    from autopeft.evaluators.job import Job
    from autopeft.methods.anatomy import dims_from_config, resolve

    workers = {q: _worker(q) for q in QUANTS}
    dims = dims_from_config(workers["fp32"].config, resolve(workers["fp32"].config))
    fid = parse_fidelity(ROUND_STEPS)
    for name in CANDIDATES:
        cand = _candidate(name, dims)
        for q in QUANTS:  # warm-up round, not recorded (first-call allocations, the 8-bit casts)
            workers[q].evaluate(Job.of(cand, fid, SEED))
        for rnd in range(ROUNDS):
            times = {}
            for q in QUANTS:
                r = workers[q].evaluate(Job.of(cand, fid, SEED + rnd))
                times[q] = r.train_s / max(1, r.steps)
            for q in QUANTS:
                print(json.dumps({"key": f"{name}-{rnd}-{q}", "candidate": name, "round": rnd, "quantize": q,
                                  "step_s": round(times[q], 4),
                                  "ratio_to_fp32": round(times[q] / times["fp32"], 3)}), flush=True)


def _build_llama() -> None:
    import torch
    from transformers import LlamaConfig, LlamaModel

    if (LLAMA_DIR / "config.json").exists():
        return
    torch.manual_seed(0)
    model = LlamaModel(LlamaConfig(**LLAMA))
    model.save_pretrained(LLAMA_DIR)


class _Peak:
    """Peak RSS and its anonymous part (RSS less file-backed pages), sampled in a thread, in MiB."""

    def __init__(self) -> None:
        import threading

        import psutil

        self.proc, self.rss, self.anon = psutil.Process(), 0.0, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        mi = self.proc.memory_info()
        self.rss, self.anon = max(self.rss, mi.rss / 2**20), max(self.anon, (mi.rss - mi.shared) / 2**20)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.sample()

    def __enter__(self) -> _Peak:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def _page_out(name: str) -> int:
    """Hand the kernel back the resident pages of the memory-mapped checkpoint `name`.

    transformers keeps the safetensors file mapped after loading (unquantized tensors such as the
    embeddings read from it in place); the pages a quantized load read to quantize stay resident and
    count in RSS until the kernel reclaims them. MADV_PAGEOUT (Linux 5.4+) reclaims them now, so the
    training peak counts only the pages training touches: all the weights in fp32, the embeddings and
    norms in a quantized model."""
    import ctypes

    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    libc.malloc_trim(0)  # and freed heap (the fp32 tensors quantized away) back to the system
    done = 0
    with open("/proc/self/maps") as maps:
        for line in maps:
            if name in line:
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                done += libc.madvise(lo, hi - lo, 21) == 0  # 21: MADV_PAGEOUT
    return done


def child_llama(q: str, rep: int) -> None:
    """Load the LLaMA-style model at `q`, attach lora-r8, train a few steps; peak RSS of each phase."""
    import gc

    import torch

    from autopeft.backbones import load_task_model
    from autopeft.methods.anatomy import dims_from_config, resolve
    from autopeft.methods.attach import apply

    torch.set_num_threads(1)
    with _Peak() as load_mem:
        model = load_task_model(str(LLAMA_DIR), 2, quantize=_quant(q))
    gc.collect()
    paged = _page_out("model.safetensors")
    with _Peak() as rest:
        pass
    config = model.config.to_dict()
    attached = apply(model, _candidate("lora-r8", dims_from_config(config, resolve(config))))
    opt = torch.optim.AdamW([p for ps in attached.param_groups().values() for p in ps], lr=1e-4)
    gen = torch.Generator().manual_seed(0)
    times = []
    with _Peak() as train_mem:
        for _ in range(LLAMA_STEPS):
            ids = torch.randint(1, LLAMA["vocab_size"], (LLAMA_BATCH, LLAMA_LEN), generator=gen)
            start = time.perf_counter()
            loss = model(input_ids=ids, labels=torch.tensor([0, 1])).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            times.append(time.perf_counter() - start)
    malloc = "mmap128k" if os.environ.get("MALLOC_MMAP_THRESHOLD_") else "default"
    print(json.dumps({"key": f"{q}-{malloc}-{rep}", "quantize": q, "malloc": malloc, "repeat": rep,
                      "backbone_params": sum(
                          p.numel() for p in model.base_model.parameters()) if q == "fp32" else None,
                      "footprint_mb": round(model.get_memory_footprint() / 2**20, 1),
                      "load_peak_rss_mb": round(load_mem.rss, 1), "load_peak_anon_mb": round(load_mem.anon, 1),
                      "after_load_paged_out_rss_mb": round(rest.rss, 1),
                      "paged_out_mappings": paged, "train_peak_rss_mb": round(train_mem.rss, 1),
                      "train_peak_anon_mb": round(train_mem.anon, 1), "process_maxrss_mb": round(_maxrss_mb(), 1),
                      "loss": round(float(loss), 4), "step_s_median": round(sorted(times)[len(times) // 2], 2)}),
          flush=True)


def _run_child(args: list[str], out: Path, env_extra: dict[str, str] | None = None) -> None:
    env = os.environ | {"OMP_NUM_THREADS": "1"} | (env_extra or {})
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env)
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    for row in rows:
        _append(out, row)
    print(f"{' '.join(args)}: rc {proc.returncode}, {len(rows)} rows, {time.perf_counter() - start:.0f} s", flush=True)
    if proc.returncode:
        print(proc.stderr[-3000:], file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("scores", "steps", "llama", "all"), default="all")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        {"scores": lambda: child_scores(rest[0]), "steps": child_steps,
         "llama": lambda: child_llama(rest[0], int(rest[1]))}[kind]()
        return
    parts = ("scores", "steps", "llama") if args.part == "all" else (args.part,)
    if "scores" in parts:
        done = _done(HERE / "scores.csv", "quantize")
        for q in QUANTS:
            if q not in done:
                _run_child(["scores", q], HERE / "scores.csv")
    if "steps" in parts and not (HERE / "steps.csv").exists():
        _run_child(["steps"], HERE / "steps.csv")
    if "llama" in parts:
        _build_llama()
        done = _done(HERE / "llama.csv", "key")
        for rep in range(LLAMA_REPEATS):
            for malloc, env in MALLOC.items():
                for q in QUANTS:
                    if f"{q}-{malloc}-{rep}" not in done:
                        _run_child(["llama", q, str(rep)], HERE / "llama.csv", env)


if __name__ == "__main__":
    main()
