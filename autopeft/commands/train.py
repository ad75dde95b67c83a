"""`autopeft train CANDIDATE --task T`: train one candidate (a JSON file or a baseline name) over
seeds, print mean ± std, and write DIR/result.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from autopeft.errors import UserError

PREDICTIONS_FILE = "predictions.csv.gz"  # `--predictions`: each seed's prediction per example


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise UserError(f"--seeds {text!r}: give integers separated by commas, e.g. 1,2,3") from None
    if not seeds:
        raise UserError("--seeds needs at least one seed")
    return seeds


def load_candidate(text: str, dims: Any) -> tuple[str, Any]:
    """(display name, Candidate) from a candidate JSON file, an export directory (its candidate.json)
    or a baseline name."""
    from autopeft.export.native import CANDIDATE_FILE
    from autopeft.methods.candidate import Candidate
    from autopeft.space.baselines import BASELINES, baseline

    path = Path(text).expanduser()
    name = path.name
    if path.is_dir():
        if not (path / CANDIDATE_FILE).is_file():
            raise UserError(f"{path} is a directory without {CANDIDATE_FILE}; give a candidate JSON file, a "
                            "directory `autopeft export` wrote, or a baseline")
        path = path / CANDIDATE_FILE
    if path.is_file():
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read candidate {path}: {exc}; give a candidate JSON file") from None
        if isinstance(data, dict) and "candidate" in data and "layers" not in data:
            data = data["candidate"]  # a row of `space sample` / trials output
        return Path(name).stem, Candidate.from_json(data)
    if text.partition("@")[0] in BASELINES:
        return text, baseline(text, dims)
    raise UserError(f"candidate {text!r} is neither a file nor a baseline (baselines: {', '.join(BASELINES)})")


def summarise(results: list[Any], seeds: list[int]) -> dict[str, Any]:
    """result.json's content from per-seed results."""
    import numpy as np

    ok = [r for r in results if r.ok]
    scores = [r.score if r.ok else None for r in results]
    values = [s for s in scores if s is not None]
    first = ok[0] if ok else results[0]
    return {
        "status": "ok" if len(ok) == len(results) else "failed",
        "metric": first.metric,
        "score": float(np.mean(values)) if values else None,
        "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
        "scores": scores,
        "seeds": seeds,
        "split": first.split,
        "fidelity": first.fidelity,
        "precision": first.precision,
        "quantize": first.quantize,
        "kernels": first.kernels,
        "attention": first.attention,
        "peft_params": first.peft_params,
        "head_params": first.head_params,
        "train_params": first.train_params,
        "steps": max(r.steps for r in results),
        "wall_s": round(sum(r.wall_s for r in results), 2),
        "train_s": round(sum(r.train_s for r in results), 2),
        "peak_mem_mb": max(r.peak_mem_mb for r in results),
        "mem_kind": first.mem_kind,
        "reasons": [r.reason for r in results if not r.ok],
        "reports": _mean_reports([r.reports for r in ok]),
        "runs": [r.to_dict() for r in results],
    }


def _mean_reports(reports: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    import numpy as np

    if not reports:
        return {}
    return {s: {k: float(np.mean([r[s][k] for r in reports])) for k in reports[0][s]} for s in reports[0]}


def train(
    candidate: Annotated[str, typer.Argument(help="a candidate JSON file, a baseline (lora-r8, houlsby@rf64, …) "
                                             "or adalora (peft's AdaLoRA within --budget)")],
    task: Annotated[str, typer.Option("--task", "-t", help="a task name (see `autopeft tasks`), a CSV/JSON/parquet "
                                      "file, a dataset directory or a hub dataset id")],
    model: Annotated[str, typer.Option("--model", "-m", help="minilm, vit-fmnist, a local directory or a hub id")]
    = "minilm",
    steps: Annotated[int | None, typer.Option(help="optimizer steps (overrides the fidelity's)")] = None,
    fidelity: Annotated[str, typer.Option(help="smoke|quick|standard|paper and/or steps=N,data=F,eval=M")]
    = "standard",
    seeds: Annotated[str, typer.Option(help="comma-separated seeds; mean ± std is reported")] = "0",
    out: Annotated[Path | None, typer.Option(help="directory for result.json (default runs/train-<cand>-<task>)")]
    = None,
    data_dir: Annotated[str | None, typer.Option(help="local data for GLUE tasks (GLUE TSV, save_to_disk, CSV)")]
    = None,
    text_cols: Annotated[str | None, typer.Option(help="text column(s) of a custom task: COL or COL1,COL2")] = None,
    label_col: Annotated[str | None, typer.Option(help="label column of a custom task (default label)")] = None,
    split: Annotated[str, typer.Option(help="split to score: dev (selection) or a report split (test, "
                                       "validation…)")] = "dev",
    report: Annotated[bool, typer.Option(help="also score the task's report splits (official validation/test)")]
    = False,
    predictions: Annotated[bool, typer.Option(help="also write predictions.csv.gz: each seed's label and prediction "
                                              "per example of every scored split (for paired tests over "
                                              "examples between candidates)")] = False,
    max_length: Annotated[int, typer.Option(help="tokens per example after truncation")] = 128,
    dropout: Annotated[float | None, typer.Option(help="backbone dropout (default 0: measured faster, no worse)")]
    = None,
    workers: Annotated[int, typer.Option(help="Ray workers on this machine (seeds run in parallel); 1 = in-process")]
    = 1,
    ray_address: Annotated[str | None, typer.Option(help="an existing Ray cluster's address")] = None,
    threads: Annotated[int | None, typer.Option(help="torch threads per worker (default: its CPU share)")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    precision: Annotated[str, typer.Option(help="fp32, bf16 (autocast; weights and optimizer state stay fp32) or "
                                           "auto (bf16 where the device does it natively)")] = "auto",
    quantize: Annotated[str | None, typer.Option(help="4bit (NF4, double quantization) or 8bit: the backbone's "
                                                 "frozen linears stored by bitsandbytes")] = None,
    kernels: Annotated[str, typer.Option(help="plain (one hook per branch), fused (one per linear), triton (CUDA) "
                                         "or auto (triton on CUDA, fused on the CPU)")] = "auto",
    attention: Annotated[str, typer.Option(help="the backbone's attention: sdpa, eager or auto (eager under bf16 on "
                                           "a CPU, where SDPA's bf16 backward is slow; sdpa elsewhere)")] = "auto",
    budget: Annotated[str | None, typer.Option(help="adalora only: PEFT parameters its final allocation may use "
                                               "(0.5%, 0.005 or a count)")] = None,
) -> None:
    """Train one candidate on a task and report its score over seeds."""
    import dataclasses

    from autopeft.backbones import DEFAULT_DROPOUT, load_config
    from autopeft.evaluators.fidelity import parse_fidelity
    from autopeft.evaluators.precision import ATTENTIONS, PRECISIONS
    from autopeft.evaluators.quantize import parse_quantize, require_bitsandbytes
    from autopeft.evaluators.tasks import task_ref
    from autopeft.evaluators.worker import WorkerSpec
    from autopeft.methods.anatomy import dims_from_config, resolve
    from autopeft.methods.count import check_fits

    seed_list = _seeds(seeds)
    fid = parse_fidelity(fidelity)
    if steps is not None:
        if steps < 1:
            raise UserError("--steps must be positive")
        fid = dataclasses.replace(fid, steps=steps, name="custom")
    ref = task_ref(task, data_dir, text_cols, label_col)
    config = load_config(model)
    dims = dims_from_config(config, resolve(config))
    recipe = _adalora_recipe(candidate, budget, dims)
    if recipe is not None:
        name, cand = f"adalora@{json.loads(recipe)['target_params']}", None
    else:
        name, cand = load_candidate(candidate, dims)
        check_fits(cand, dims)
    if dropout is not None and not 0 <= dropout < 1:
        raise UserError(f"--dropout {dropout} must be in [0, 1)")
    if precision not in PRECISIONS:
        raise UserError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if attention not in ATTENTIONS:
        raise UserError(f"unknown attention {attention!r}; use one of {', '.join(ATTENTIONS)}")
    quant = parse_quantize(quantize)
    if quant:
        require_bitsandbytes(quant)
    from autopeft.evaluators.worker import resolve_device
    from autopeft.methods.kernels.select import resolve_kernels

    resolve_kernels(kernels, resolve_device(device))  # one line now, before anything loads
    spec = WorkerSpec(task=ref, model=model, max_length=max_length, precision=precision, kernels=kernels,
                      attention=attention, dropout=DEFAULT_DROPOUT if dropout is None else dropout, threads=threads,
                      device=device, quantize=quant)
    results = _run(spec, cand, fid, seed_list, split, report, workers, ray_address, recipe)
    summary = summarise(results, seed_list)
    found = cand.to_json() if cand is not None else next((r.candidate for r in results if r.candidate), "null")
    summary.update(task=task, model=model, candidate=json.loads(found), name=name,
                   recipe=json.loads(recipe) if recipe else None)
    out_dir = out or Path("runs") / f"train-{_slug(name)}-{_slug(Path(task).stem)}"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "result.json").write_text(json.dumps(summary, indent=2))
    if predictions:
        write_predictions(results, out_dir / PREDICTIONS_FILE)
    _print(summary, dims, out_dir)
    if summary["status"] != "ok":
        raise typer.Exit(1)


def write_predictions(results: list[Any], path: Path) -> None:
    """One row per seed, split and example (its position in what that split scored: the same examples
    for every candidate and seed, so two candidates' files pair row by row), with label and prediction."""
    import numpy as np
    import pandas as pd

    frames = [pd.DataFrame({"seed": r.seed, "split": name, "example": np.arange(len(preds)), "label": labels,
                            "prediction": preds})
              for r in results if r.ok and r.predictions for name, (labels, preds) in r.predictions.items()]
    if frames:
        pd.concat(frames, ignore_index=True).to_csv(path, index=False)


def _adalora_recipe(candidate: str, budget: str | None, dims: Any) -> str | None:
    """AdaLoRA's recipe as JSON for `autopeft train adalora --budget B` (None for any other candidate)."""
    if candidate != "adalora":
        if budget is not None:
            raise UserError("--budget applies to `autopeft train adalora` only; a candidate's size is its own")
        return None
    if budget is None:
        raise UserError("`autopeft train adalora` needs --budget: the PEFT parameters its final allocation may "
                        "use (e.g. --budget 0.5%)")
    from autopeft.evaluators.adalora import Recipe
    from autopeft.space.budget import parse_budget

    return Recipe(parse_budget(budget, dims.backbone_params)).to_json()


def _run(spec: Any, cand: Any, fid: Any, seeds: list[int], split: str, report: bool, workers: int,
         ray_address: str | None, recipe: str | None = None) -> list[Any]:
    from rich.console import Console

    from autopeft.evaluators.job import Job
    from autopeft.evaluators.runners import InProcessRunner, make_runner

    console = Console(stderr=True)
    if workers > 1 or ray_address:
        _report_splits(spec)  # encodes once here: the workers then read the cache, not all tokenize at once
    runner = make_runner(spec, workers=workers, ray_address=ray_address)
    try:
        reports = _report_splits(spec) if report else ()
        jobs = [Job("", fid, seed, split, reports, recipe=recipe) if recipe else
                Job.of(cand, fid, seed, split=split, report_splits=reports) for seed in seeds]

        def show(job: Job, r: Any) -> None:
            what = f"{r.metric} {r.score:.4f}" if r.ok else f"failed: {r.reason}"
            console.print(f"seed {job.seed}: {what}  ({r.steps} steps, {r.wall_s:.0f} s)")

        with console.status(f"training {len(jobs)} seed(s) at {fid.label()} …") as status:
            if isinstance(runner, InProcessRunner):
                def step(i: int, s: int, total: int, loss: float) -> None:
                    status.update(f"seed {jobs[i].seed}: step {s}/{total}, loss {loss:.3f}")

                return runner.run(jobs, show, progress=step)
            return runner.run(jobs, show)
    finally:
        runner.close()


def _report_splits(spec: Any) -> tuple[str, ...]:
    """The task's report splits (encoding the task into the cache if it is not there yet)."""
    from autopeft.backbones import load_config, resolve_model_path
    from autopeft.evaluators.cache import encode_task

    task = encode_task(spec.task, resolve_model_path(spec.model), load_config(spec.model), spec.max_length)
    return tuple(task.spec.report_splits)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def _print(summary: dict[str, Any], dims: Any, out_dir: Path) -> None:
    pct = 100 * summary["peft_params"] / dims.backbone_params if dims.backbone_params else float("nan")
    n = len([s for s in summary["scores"] if s is not None])
    if summary["score"] is None:
        typer.echo(f"{summary['name']}: failed on every seed ({'; '.join(summary['reasons'])})")
    else:
        typer.echo(
            f"{summary['name']} on {summary['task']} ({summary['split']}): {summary['metric']} "
            f"{summary['score']:.4f} ± {summary['std']:.4f} over {n} seed(s) · "
            f"{summary['peft_params']:,} PEFT params ({pct:.3f}%) + {summary['head_params']:,} head · "
            f"{summary['steps']} steps · {summary['wall_s']:.0f} s · peak {summary['peak_mem_mb']:.0f} MiB "
            f"({summary['mem_kind']})" + (f" · {summary['quantize']} backbone" if summary.get("quantize") not in
                                          (None, "fp32") else "")
        )
    for split, values in summary["reports"].items():
        typer.echo(f"  {split}: " + ", ".join(f"{k} {v:.4f}" for k, v in values.items()))
    typer.echo(f"wrote {out_dir / 'result.json'}")


def register(app: typer.Typer) -> None:
    """Add `train` to the autopeft command."""
    app.command("train")(train)
