"""The space file (YAML) as validated pydantic models.

    version: 1
    name: my-space
    globals:                         # a list is a choice the search makes; a scalar is fixed
      prompt: {length: [5, 10, 20]}
    methods:
      lora:
        layers: all                  # all | "2-5" | [0, 2, 4]
        tie: layer                   # all | layer | groups | depth
        sizes: {q: [0, 4, 8], v: [0, 4, 8]}      # 0 = off
      serial_adapter:
        tie: all
        sizes: {ffn: {hidden_over_pow2: [0, 1, 2, 3, 10], off_code: 10}}   # AutoPEFT's codes
    switch: {layers: all}            # one on/off per layer shared by all methods (AutoPEFT)
    anatomy: {...}                   # describe a model family that is not in the table
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

LayerSel = Literal["all"] | str | list[int]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HiddenFractions(Strict):
    """AutoPEFT's sizes: floor(hidden / 2**k) for each code k; the code `off_code` (and size 0) is off."""

    hidden_over_pow2: list[int] = Field(min_length=1)
    off_code: int | None = None

    @field_validator("hidden_over_pow2")
    @classmethod
    def _non_negative(cls, codes: list[int]) -> list[int]:
        if any(c < 0 for c in codes):
            raise ValueError("codes must be >= 0")
        return codes


class MethodBlock(Strict):
    layers: LayerSel = "all"
    tie: Literal["all", "layer", "groups", "depth"] = "layer"
    groups: list[list[int]] | int | None = None
    depths: list[int] | None = None
    depth_fractions: list[float] | None = Field(
        default=None, description="depths as fractions of the method's layers, rounded up (NOAH's 3/6/9/12 of 12)"
    )
    shared_size: bool = Field(default=False, description="one size shared by all slots (NOAH)")
    sizes: dict[str, list[int] | HiddenFractions] = Field(min_length=1)

    @field_validator("sizes")
    @classmethod
    def _sizes_non_negative(cls, sizes: dict[str, Any]) -> dict[str, Any]:
        for slot, choices in sizes.items():
            if isinstance(choices, list):
                if not choices:
                    raise ValueError(f"{slot}: give at least one size")
                if any(c < 0 for c in choices):
                    raise ValueError(f"{slot}: sizes must be >= 0 (0 = off), got {choices}")
        return sizes

    @model_validator(mode="after")
    def _tie_needs(self) -> MethodBlock:
        if self.tie == "groups" and self.groups is None:
            raise ValueError("tie: groups needs `groups` (a list of layer lists, or a group size)")
        if self.tie == "depth":
            if not self.depths and not self.depth_fractions:
                raise ValueError("tie: depth needs `depths` (leading layers, e.g. [3, 6]) or `depth_fractions`")
            if any(d < 0 for d in self.depths or []) or any(not 0 < f <= 1 for f in self.depth_fractions or []):
                raise ValueError("depths must be >= 0 and depth_fractions in (0, 1]")
        return self


class SwitchBlock(Strict):
    layers: LayerSel = "all"


class AnatomyBlock(Strict):
    """A model family described by module-name patterns (see methods/anatomy/families.py)."""

    kind: Literal["encoder", "decoder", "vision"]
    layers: str
    q: str
    k: str
    v: str
    o: str
    ffn_in: list[str] = Field(min_length=1)
    ffn_out: str
    attention: str
    layer_norms: list[str] = []
    hidden_key: str = "hidden_size"
    heads_key: str = "num_attention_heads"
    kv_heads_key: str | None = None
    ffn_key: str = "intermediate_size"
    layers_key: str = "num_hidden_layers"
    bias: dict[str, bool | str] = {}
    head: Literal["linear", "dense_linear", "score"] = "linear"


class SpaceFile(Strict):
    version: int = 1
    name: str | None = None
    description: str = ""
    anatomy: AnatomyBlock | None = None
    globals: dict[str, dict[str, Any]] = {}
    methods: dict[str, MethodBlock] = Field(min_length=1)
    switch: SwitchBlock | None = None
