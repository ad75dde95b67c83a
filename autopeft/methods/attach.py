"""Attach a candidate's PEFT modules to a transformers model, and take them off again.

Modules hang off the module they act on (e.g. `...attention.self.query.autopeft_lora`) and act
through forward hooks, so the backbone's own module names and code are untouched; `detach()`
restores the backbone exactly (a worker reuses one loaded model for many candidates)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from autopeft.errors import UserError
from autopeft.methods.anatomy import Anatomy, BackboneDims, dims_from_config, resolve
from autopeft.methods.candidate import Candidate
from autopeft.methods.count import check_fits
from autopeft.methods.registry import ATTACH_ORDER, METHODS, method_module

if TYPE_CHECKING:
    from transformers import PretrainedConfig

ATTR_PREFIX = "autopeft_"


@dataclass
class LayerContext:
    """What a method needs to attach to one layer: the layer, where things are, the sizes."""

    index: int
    layer: nn.Module
    anatomy: Anatomy
    dims: BackboneDims
    peft: AttachedPeft

    def projections(self, slot: str) -> list[nn.Module]:
        """The projection module(s) a slot names (ffn_in is two modules on gated FFNs).

        nn.Linear in every family of the table; a described anatomy may name another kind
        (e.g. GPT-2's Conv1D), which serves the methods that only hook a module or train its bias."""
        paths = self.anatomy.ffn_in if slot == "ffn_in" else (getattr(self.anatomy, slot),)
        return [self.layer.get_submodule(p) for p in paths]

    def projection(self, slot: str) -> nn.Module:
        return self.projections(slot)[0]

    def attention(self) -> nn.Module:
        return self.layer.get_submodule(self.anatomy.attention)


@dataclass
class AttachedPeft:
    """A candidate attached to a model: its parameters, counts, and how to take it off."""

    model: nn.Module
    candidate: Candidate
    anatomy: Anatomy
    dims: BackboneDims
    _modules: list[tuple[str, nn.Module]] = field(default_factory=list)  # (method, module)
    _biases: list[nn.Parameter] = field(default_factory=list)  # BitFit: backbone biases that train
    _undo: list[Callable[[], None]] = field(default_factory=list)
    attached: bool = True

    # --- registration, used by the methods' attach functions -------------------------------
    def add_module(self, method: str, owner: nn.Module, attr: str, module: nn.Module) -> None:
        """Hang a PEFT module off `owner` as `autopeft_<attr>`; its parameters train."""
        name = ATTR_PREFIX + attr
        if hasattr(owner, name):
            raise RuntimeError(f"{name} is already attached to {type(owner).__name__}")
        owner.add_module(name, module)
        for p in module.parameters():
            p.requires_grad_(True)
        self._undo.append(lambda: delattr(owner, name))
        self._modules.append((method, module))

    def add_hook(self, handle: torch.utils.hooks.RemovableHandle) -> None:
        self._undo.append(handle.remove)

    def add_undo(self, fn: Callable[[], None]) -> None:
        self._undo.append(fn)

    def train_existing(self, param: nn.Parameter) -> None:
        """Train a backbone bias (BitFit); its value is restored on detach."""
        saved = param.detach().clone()
        param.requires_grad_(True)

        def restore() -> None:
            with torch.no_grad():
                param.copy_(saved)
            param.requires_grad_(False)

        self._undo.append(restore)
        self._biases.append(param)

    # --- what the trainer and the counts need --------------------------------------------
    @property
    def groups(self) -> dict[str, list[tuple[str, nn.Parameter]]]:
        """Per method, its trainable parameters with their names in the model."""
        by_id = {id(p): n for n, p in self.model.named_parameters()}
        out: dict[str, list[tuple[str, nn.Parameter]]] = {}
        if self._biases:
            out["bitfit"] = [(by_id[id(p)], p) for p in self._biases]
        for method, module in self._modules:
            out.setdefault(method, []).extend((by_id[id(p)], p) for p in module.parameters())
        return out

    def head_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """The task head: everything outside the backbone (`model.base_model`)."""
        backbone = {id(p) for p in base_model(self.model).parameters()}
        return [(n, p) for n, p in self.model.named_parameters() if id(p) not in backbone]

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """One parameter list per method in use, plus `head`."""
        out = {m: [p for _, p in ps] for m, ps in self.groups.items()}
        out["head"] = [p for _, p in self.head_parameters()]
        return out

    def learning_rates(self) -> dict[str, float]:
        """Each method's learning rate: the candidate's `lr` global, else the method's default."""
        glob = self.candidate.globals
        return {m: glob.get(m, {}).get("lr") or METHODS[m].default_lr for m in self.groups}

    @property
    def train_params(self) -> int:
        """PEFT parameters that train now (head excluded)."""
        return sum(p.numel() for ps in self.groups.values() for _, p in ps)

    @property
    def peft_params(self) -> int:
        """PEFT parameters an export holds (reparameterisations counted as folded)."""
        total = sum(p.numel() for p in self._biases)
        for _, module in self._modules:
            exported = getattr(module, "exported_numel", None)
            total += exported() if exported else sum(p.numel() for p in module.parameters())
        return total

    @property
    def head_params(self) -> int:
        return sum(p.numel() for _, p in self.head_parameters())

    def state_dict(self) -> dict[str, torch.Tensor]:
        """PEFT and head tensors by their names in the model (what an export writes)."""
        tensors = {n: p.detach() for ps in self.groups.values() for n, p in ps}
        tensors.update({n: p.detach() for n, p in self.head_parameters()})
        return tensors

    def fold(self) -> None:
        """Fold training-only reparameterisations (the prefix MLP) into plain tensors."""
        for _, module in self._modules:
            fold = getattr(module, "fold", None)
            if fold is not None:
                fold()

    def detach(self) -> None:
        """Remove every module and hook, and restore trained backbone tensors and settings."""
        if not self.attached:
            return
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()
        self._modules.clear()
        self._biases.clear()
        self.attached = False


def base_model(model: nn.Module) -> nn.Module:
    """A transformers task model's backbone (`model.base_model`, what `AutoModel` loads)."""
    backbone = model.base_model
    if not isinstance(backbone, nn.Module):
        raise UserError(f"{type(model).__name__}.base_model is a {type(backbone).__name__}, not the backbone module")
    return backbone


def hf_config(model: nn.Module) -> PretrainedConfig:
    """A transformers model's config (a plain attribute, not a module or tensor)."""
    from transformers import PretrainedConfig

    config = getattr(model, "config", None)
    if not isinstance(config, PretrainedConfig):
        raise UserError(f"{type(model).__name__} has no transformers config: autopeft attaches to transformers models")
    return config


def model_config(model: nn.Module) -> dict[str, Any]:
    """A transformers model's config as a dict (the anatomy and the sizes are read from it)."""
    return hf_config(model).to_dict()


def layers_of(model: nn.Module, anatomy: Anatomy) -> nn.ModuleList:
    """The backbone's list of layers."""
    try:
        layers = base_model(model).get_submodule(anatomy.layers)
    except AttributeError:
        raise UserError(
            f"the model has no module {anatomy.layers!r} for family {anatomy.name}; "
            "describe its anatomy in the space file"
        ) from None
    if not isinstance(layers, nn.ModuleList):
        raise UserError(f"{anatomy.layers!r} is a {type(layers).__name__}, not the list of layers (nn.ModuleList); "
                        f"check the {anatomy.name} anatomy")
    return layers


def apply(model: nn.Module, candidate: Candidate | dict | str, anatomy: Anatomy | None = None) -> AttachedPeft:
    """Attach `candidate` to `model`; freeze everything but its PEFT parameters and the task head."""
    if not isinstance(candidate, Candidate):
        candidate = Candidate.from_json(candidate)
    config = model_config(model)
    anatomy = anatomy or resolve(config)
    dims = dims_from_config(config, anatomy)
    check_fits(candidate, dims)
    if candidate.is_empty():
        raise UserError("the candidate has no PEFT module (a head-only model is not a candidate)")
    for p in model.parameters():
        p.requires_grad_(False)
    peft = AttachedPeft(model=model, candidate=candidate, anatomy=anatomy, dims=dims)
    layers = layers_of(model, anatomy)
    glob = {m: METHODS[m].globals_from(g) for m, g in candidate.globals.items()}
    try:
        for method in ATTACH_ORDER:
            if method not in glob:
                continue
            mod = method_module(method)
            if hasattr(mod, "prepare"):
                mod.prepare(model, layers, anatomy, glob[method], peft, candidate)
            for i, options in enumerate(candidate.layers):
                if method in options:
                    ctx = LayerContext(i, layers[i], anatomy, dims, peft)
                    mod.attach(ctx, options[method], glob[method])
    except Exception:
        peft.detach()
        raise
    for _, p in peft.head_parameters():
        p.requires_grad_(True)
    return peft
