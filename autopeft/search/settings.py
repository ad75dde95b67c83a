"""A search's settings: the options checked and resolved (budget, space, fidelity, run directory),
or read back from run.json when resuming. All bad input fails here, before anything loads."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autopeft.errors import UserError
from autopeft.evaluators.precision import ATTENTIONS, PRECISIONS
from autopeft.evaluators.quantize import parse_quantize, require_bitsandbytes
from autopeft.methods.candidate import Candidate
from autopeft.methods.kernels.select import KERNELS
from autopeft.search.options import SearchOptions
from autopeft.search.record import storage_url
from autopeft.search.weights import KEEP
from autopeft.space.space import BoundSpace

if TYPE_CHECKING:
    from autopeft.search.strategies.base import Strategy

DEFAULT_TRIALS = 10  # DESIGN: the default search in about ten minutes on 2 cores (timed: experiments/default_search)
DEFAULT_SPACE = "full"
# `--exportable peft`: what peft can load is LoRA with per-layer, per-projection ranks (the `lora`
# preset) or (IA)3 alone; a mix of adapter types cannot be saved by peft (REFERENCE.md)
EXPORTABLE = {"peft": ("lora", ({"lora"}, {"ia3"}))}
CHALLENGE_OFF = ("none", "off")  # `--challenge none`: pick on the search's own ranking
# the options a resumed search may change; everything else comes from its run.json
RESUMABLE = ("trials", "time_limit", "workers", "ray_address", "plot_every", "confirm", "challenge")


def parse_duration(text: str | float | int | None) -> float | None:
    """Seconds from `90`, `90s`, `30m`, `2h`, `1h30m` (None stays None)."""
    if text is None or text == "":
        return None
    if isinstance(text, int | float):
        return float(text)
    raw = str(text).strip().lower()
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([hms]?)", raw)
    if not parts or re.sub(r"\d+(?:\.\d+)?\s*[hms]?", "", raw).strip():
        raise UserError(f"malformed time limit {text!r}: write it like 90s, 30m, 2h or 1h30m")
    scale = {"h": 3600, "m": 60, "s": 1, "": 1}
    total = sum(float(v) * scale[u] for v, u in parts)
    if total <= 0:
        raise UserError(f"time limit {text!r} must be positive")
    return total


@dataclass
class Settings:
    """Everything a search needs, checked."""

    options: SearchOptions  # as given (after resume merging), checked
    run_dir: Path
    bound: BoundSpace
    budget_params: int
    fidelity: str
    trials: int
    time_limit_s: float | None
    storage: str
    resumed: bool = False
    chance: float | None = None
    deviations: list[str] = field(default_factory=list)

    synthetic: bool = False  # scored by a stand-in evaluator (tests, benchmarks), recorded in run.json

    @property
    def opts(self) -> dict[str, Any]:
        """The options as run.json's `settings` record them (what a resume starts from)."""
        return self.options.as_settings() | {"synthetic": self.synthetic}

    def fitted_baselines(self) -> list[tuple[str, Candidate]]:
        """The hand-designed baselines that fit the budget (smaller versions where needed)."""
        from autopeft.space.baselines import fitted

        return [(name, cand) for name, cand in fitted(self.bound.dims, self.budget_params)]

    def run_info(self) -> dict[str, Any]:
        """run.json's settings part."""
        import optuna

        import autopeft
        from autopeft.evaluators.precision import machine_info

        versions: dict[str, str | None] = {"autopeft": autopeft.__version__, "optuna": optuna.__version__,
                                           "python": _py()}
        for mod in ("torch", "botorch", "transformers"):
            versions[mod] = _version(mod)
        dims = self.bound.dims
        # None for a family described in the space file, which has no formula for the backbone's size
        pct = 100 * self.budget_params / dims.backbone_params if dims.backbone_params is not None else None
        return {"command": _command(), "settings": self.opts, "task": self.opts["task"], "model": self.opts["model"],
                "space": self.bound.name, "strategy": self.opts["strategy"], "seed": self.opts["seed"],
                "budget": {"text": str(self.opts["budget"]), "peft_params": self.budget_params, "pct": pct},
                "backbone_params": dims.backbone_params, "fidelity": self.fidelity, "trials": self.trials,
                "time_limit_s": self.time_limit_s, "storage": self.storage, "resumed": self.resumed,
                "reference_point": {"score": self.chance, "peft_params": self.budget_params,
                                    "why": "chance score (majority class, 0 for MCC/correlations) and the budget"},
                "precision": self.precision(), "kernels": self.kernels(), "deviations": self.deviations,
                "versions": versions, "machine": machine_info()}

    def precision(self) -> dict[str, str]:
        """The precision asked for and what this machine's workers train in (evaluators/precision.py)."""
        from autopeft.evaluators.precision import attention_for, resolve_precision
        from autopeft.evaluators.worker import resolve_device

        requested = str(self.opts.get("precision") or "fp32")
        device = resolve_device("auto")
        used = resolve_precision(requested, device, quantize=self.opts.get("quantize"))
        return {"requested": requested, "used": used, "device": device,
                "quantize": self.opts.get("quantize") or "fp32",
                "attention": attention_for(used, device, str(self.opts.get("attention") or "auto"))}

    def kernels(self) -> dict[str, str]:
        """The kernels asked for and what this machine's workers use (methods/kernels/select.py)."""
        from autopeft.evaluators.worker import resolve_device
        from autopeft.methods.kernels.select import resolve_kernels

        requested = str(self.opts.get("kernels") or "auto")
        device = resolve_device("auto")
        return {"requested": requested, "used": resolve_kernels(requested, device), "device": device}


# what a run.json's settings must hold to be resumed (a run.json of another version may lack them)
RESUME_NEEDS = ("task", "model", "budget", "strategy", "fidelity")


def resolve_settings(given: dict[str, Any], resume: str | Path | None, synthetic: bool = False) -> Settings:
    """Check the options (or merge them into a resumed run's) and bind the space."""
    from autopeft.backbones import load_config
    from autopeft.evaluators.fidelity import parse_fidelity
    from autopeft.search.strategies import strategy_class
    from autopeft.space.budget import parse_budget
    from autopeft.space.loader import bind_space

    opts = dict(given)
    resumed = resume is not None
    if resume is not None:
        run_dir = Path(resume)
        if not (run_dir / "run.json").is_file():
            raise UserError(f"--resume {resume}: no run.json there; give the directory of an earlier search")
        from autopeft.search.tables import read_run_json

        old = read_run_json(run_dir).get("settings")
        if not isinstance(old, dict):
            raise UserError(f"--resume {resume}: its run.json holds no search settings; give the directory of "
                            "an earlier search")
        missing = [k for k in RESUME_NEEDS if not old.get(k)]
        if missing:
            raise UserError(f"--resume {resume}: its run.json lacks {', '.join(missing)}, so it was written by "
                            "another version of autopeft; resume it with that version, or start a new search")
        opts = old | {k: given[k] for k in RESUMABLE if given.get(k) is not None}
        opts["out"] = str(run_dir)
    opts["workers"] = opts.get("workers") or 1
    if not opts.get("task"):
        raise UserError("give --task (e.g. --task tweet_sentiment), or --resume RUN_DIR")
    cls = strategy_class(opts["strategy"])
    if opts.get("keep_weights") not in KEEP:
        raise UserError(f"--keep-weights {opts.get('keep_weights')!r}: use one of {', '.join(KEEP)}")
    deviations = []
    exportable = opts.get("exportable")
    if exportable is not None and exportable not in EXPORTABLE:
        raise UserError(f"--exportable {exportable!r}: use one of {', '.join(EXPORTABLE)}")
    if opts.get("space") is None:
        opts["space"] = EXPORTABLE[exportable][0] if exportable else (cls.default_space or DEFAULT_SPACE)
    elif cls.default_space not in (None, opts["space"]):
        deviations.append(f"space {opts['space']!r} instead of the recipe's {cls.default_space!r}")
    fid = parse_fidelity(str(opts.get("fidelity") or "quick"))
    fidelity = fid.name if fid.name != "custom" else fid.label()
    time_limit = parse_duration(opts.get("time_limit"))
    if str(opts.get("precision") or "fp32") not in PRECISIONS:
        raise UserError(f"unknown precision {opts['precision']!r}; use one of {', '.join(PRECISIONS)}")
    opts["quantize"] = parse_quantize(opts.get("quantize"))
    if opts["quantize"] and not synthetic:  # before anything loads: a missing library is one line
        require_bitsandbytes(opts["quantize"])
    if str(opts.get("clock") or "wall") not in ("wall", "cpu"):
        raise UserError(f"--clock {opts['clock']!r}: use wall or cpu")
    opts["clock"] = str(opts.get("clock") or "wall")  # a run.json from before --clock resumes on the wall
    if opts["clock"] == "cpu" and (int(opts.get("workers") or 1) > 1 or opts.get("ray_address")):
        raise UserError("--clock cpu counts this process's CPU time, so it needs the in-process worker; "
                        "drop --workers/--ray-address or use --clock wall")
    if str(opts.get("kernels") or "auto") not in KERNELS:
        raise UserError(f"unknown kernels {opts['kernels']!r}; use one of {', '.join(KERNELS)}")
    if str(opts.get("attention") or "auto") not in ATTENTIONS:
        raise UserError(f"unknown attention {opts['attention']!r}; use one of {', '.join(ATTENTIONS)}")
    trials = opts.get("trials")
    if trials is None:  # not given (0 is given, and refused below)
        trials = DEFAULT_TRIALS if time_limit is None else 10**6
    if trials < 1:
        raise UserError(f"--trials {trials} must be at least 1")
    if (opts.get("confirm") or 0) < 0:
        raise UserError(f"--confirm {opts['confirm']} must be 0 (no confirmation) or more trials")
    opts["challenge"] = _challenge(opts, fidelity, cls, resumed)
    config = load_config(opts["model"])
    bound = bind_space(opts["space"], config, 2)
    if exportable:
        _check_exportable(bound, exportable)
    budget = parse_budget(opts["budget"], bound.dims.backbone_params)
    bound.check_budget(budget, opts["budget"])
    if not resumed:
        run_dir = Path(opts["out"]) if opts.get("out") else default_run_dir(opts["task"])
        if (run_dir / "run.json").exists():
            raise UserError(f"{run_dir} already holds a search; continue it with --resume {run_dir} or pick --out")
        run_dir.mkdir(parents=True, exist_ok=True)
        opts["out"] = str(run_dir)
    run_dir = run_dir.resolve()
    storage = opts.get("storage") or storage_url(str(run_dir))
    opts["storage"] = opts.get("storage")
    deviations += cls.deviations(fidelity)
    opts.pop("synthetic", None)
    known = {f.name for f in fields(SearchOptions)}
    options = SearchOptions(**{k: v for k, v in opts.items() if k in known})  # an older run.json may hold more
    return Settings(options, run_dir, bound, budget, fidelity, int(trials), time_limit, storage, resumed,
                    deviations=deviations, synthetic=synthetic)


def _challenge(opts: dict[str, Any], fidelity: str, cls: type[Strategy], resumed: bool) -> str | None:
    """The final challenge's fidelity (search/challenge.py), or None for none.

    Not given, a new search takes `auto`; a resumed one keeps what its run.json says (None for a search
    from before the option). `auto` is `standard` for a `quick` search that trains baselines (the
    default `mobo` starts from them; any strategy with --baselines): the pairing measured out of
    sample, where the challenge's answer was never below the best baseline (experiments/search_quality,
    challenge_fresh.md). Elsewhere `auto` is none: a longer search needs no 300-step guard, a strategy
    that trains no baseline has nothing to challenge with, and a search given --time-limit would run
    past it (the two trainings come after the limit; asked for by name they do). Asked for by name, a
    fidelity that cannot be honoured is one line and exit 2."""
    from autopeft.evaluators.fidelity import parse_fidelity

    asked = opts.get("challenge")
    if asked is None:
        if resumed:
            return None
        asked = "auto"
    trains_baselines = bool(opts.get("baselines")) or cls.trains_baselines(opts.get("strategy_options") or {})
    if asked in CHALLENGE_OFF:
        return None
    if asked == "auto":
        timed = opts.get("time_limit") not in (None, "")
        return "standard" if fidelity == "quick" and trains_baselines and not timed else None
    final = parse_fidelity(str(asked))
    name = final.name if final.name != "custom" else final.label()
    if name == fidelity:
        raise UserError(f"--challenge {name} is the search's own fidelity: name the longer one you will train the "
                        "pick with (e.g. standard), or none")
    if not trains_baselines:
        raise UserError(f"--challenge trains the pick against the best baseline the search trained, and "
                        f"--strategy {opts['strategy']} trains none: add --baselines, or use mobo (it starts "
                        "from the baselines)")
    return name


def default_run_dir(task: str) -> Path:
    """runs/<task>-<date>-<time> under the current directory."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(task).stem if ("/" in task or "." in task) else task)
    return Path("runs") / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def _check_exportable(bound: BoundSpace, fmt: str) -> None:
    """Every candidate of the space can be written in `fmt` (checked on its largest candidate)."""
    from autopeft.export.peft_format import peft_blockers

    top = bound.decode({g.name: g.largest() for g in bound.genes})
    methods = set(top.methods) if top else set()
    allowed = EXPORTABLE[fmt][1]
    why = peft_blockers(top) if top and methods in allowed else ["it mixes " + ", ".join(sorted(methods))]
    if why:
        raise UserError(f"--exportable {fmt}: space {bound.name!r} holds what {fmt} cannot load ({why[0]}); "
                        f"{fmt} holds LoRA (per-layer, per-projection ranks) or (IA)3 alone: use --space lora "
                        "or leave --space out")


def _command() -> str:
    import sys

    return " ".join(sys.argv)


def _py() -> str:
    import platform

    return platform.python_version()


def _version(mod: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(mod)
    except PackageNotFoundError:
        return None

