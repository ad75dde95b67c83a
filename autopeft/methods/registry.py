"""The torch-free registry of PEFT methods: adding a method is one folder plus one line here."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from autopeft.methods.bitfit.spec import BitFitSpec
from autopeft.methods.ia3.spec import IA3Spec
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
    )
}


def method_module(name: str) -> Any:
    """The torch side of a method (`methods/<name>/module.py`), imported on first use."""
    return import_module(f"autopeft.methods.{name}.module")
