"""A supernet over a bound space: the largest candidate attached once, sub-candidates selected
by slicing (weight entanglement, as NOAH and LoNAS/Shears): a rank-4 LoRA uses the first 4
rows of A and columns of B of the rank-16 one; widths, prefix and prompt lengths likewise."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from autopeft.errors import UserError
from autopeft.methods.attach import AttachedPeft, LayerContext, apply, layers_of, model_config
from autopeft.methods.candidate import Candidate
from autopeft.methods.common import Elastic
from autopeft.methods.registry import ATTACH_ORDER, METHODS, method_module
from autopeft.space.space import BoundSpace

# globals that may vary across a supernet's candidates: the prompt length is a slice; any
# other global (a scale, an activation, LoRA's alpha/r) changes what the shared weights mean
SLICEABLE_GLOBALS = {"prompt:length"}


@dataclass
class _Slot:
    """One elastic module: which layer, method and slot of a candidate it serves."""

    layer: int
    method: str
    slot: str
    module: Elastic  # an nn.Module too: named in the model, its tensors exported


class Supernet:
    """The largest candidate of `space` on `model`; `activate(c)` makes the model compute `c`.

    Each method says how: its module's `elastic_modules(ctx, slot)` finds the switchable modules
    `attach` built, or `attach_elastic(ctx, slot)` builds them instead (BitFit: a delta per bias,
    since a bias trained in place cannot be switched off); its spec's `elastic_size` gives the size
    a slot slices to, and each module's `sliced()` cuts its tensors to that size."""

    def __init__(self, model: nn.Module, space: BoundSpace):
        varying = [g.name for g in space.genes if g.kind == "global" and g.name not in SLICEABLE_GLOBALS]
        if varying:
            raise UserError(
                f"a supernet shares weights across candidates, so global options must be fixed; "
                f"space {space.name!r} varies {', '.join(varying)}"
            )
        self.model, self.space = model, space
        self.largest = space.decode({g.name: g.largest() for g in space.genes})
        if self.largest is None:
            raise UserError(f"space {space.name!r} has no candidate to build a supernet from")
        layers = self.largest.layers
        own = {m for m in self.largest.methods if hasattr(method_module(m), "attach_elastic")}
        # the globals stay whole: the trainer reads each method's learning rate from them
        plain = Candidate([{m: s for m, s in layer.items() if m not in own} for layer in layers], self.largest.globals)
        self.peft: AttachedPeft = _bare(model, self.largest) if plain.is_empty() else apply(model, plain)
        self.slots = self._index(layers, own)
        self.active: Candidate | None = self.largest

    # --- building -------------------------------------------------------------------------
    def _index(self, layers: list[dict[str, dict[str, int]]], own: set[str]) -> list[_Slot]:
        peft, anatomy = self.peft, self.peft.anatomy
        layer_modules = layers_of(self.model, anatomy)
        out: list[_Slot] = []
        for i, layer in enumerate(layers):
            ctx = LayerContext(i, layer_modules[i], anatomy, peft.dims, peft)
            for method in (m for m in ATTACH_ORDER if m in layer):
                module = method_module(method)
                find = module.attach_elastic if method in own else module.elastic_modules
                for slot in layer.get(method, {}):
                    out.extend(_Slot(i, method, slot, _elastic(m, method)) for m in find(ctx, slot))
        return out

    # --- selecting a sub-network ----------------------------------------------------------
    def activate(self, candidate: Candidate) -> None:
        """Make the model compute `candidate` with the shared weights (others switched off)."""
        self.space.count(candidate)  # fits this backbone
        for s in self.slots:
            size: int | None = candidate.layers[s.layer].get(s.method, {}).get(s.slot, 0)
            if size:
                size = METHODS[s.method].elastic_size(size, candidate.globals.get(s.method, {}))
            full = s.module.full_size()
            if size and full is not None and size > full:
                raise UserError(f"candidate needs {s.method}.{s.slot}={size} at layer {s.layer}; "
                                f"the supernet was built with {full}")
            s.module.active = size if size != full else None
        self.active = candidate

    def active_params(self) -> int:
        """Exported parameters of the active sub-network (equals the space's count)."""
        return sum(t.numel() for name, t in self.sub_state_dict().items() if not _is_head(self, name))

    def sub_state_dict(self) -> dict[str, torch.Tensor]:
        """The active candidate's tensors, sliced and named as `apply(model, candidate)` names
        them (BitFit deltas folded into the backbone's biases), plus the head."""
        names = {id(m): n for n, m in self.model.named_modules()}
        out: dict[str, torch.Tensor] = {}
        for s in self.slots:
            if not s.module.is_off():
                out |= {k: t.detach() for k, t in s.module.exported_tensors(names[id(s.module)], self.model).items()}
        for name, p in self.peft.head_parameters():
            out[name] = p.detach()
        return out

    def parameters(self) -> list[nn.Parameter]:
        """Every trainable tensor of the supernet (shared PEFT weights and the head)."""
        return [p for p in self.model.parameters() if p.requires_grad]

    def detach(self) -> None:
        """Take the supernet off the model."""
        self.peft.detach()


def _elastic(module: nn.Module, method: str) -> Elastic:
    # a method's elastic_modules/attach_elastic must build switchable modules; say which did not
    if not isinstance(module, Elastic):
        raise TypeError(f"{method}: the supernet got a {type(module).__name__}, which is not Elastic")
    return module


def _bare(model: nn.Module, largest: Candidate) -> AttachedPeft:
    from autopeft.methods.anatomy import dims_from_config, resolve

    config = model_config(model)
    anatomy = resolve(config)
    for p in model.parameters():
        p.requires_grad_(False)
    peft = AttachedPeft(model=model, candidate=largest, anatomy=anatomy, dims=dims_from_config(config, anatomy))
    for _, p in peft.head_parameters():
        p.requires_grad_(True)
    return peft


def _is_head(net: Supernet, name: str) -> bool:
    return name in {n for n, _ in net.peft.head_parameters()}
