"""`autopeft space ...`: look at a search space, sample it, list baselines, count a candidate.

Torch-free except `count --verify`, which builds the model."""

from __future__ import annotations

import json
import random
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from autopeft.errors import UserError

if TYPE_CHECKING:
    from autopeft.methods.candidate import Candidate
    from autopeft.space.space import BoundSpace

app = typer.Typer(help="Inspect search spaces, sample candidates, count parameters.", no_args_is_help=True)

ModelOpt = Annotated[str, typer.Option("--model", "-m", help="minilm (embedded), a local directory or a hub id")]
BudgetOpt = Annotated[str | None, typer.Option(help="0.5%, 0.005 or a count (120k); only candidates within it")]
LabelsOpt = Annotated[int, typer.Option("--num-labels", help="task labels, for the head's size")]


def _bound(space: str, model: str, num_labels: int = 2) -> BoundSpace:
    from autopeft.backbones import load_config
    from autopeft.space.loader import bind_space

    return bind_space(space, load_config(model), num_labels)


def _budget(budget: str | None, bound: BoundSpace) -> int | None:
    if budget is None:
        return None
    from autopeft.space.budget import parse_budget

    value = parse_budget(budget, bound.dims.backbone_params)
    bound.check_budget(value, budget)
    return value


def _share(params: int, backbone: int | None, digits: int) -> str:
    """` (0.123%)` of the backbone, or nothing where its size is unknown (a family described in the space file)."""
    return f" ({params * (100 / backbone):.{digits}f}%)" if backbone else ""


def _row(bound: BoundSpace, candidate: Candidate, name: str | None = None) -> dict:
    n = bound.count(candidate)
    pct = round(n.peft_pct, 6) if n.peft_pct is not None else None  # None: the backbone's size is unknown
    row = {"peft_params": n.peft_params, "peft_pct": pct, "head_params": n.head_params,
           "train_params": n.train_params, "candidate": candidate.to_dict()}
    return ({"name": name} | row) if name else row


@app.command()
def show(
    space: Annotated[str, typer.Argument(help="a preset (full, autopeft, noah, lora), a baseline name or a YAML file")],
    model: ModelOpt = "minilm",
    num_labels: LabelsOpt = 2,
    quantize: Annotated[str | None, typer.Option(help="4bit or 8bit: the backbone's memory when its linears are "
                                                 "quantized (the counts and the budget do not change)")] = None,
) -> None:
    """The space: its choices, its size, the range of parameter counts, what was dropped."""
    from rich.console import Console
    from rich.table import Table

    from autopeft.evaluators.quantize import parse_quantize

    quant = parse_quantize(quantize)
    bound = _bound(space, model, num_labels)
    dims = bound.dims
    backbone = dims.backbone_params  # None for a family described in the space file (no formula for it)
    console = Console()
    console.print(f"[bold]space[/bold] {bound.name} on [bold]{model}[/bold] ({dims.family}, {dims.num_layers} layers, "
                  f"hidden {dims.hidden}, {f'{backbone:,}' if backbone else 'unknown'} backbone parameters)")
    table = Table("gene", "kind", "choices")
    for g in bound.genes:
        shown = [str(v) if c == v else f"{c}→{v}" for c, v in zip(g.choices, g.values, strict=True)]
        table.add_row(g.name, g.kind, " ".join(shown))
    if bound.genes:
        console.print(table)
        console.print(f"genes: {len(bound.genes)}   assignments: 10^{bound.log10_size:.1f}")
    else:
        single = bound.decode({})  # a baseline's space: its one candidate
        console.print(f"a single candidate: {single.describe() if single else 'none'}")
    lo, hi = bound.min_params(), bound.max_params()
    console.print(f"PEFT parameters: {lo:,}{_share(lo, backbone, 4)} to {hi:,}{_share(hi, backbone, 3)}; "
                  f"head {dims.head_params(num_labels):,} ({num_labels} labels)")
    console.print(_precision_line(dims, quant, num_labels))
    for line in bound.dropped:
        console.print(f"[yellow]dropped[/yellow] {line}")


def _precision_line(dims: Any, quant: str | None, num_labels: int) -> str:
    """The backbone's precision and its weights' memory (estimated from the config, torch-free)."""
    from autopeft.evaluators.quantize import FULL, estimate_mb

    mb, full = estimate_mb(dims, quant, num_labels), estimate_mb(dims, None, num_labels)
    if mb is None or full is None:
        return f"backbone precision: {quant or FULL} (memory unknown for a described family)"
    what = {"4bit": "4-bit NF4 linears", "8bit": "8-bit linears"}.get(quant or "", "fp32")
    saved = f", {mb / full:.0%} of fp32's {full:,.1f} MiB" if quant else ""
    return f"backbone precision: {what}; weights about {mb:,.1f} MiB{saved} (head and PEFT modules stay fp32)"


@app.command()
def sample(
    space: Annotated[str, typer.Argument(help="a preset, a baseline name or a YAML file")],
    model: ModelOpt = "minilm",
    n: Annotated[int, typer.Option("--n", "-n", min=1, help="how many candidates")] = 10,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    budget: BudgetOpt = None,
    uniform: Annotated[bool, typer.Option(help="uniform per gene (default: a random density first)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines (the default output)")] = True,
    num_labels: LabelsOpt = 2,
) -> None:
    """Random feasible candidates, one JSON line each (peft_params, peft_pct, head_params, candidate)."""
    bound = _bound(space, model, num_labels)
    limit = _budget(budget, bound)
    rng = random.Random(seed)
    for _ in range(n):
        _, cand = bound.sample(rng, limit, mode="uniform" if uniform else "mixed")
        sys.stdout.write(json.dumps(_row(bound, cand)) + "\n")


@app.command()
def baselines(
    model: ModelOpt = "minilm",
    budget: BudgetOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines (the default output)")] = True,
    num_labels: LabelsOpt = 2,
) -> None:
    """The hand-designed baselines; with --budget, each replaced by its largest version that fits."""
    from autopeft.backbones import load_config
    from autopeft.methods.anatomy import dims_from_config, resolve
    from autopeft.space.baselines import fitted
    from autopeft.space.budget import parse_budget
    from autopeft.space.space import BoundSpace

    config = load_config(model)
    dims = dims_from_config(config, resolve(config))
    limit = parse_budget(budget, dims.backbone_params) if budget else None
    bound = BoundSpace(name="baselines", dims=dims, genes=[], decoder=lambda _a: None, num_labels=num_labels)
    for name, cand in fitted(dims, limit):
        sys.stdout.write(json.dumps(_row(bound, cand, name)) + "\n")


@app.command()
def count(
    candidate: Annotated[str, typer.Argument(help="a candidate JSON file (what `sample` prints under candidate)")],
    model: ModelOpt = "minilm",
    verify: Annotated[bool, typer.Option(help="build the model and compare with its trainable parameters")] = False,
    num_labels: LabelsOpt = 2,
) -> None:
    """The analytic parameter count; with --verify, the built model's count beside it."""
    from autopeft.backbones import load_config
    from autopeft.methods.count import count as count_params

    cand = _load_candidate(candidate)
    config = load_config(model)
    n = count_params(cand, config, num_labels)
    print(f"analytic: peft_params={n.peft_params} ({n.peft_pct:.4f}%) train_params={n.train_params} "
          f"head_params={n.head_params}")
    if not verify:
        return
    from autopeft.backbones import load_task_model
    from autopeft.methods.attach import apply

    model_obj = load_task_model(model, num_labels)
    peft = apply(model_obj, cand)
    trained = peft.train_params
    peft.fold()
    built = _numel_trainable(peft)
    print(f"built:    peft_params={built} train_params={trained} head_params={peft.head_params}")
    if (built, trained, peft.head_params) != (n.peft_params, n.train_params, n.head_params):
        print("MISMATCH between the analytic count and the built model", file=sys.stderr)
        raise typer.Exit(1)
    print("counts agree")


def _numel_trainable(peft) -> int:
    """Trainable PEFT parameters of the built model, head excluded (after folding)."""
    head = {id(p) for _, p in peft.head_parameters()}
    return sum(p.numel() for p in peft.model.parameters() if p.requires_grad and id(p) not in head)


def _load_candidate(path: str) -> Candidate:
    from pathlib import Path

    from autopeft.methods.candidate import Candidate

    if not Path(path).exists():
        raise UserError(f"candidate file {path} not found; write one with `autopeft space sample ... > c.jsonl`")
    try:
        text = Path(path).read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read candidate file {path}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        try:  # a JSON-lines file from `space sample`: take its first line
            data = json.loads(text.splitlines()[0]) if text else None
        except json.JSONDecodeError as exc:
            raise UserError(f"candidate file {path} is not valid JSON: {exc.msg}") from None
    if isinstance(data, dict) and "candidate" in data:  # a line of `sample` output
        data = data["candidate"]
    return Candidate.from_json(data)
