"""Exact PEFT parameter accounting from a backbone's config alone (no weights, no torch).

What the budget counts (DESIGN.md): the exported tensors only, task head excluded. The built
model's trainable PEFT parameters equal this, parameter for parameter (tests hold it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autopeft.errors import UserError
from autopeft.methods.anatomy import BackboneDims, dims_from_config, resolve
from autopeft.methods.candidate import Candidate
from autopeft.methods.registry import METHODS


@dataclass(frozen=True)
class ParamCount:
    """PEFT parameters (the budget's measure), what training trains, and the head beside them."""

    peft_params: int
    train_params: int  # PEFT parameters trained (adds e.g. the prefix reparam MLP), head excluded
    head_params: int
    backbone_params: int | None

    @property
    def peft_pct(self) -> float | None:
        """PEFT parameters as a percentage of the backbone (0.5 means 0.5%)."""
        if not self.backbone_params:
            return None
        return 100.0 * self.peft_params / self.backbone_params


def check_fits(candidate: Candidate, dims: BackboneDims) -> None:
    """Raise a clear error when the candidate was built for another depth or uses what is missing."""
    if candidate.num_layers != dims.num_layers:
        raise UserError(
            f"candidate has {candidate.num_layers} layers but the model has {dims.num_layers}; "
            "sample candidates for this model (autopeft space sample --model ...)"
        )
    for method in candidate.methods:
        reason = METHODS[method].unsupported_reason(dims)
        if reason:
            raise UserError(f"candidate uses {reason}")
    for i, layer in enumerate(candidate.layers):
        for method, sizes in layer.items():
            for slot in sizes:
                if not METHODS[method].slot_available(slot, dims):
                    raise UserError(f"candidate layer {i}: {method}.{slot} does not exist on {dims.family}")


def count_dims(candidate: Candidate, dims: BackboneDims, num_labels: int = 2) -> ParamCount:
    """Count a candidate's parameters on a backbone described by `dims`."""
    check_fits(candidate, dims)
    glob = {m: METHODS[m].globals_from(g) for m, g in candidate.globals.items()}
    peft = extra = 0
    for layer in candidate.layers:
        for method, sizes in layer.items():
            spec = METHODS[method]
            peft += spec.layer_params(sizes, dims, glob[method])
            extra += spec.layer_train_extra(sizes, dims, glob[method])
    return ParamCount(
        peft_params=peft,
        train_params=peft + extra,
        head_params=dims.head_params(num_labels),
        backbone_params=dims.backbone_params,
    )


def count(candidate: Candidate | dict | str, model_or_config: Any, num_labels: int = 2) -> ParamCount:
    """Exact parameter count of `candidate` on a model, a transformers config, or a config dict."""
    if not isinstance(candidate, Candidate):
        candidate = Candidate.from_json(candidate)
    config = _config_dict(model_or_config)
    return count_dims(candidate, dims_from_config(config, resolve(config)), num_labels)


def _config_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    config = getattr(obj, "config", obj)
    if hasattr(config, "to_dict"):
        return config.to_dict()
    raise UserError(f"cannot read a model config from {type(obj).__name__}")
