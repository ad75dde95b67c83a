"""The options of a search, stated once: `autopeft.search(...)` takes them as keywords and the
`autopeft search` command builds its flags from them (name, default, help), so a new option is
one field here. Checking and resolving them (budget, space, resume) is `settings.py`'s job."""

from __future__ import annotations

import inspect
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Annotated, Any


def _opt(default: Any, help: str, *flags: str, cli: Any = None) -> Any:
    """A field with its command-line help, short flags and, where the CLI reads it as another type
    (a budget given as text, say), that type; `cli=False` keeps it off the command line."""
    meta = {"help": help, "flags": flags, "cli": cli}
    if isinstance(default, dict):
        return field(default_factory=dict, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class SearchOptions:
    """What a user chooses for a search; run.json records them as its `settings`."""

    task: str | None = _opt(None, "a task name (see `autopeft tasks`), a CSV/JSON/parquet file, a dataset "
                            "directory or a hub dataset id", "--task", "-t")
    budget: str | int | float = _opt("0.5%", "PEFT parameters allowed: 0.5%, 0.005 or a count (120k, 1.2M)",
                                     cli=str)
    model: str = _opt("minilm", "minilm (embedded), vit-fmnist (embedded), a local directory or a hub id",
                      "--model", "-m")
    space: str | None = _opt(None, "a preset (full, autopeft, noah, lora) or a space YAML file "
                             "(default: full; the recipe's own for a paper strategy)")
    strategy: str = _opt("mobo", "mobo, asha, auto, random, tpe, nsga2, adalora, autopeft-paper or noah-paper; "
                         "options as NAME:key=value, e.g. mobo:start=maxmin")
    trials: int | None = _opt(None, "trained trials to run (default 10, or unlimited with --time-limit)")
    time_limit: str | float | None = _opt(None, "stop after this long: 90s, 30m, 2h", cli=str | None)
    clock: str = _opt("wall", "what --time-limit counts: wall (elapsed time) or cpu (this process's CPU time: "
                      "benchmarks on a shared machine, where a one-thread search's CPU time is close to the time it "
                      "takes alone)")
    fidelity: str = _opt("quick", "smoke|quick|standard|paper and/or steps=N,data=F,eval=M")
    precision: str = _opt("auto", "fp32, bf16 (autocast; weights and optimizer state stay fp32) or auto (bf16 "
                          "where the device does it natively)")
    quantize: str | None = _opt(None, "4bit (NF4, double quantization) or 8bit: the backbone's frozen linears "
                                "stored by bitsandbytes; PEFT modules and the head stay fp32")
    kernels: str = _opt("auto", "how PEFT branches compute: plain (one hook each), fused (one per linear), triton "
                        "(CUDA) or auto (triton on CUDA, fused on the CPU)")
    attention: str = _opt("auto", "the backbone's attention: sdpa, eager or auto (eager under bf16 on a CPU, "
                          "where SDPA's bf16 backward is slow; sdpa elsewhere)")
    workers: int | None = _opt(None, "Ray workers on this machine (trials run in parallel); 1 = in-process")
    ray_address: str | None = _opt(None, "an existing Ray cluster's address")
    out: str | Path | None = _opt(None, "run directory (default runs/<task>-<date>-<time>)", cli=Path | None)
    seed: int = _opt(0, "seed of the strategy and of every trial's training")
    baselines: bool = _opt(False, "also train the hand-designed baselines that fit the budget")
    confirm: int | None = _opt(None, "after the search, train its top N trials by dev score on 2 more seeds each "
                               "and make the best mean of 3 its pick (export --best); 0 or unset: pick on one "
                               "training; resuming a finished search with it confirms that search")
    challenge: str | None = _opt(None, "after the search, train its pick and the best baseline it trained at this "
                                 "fidelity (the one you will train with, e.g. standard) and make the higher dev "
                                 "score the pick (export --best); auto (the default): standard after a quick "
                                 "search that trains baselines and has no --time-limit, else none; none: keep "
                                 "the search's own pick; "
                                 "resuming a finished search with it challenges that search")
    test_scores: bool = _opt(True, "score the front (and the baselines) on the task's test split when the search "
                             "ends")
    keep_weights: str = _opt("front", "keep trained PEFT+head weights: none, front or all")
    plot_every: int = _opt(0, "redraw report/pareto.png every N trials (0: only at the end)")
    data_dir: str | None = _opt(None, "local data for GLUE tasks (GLUE TSV, save_to_disk, CSV)")
    text_cols: str | None = _opt(None, "text column(s) of a custom task: COL or COL1,COL2")
    label_col: str | None = _opt(None, "label column of a custom task (default label)")
    storage: str | None = _opt(None, "an Optuna storage URL for the study (default: study.db in the run "
                               "directory; postgresql://… to share one)")
    exportable: str | None = _opt(None, "peft: search only what HF peft can load (LoRA ranks per layer and "
                                  "projection; space lora by default)")
    strategy_options: dict[str, Any] = _opt({}, "the strategy's own options (the CLI gives them as NAME:key=value)",
                                            cli=False)

    def as_settings(self) -> dict[str, Any]:
        """The options as the settings a search resolves (JSON-able)."""
        out = asdict(self)
        out["out"] = str(self.out) if self.out is not None else None
        return out


def cli_signature(extra: list[inspect.Parameter]) -> inspect.Signature:
    """A typer command's signature: one flag per option (its help and short flags), then `extra`."""
    import typer

    params = []
    for f in fields(SearchOptions):
        cli = f.metadata["cli"]
        if cli is False:
            continue
        kind = cli if cli is not None else _runtime_type(f.name)
        option = typer.Option(*f.metadata["flags"], help=f.metadata["help"])
        default = f.default if f.default is not MISSING else None
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                        annotation=Annotated[kind, option]))
    return inspect.Signature(params + extra)


def _runtime_type(name: str) -> Any:
    import typing

    return typing.get_type_hints(SearchOptions)[name]
