"""The torch-free description of a PEFT method: its per-layer slots, global options, parameter
formula and which model kinds it supports, and what the rest of the package asks of it (attach
order, supernet slicing, exports, report names). `space/` reads these; the torch side lives beside
each spec: `module.py` (attach, elastic modules, folding) and `export.py` (peft / AdapterHub).

Exports are allow-lists: a method exports to peft only when it names a `peft_type`, to AdapterHub
only when `adapters` is set, and folds into a merged model only when `folds` says so; a new
method is therefore never written in a format nobody checked."""

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
    # the order methods attach in, which is also the order their hooks run on a shared module
    attach_rank: ClassVar[int]
    label: ClassVar[str]  # its name in reports and legends
    abbreviation: ClassVar[str | None] = None  # in legends of mixes of three or more methods
    colour: ClassVar[str]  # its fixed colour in plots (Okabe-Ito, colour-blind friendly)
    peft_type: ClassVar[str | None] = None  # the peft tuner it exports as (`export.py`: peft_*)
    adapters: ClassVar[bool] = False  # exports to AdapterHub (`export.py`: adapters_*)

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

    # `glob` is the method's own `Globals` (a MethodGlobals subclass), hence Any in these signatures
    def layer_params(self, options: dict[str, int], dims: BackboneDims, glob: Any) -> int:
        """Exported parameters of this method in one layer (what the budget counts)."""
        raise NotImplementedError

    def layer_train_extra(self, options: dict[str, int], dims: BackboneDims, glob: Any) -> int:
        """Parameters trained in one layer on top of the exported ones (e.g. a reparam MLP)."""
        return 0

    def globals_from(self, data: dict[str, Any] | None) -> MethodGlobals:
        """Validated globals with defaults filled in."""
        return self.Globals(**(data or {}))

    def elastic_size(self, size: int, glob: dict[str, Any]) -> int | None:
        """The size a supernet slices this slot's module to (None: on/off only, no slicing)."""
        return None if self.flag else size

    def folds(self, glob: dict[str, Any]) -> bool:
        """Whether a merged export folds it into the backbone's weights (`module.fold`)."""
        return False

    def peft_blockers(self, candidate: Any) -> list[str]:
        """Why peft cannot hold this method's part of `candidate` (empty when it can)."""
        return [] if self.peft_type else [f"{self.title} (no peft export)"]

    def adapters_blockers(self, candidate: Any, dims: BackboneDims) -> list[str]:
        """Why AdapterHub's `adapters` cannot hold this method's part of `candidate`."""
        return [] if self.adapters else [f"{self.title} (no AdapterHub export)"]
