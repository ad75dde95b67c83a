"""The torch-free registry of PEFT methods: adding a method is one folder plus one line here.

A method's folder holds `spec.py` (a `MethodSpec`: sizes, counts, attach rank, report name and
colour, what it exports to), `module.py` (`attach`, optionally `prepare`; `elastic_modules` or
`attach_elastic` for the supernet; `fold` when its spec folds) and, when it exports, `export.py`
(`peft_config`/`peft_copy`/`peft_check`, `adapters_configs`/`adapters_tensors`).
tests/methods/test_registry.py walks this registry and checks each entry has all of it."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from autopeft.methods.bitfit.spec import BitFitSpec
from autopeft.methods.ia3.spec import IA3Spec
from autopeft.methods.ln_tuning.spec import LNTuningSpec
from autopeft.methods.lora.spec import LoRASpec
from autopeft.methods.parallel_adapter.spec import ParallelAdapterSpec
from autopeft.methods.prefix.spec import PrefixSpec
from autopeft.methods.prompt.spec import PromptSpec
from autopeft.methods.serial_adapter.spec import SerialAdapterSpec
from autopeft.methods.spec import MethodSpec

METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        LoRASpec(),
        SerialAdapterSpec(),
        ParallelAdapterSpec(),
        PrefixSpec(),
        BitFitSpec(),
        PromptSpec(),
        IA3Spec(),
        LNTuningSpec(),
    )
}


# The order methods attach in, which is also the order their hooks run on a shared module.
ATTACH_ORDER: tuple[str, ...] = tuple(sorted(METHODS, key=lambda m: METHODS[m].attach_rank))


def method_module(name: str) -> Any:
    """The torch side of a method (`methods/<name>/module.py`), imported on first use."""
    return import_module(f"autopeft.methods.{name}.module")


def export_module(name: str) -> Any:
    """How a method exports (`methods/<name>/export.py`); only methods whose spec says they export."""
    return import_module(f"autopeft.methods.{name}.export")
