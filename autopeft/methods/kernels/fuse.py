"""`--kernels fused|triton`: one hook per linear in place of its chain of branch hooks.

The methods attach as always (same modules, names, parameters, counts and exports); `fuse` then
walks each layer's projections and, on every linear whose forward hooks end in a run of LoRA /
(IA)^3 / parallel / serial adapter hooks, replaces that run by one hook that computes the same
thing in the same order: the additive branches (LoRA, parallel adapter) as one up-accumulate into
the base output (`branch_up.py`, with (IA)^3's output scale as its epilogue), their down-projections
from one matmul per shared input (`shared.py`), and a serial adapter as the same up-accumulate with
its residual. Hooks before the run (the supernet's BitFit deltas) stay. Left plain, with the reason
that they change the branch per token or per step: UniPELT-gated LoRA and serial adapters, LoRA
with dropout, serial adapters without their residual. `detach()` removes the fused hooks like any
other; the plain hooks it replaced were removed from the linear already.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from autopeft.methods.attach import AttachedPeft, layers_of
from autopeft.methods.common import BRANCH
from autopeft.methods.kernels.branch_up import branch_up
from autopeft.methods.kernels.reference import Segment
from autopeft.methods.kernels.shared import SharedDown, down_weights

_MODULE = {"lora": "autopeft_lora", "ia3": "autopeft_ia3", "parallel_adapter": "autopeft_parallel_adapter",
           "serial_adapter": "autopeft_serial_adapter"}
Chain = list[tuple[str, Any]]  # (kind, the branch module: LoRA, Scale or an adapter)


def fusible(kind: str, module: Any) -> bool:
    """Whether a branch computes the same for every token and step (what the fused hook assumes)."""
    if kind == "lora":
        return module.gate is None and isinstance(module.dropout, nn.Identity)
    if kind == "serial_adapter":
        return module.gate is None and bool(module.residual)
    return True


def _branch_run(linear: nn.Module) -> tuple[list[int], Chain] | None:
    """The hook ids and (kind, module) of the linear's trailing run of fusible branch hooks."""
    items = list(linear._forward_hooks.items())
    kinds = [getattr(fn, BRANCH, None) for _, fn in items]
    first = next((i for i, k in enumerate(kinds) if k is not None), None)
    if first is None or first in linear._forward_hooks_with_kwargs:
        return None
    chain: Chain = []
    for kind in kinds[first:]:
        if kind is None:
            return None
        module = getattr(linear, _MODULE[kind])
        if not fusible(kind, module):
            return None
        chain.append((kind, module))
    return [hook_id for hook_id, _ in items[first:]], chain


def fuse(peft: AttachedPeft, kernels: str) -> int:
    """Switch an attached candidate to `kernels` (`plain` leaves it alone); the number of linears fused."""
    if kernels == "plain" or not peft.attached:
        return 0
    fused = 0
    for layer in layers_of(peft.model, peft.anatomy):
        fused += _fuse_layer(peft, layer, triton=kernels == "triton")
    return fused


def _fuse_layer(peft: AttachedPeft, layer: nn.Module, triton: bool) -> int:
    a = peft.anatomy
    try:
        get = layer.get_submodule
        slots = {"q": [get(a.q)], "k": [get(a.k)], "v": [get(a.v)], "o": [get(a.o)],
                 "ffn_in": [get(p) for p in a.ffn_in], "ffn_out": [get(a.ffn_out)]}
    except AttributeError:
        return 0
    runs = {id(m): (m, run) for ms in slots.values() for m in ms if (run := _branch_run(m)) is not None}
    # the inputs branches share: the block's input (q, k, v; the attention parallel adapter) and the
    # FFN's input (its first projection(s); the FFN parallel adapter)
    shared = {"attn": (("q", "k", "v"), "o"), "ffn": (("ffn_in",), "ffn_out")}
    downs: dict[int, SharedDown] = {}
    for readers, end in shared.values():
        members = [mod for s in readers for lin in slots[s] if id(lin) in runs
                   for kind, mod in runs[id(lin)][1][1] if kind == "lora"]
        members += [mod for lin in slots[end] if id(lin) in runs
                    for kind, mod in runs[id(lin)][1][1] if kind == "parallel_adapter"]
        group = SharedDown(members)
        downs.update({id(mod): group for mod in members})
    for linear, (ids, chain) in runs.values():
        for kind, mod in chain:  # a branch reading the linear's own input alone (LoRA on o, ffn_out)
            if kind in ("lora", "parallel_adapter") and id(mod) not in downs:
                downs[id(mod)] = SharedDown([mod])
        for hook_id in ids:
            del linear._forward_hooks[hook_id]
        peft.add_hook(linear.register_forward_hook(_fused_hook(chain, downs, triton)))
    return len(runs)


def _fused_hook(chain: Chain, downs: dict[int, SharedDown], triton: bool) -> Callable:
    def hook(linear: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        x, out = inputs[0], output
        pending: list[tuple[torch.Tensor, Segment, torch.Tensor, torch.Tensor | None]] = []
        for kind, m in chain:
            if kind == "parallel_adapter":
                xb, m._x = m._x, None
                if not m.is_off():
                    h = downs[id(m)].down(xb, m)
                    up = m.bottleneck.up
                    pending.append((h, (h.shape[-1], m.bottleneck.act), up.weight[:, :h.shape[-1]] * m.scale,
                                    up.bias * m.scale))
            elif m.is_off() or getattr(m, "merged", False):
                continue
            elif kind == "lora":
                h = downs[id(m)].down(x, m)
                up = m.B.weight[:, :h.shape[-1]]
                pending.append((h, (h.shape[-1], None), up if m.scaling == 1.0 else up * m.scaling, None))
            elif kind == "ia3":
                out = _flush(out, pending, triton, m.l)
            else:  # serial adapter: y + U f(D y + d) + u, reading its own output
                out = _flush(out, pending, triton)
                w, b = down_weights(m)
                h = F.linear(out, w, b)
                up = m.bottleneck.up
                out = branch_up(out, h, up.weight[:, :w.shape[0]], up.bias, None, ((w.shape[0], m.bottleneck.act),),
                                triton)
        return _flush(out, pending, triton)

    return hook


def _flush(out: torch.Tensor, pending: list, triton: bool, scale: torch.Tensor | None = None) -> torch.Tensor:
    """Accumulate the pending additive branches into `out` in one matmul, then scale (IA)^3's way."""
    if not pending:
        return out if scale is None else out * scale.to(out.dtype)
    hs, segments, ups, biases = zip(*pending, strict=True)
    pending.clear()
    h = hs[0] if len(hs) == 1 else torch.cat(hs, dim=-1)
    up = ups[0] if len(ups) == 1 else torch.cat(ups, dim=1)
    present = [b for b in biases if b is not None]
    bias = None if not present else present[0] if len(present) == 1 else torch.stack(present).sum(0)
    return branch_up(out, h, up, bias, scale, segments, triton)
