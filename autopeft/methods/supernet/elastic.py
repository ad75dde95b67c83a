"""A supernet over a bound space: the largest candidate attached once, sub-candidates selected
by slicing (weight entanglement, as NOAH and LoNAS/Shears): a rank-4 LoRA uses the first 4
rows of A and columns of B of the rank-16 one; widths, prefix and prompt lengths likewise."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from autopeft.errors import UserError
from autopeft.methods.attach import AttachedPeft, LayerContext, apply, layers_of
from autopeft.methods.supernet.bias_delta import BiasDelta, attach_bias_delta
from autopeft.space.candidate import Candidate
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
    module: nn.Module


class Supernet:
    """The largest candidate of `space` on `model`; `activate(c)` makes the model compute `c`."""

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
        plain = Candidate([{m: s for m, s in layer.items() if m != "bitfit"} for layer in layers],
                          self.largest.globals)
        bitfit = [layer.get("bitfit", {}) for layer in layers]
        if plain.is_empty():  # BitFit only: nothing but bias deltas to attach
            plain = None
        self.peft: AttachedPeft = apply(model, plain) if plain else _bare(model, self.largest)
        self.slots = self._index(plain, bitfit)
        self.active: Candidate | None = self.largest

    # --- building -------------------------------------------------------------------------
    def _index(self, plain: Candidate | None, bitfit: list[dict[str, int]]) -> list[_Slot]:
        peft, anatomy = self.peft, self.peft.anatomy
        layer_modules = layers_of(self.model, anatomy)
        out: list[_Slot] = []
        for i, layer in enumerate(plain.layers if plain else [{}] * len(bitfit)):
            ctx = LayerContext(i, layer_modules[i], anatomy, peft.dims, peft)
            for method, sizes in layer.items():
                for slot in sizes:
                    out.extend(_Slot(i, method, slot, m) for m in _modules_of(ctx, method, slot))
            for slot in bitfit[i]:
                owners = [ctx.layer.get_submodule(p) for p in anatomy.layer_norms] if slot == "ln" \
                    else ctx.projections(slot)
                for j, owner in enumerate(owners):
                    out.append(_Slot(i, "bitfit", slot, attach_bias_delta(peft, owner, f"{slot}{j}")))
        return out

    # --- selecting a sub-network ----------------------------------------------------------
    def activate(self, candidate: Candidate) -> None:
        """Make the model compute `candidate` with the shared weights (others switched off)."""
        self.space.count(candidate)  # fits this backbone
        length = candidate.globals.get("prompt", {}).get("length")
        for s in self.slots:
            size = candidate.layers[s.layer].get(s.method, {}).get(s.slot, 0)
            if size and s.method == "prompt":
                size = length
            elif size and s.method in ("bitfit", "ia3"):
                size = None  # on/off only
            if size and size > _full_size(s.module):
                raise UserError(f"candidate needs {s.method}.{s.slot}={size} at layer {s.layer}; "
                                f"the supernet was built with {_full_size(s.module)}")
            s.module.active = size if size != _full_size(s.module) else None
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
            if s.module.is_off():
                continue
            prefix = names[id(s.module)]
            if isinstance(s.module, BiasDelta):
                owner = prefix.rsplit(".", 1)[0]
                bias = self.model.get_submodule(owner).bias
                out[f"{owner}.bias"] = (bias + s.module.delta).detach()
                continue
            for pname, tensor in _sliced(s.module).items():
                out[f"{prefix}.{pname}"] = tensor.detach()
        for name, p in self.peft.head_parameters():
            out[name] = p.detach()
        return out

    def parameters(self) -> list[nn.Parameter]:
        """Every trainable tensor of the supernet (shared PEFT weights and the head)."""
        return [p for p in self.model.parameters() if p.requires_grad]

    def detach(self) -> None:
        """Take the supernet off the model."""
        self.peft.detach()


def _bare(model: nn.Module, largest: Candidate) -> AttachedPeft:
    from autopeft.methods.anatomy import dims_from_config, resolve

    config = model.config.to_dict()
    anatomy = resolve(config)
    for p in model.parameters():
        p.requires_grad_(False)
    peft = AttachedPeft(model=model, candidate=largest, anatomy=anatomy, dims=dims_from_config(config, anatomy))
    for _, p in peft.head_parameters():
        p.requires_grad_(True)
    return peft


def _modules_of(ctx: LayerContext, method: str, slot: str) -> list[nn.Module]:
    if method == "lora":
        return [linear.autopeft_lora for linear in ctx.projections(slot)]
    if method in ("serial_adapter", "parallel_adapter"):
        owner = ctx.projection("o" if slot == "attn" else "ffn_out")
        return [getattr(owner, f"autopeft_{method}")]
    if method == "prefix":
        return [ctx.attention().autopeft_prefix]
    if method == "prompt":
        return [ctx.layer.autopeft_prompt]
    if method == "ia3":
        if slot in ("k", "v"):
            return [ctx.projection(slot).autopeft_ia3]
        return [ctx.projection("ffn_out").autopeft_ia3_ffn]
    raise ValueError(method)


def _full_size(module: nn.Module) -> int | None:
    for attr in ("rank", "length"):
        if hasattr(module, attr):
            return getattr(module, attr)
    if hasattr(module, "bottleneck"):
        return module.bottleneck.down.out_features
    if hasattr(module, "tokens"):
        return module.tokens.shape[0]
    return None


def _sliced(module: nn.Module) -> dict[str, torch.Tensor]:
    """A module's tensors cut to its active size, keyed as the plain module names them."""
    k = module.active
    tensors = dict(module.named_parameters())
    if k is None:
        return tensors
    out = {}
    for name, t in tensors.items():
        if name in ("A.weight", "bottleneck.down.weight", "bottleneck.down.bias", "kv", "embedding", "tokens"):
            out[name] = t[:k]
        elif name in ("B.weight", "bottleneck.up.weight"):
            out[name] = t[:, :k]
        else:
            out[name] = t
    return out


def _is_head(net: Supernet, name: str) -> bool:
    return name in {n for n, _ in net.peft.head_parameters()}
