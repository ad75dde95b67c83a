"""The torch-free description of a PEFT method: its per-layer slots, global options, parameter
formula and which model kinds it supports. `space/` reads these; the torch modules live beside
each spec in `module.py`."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from autopeft.methods.anatomy.dims import BackboneDims


class MethodGlobals(BaseModel):
    """Options of a method shared by all layers of a candidate."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    lr: float | None = Field(default=None, gt=0, description="learning rate; None = the method's default")


class MethodSpec:
    """One PEFT method as data: slots (per-layer sizes), globals, formula, supported kinds."""

    name: ClassVar[str]
    title: ClassVar[str]
    slots: ClassVar[tuple[str, ...]]
    flag: ClassVar[bool] = False  # slot sizes are on/off (0/1) rather than widths
    kinds: ClassVar[frozenset[str]] = frozenset({"encoder", "decoder", "vision"})
    default_lr: ClassVar[float]
    # where the default comes from (experiments/train_speed/lr_sweep.py measures them on tweets)
    lr_source: ClassVar[str] = "literature"
    identity_at_init: ClassVar[bool] = True
    Globals: ClassVar[type[MethodGlobals]] = MethodGlobals

    def slot_available(self, slot: str, dims: BackboneDims) -> bool:
        """Whether `slot` exists on this backbone (e.g. BitFit needs a bias there)."""
        return True

    def unsupported_reason(self, dims: BackboneDims) -> str | None:
        """Why the method cannot be used on this backbone, or None when it can."""
        if dims.kind not in self.kinds:
            return f"{self.name} is not supported on {dims.kind} models ({dims.family})"
        if not any(self.slot_available(s, dims) for s in self.slots):
            return f"{self.name} has nothing to attach to on {dims.family}"
        return None

    def layer_params(self, options: dict[str, int], dims: BackboneDims, glob: MethodGlobals) -> int:
        """Exported parameters of this method in one layer (what the budget counts)."""
        raise NotImplementedError

    def layer_train_extra(self, options: dict[str, int], dims: BackboneDims, glob: MethodGlobals) -> int:
        """Parameters trained in one layer on top of the exported ones (e.g. a reparam MLP)."""
        return 0

    def globals_from(self, data: dict[str, Any] | None) -> MethodGlobals:
        """Validated globals with defaults filled in."""
        return self.Globals(**(data or {}))
