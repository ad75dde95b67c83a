"""Search strategies, one file each, behind `strategies.base.Strategy`; looked up by name."""

from __future__ import annotations

from importlib import import_module

from autopeft.errors import UserError

STRATEGIES: dict[str, tuple[str, str]] = {
    "random": ("autopeft.search.strategies.random", "RandomStrategy"),
    "tpe": ("autopeft.search.strategies.optuna_samplers", "TPEStrategy"),
    "nsga2": ("autopeft.search.strategies.optuna_samplers", "NSGA2Strategy"),
    "mobo": ("autopeft.search.strategies.mobo", "MOBOStrategy"),
    "autopeft-paper": ("autopeft.search.strategies.paper", "AutoPEFTPaperStrategy"),
    "noah-paper": ("autopeft.search.strategies.noah", "NOAHPaperStrategy"),
    "auto": ("autopeft.search.strategies.auto", "AutoStrategy"),
    "adalora": ("autopeft.search.strategies.adalora", "AdaLoRAStrategy"),
    "asha": ("autopeft.search.strategies.asha", "ASHAStrategy"),
}


def strategy_class(name: str):
    """The strategy class registered under `name` (one clear error for an unknown one)."""
    if name not in STRATEGIES:
        raise UserError(f"unknown strategy {name!r}; use one of {', '.join(STRATEGIES)}")
    module, attr = STRATEGIES[name]
    return getattr(import_module(module), attr)
