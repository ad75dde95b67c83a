"""The backbone's dimensions (when its config is on this machine) and parameters per method."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autopeft.methods.registry import METHODS
from autopeft.report.mix import raw_layers


def backbone_dims(meta: dict[str, Any]) -> Any | None:
    """The backbone's dimensions when its config is on this machine (never the network), else None."""
    model = meta.get("model")
    if not isinstance(model, str):
        return None
    try:
        from autopeft.backbones import resolve_model_path
        from autopeft.methods.anatomy import dims_from_config, resolve

        config_file = Path(resolve_model_path(model)) / "config.json"
        if not config_file.is_file():
            return None
        config = json.loads(config_file.read_text())
        return dims_from_config(config, resolve(config))
    except Exception:  # an unknown or remote model only loses the parameter weighting
        return None


def candidate_globals(candidate: Any) -> dict[str, Any]:
    """The candidate's per-method globals ({} when unreadable)."""
    try:
        data = json.loads(candidate) if isinstance(candidate, str) else candidate
        return dict(data.get("globals") or {})
    except (TypeError, ValueError, AttributeError):
        return {}


def cell_value(method: str, sizes: dict[str, int], dims: Any | None, glob: dict[str, Any] | None) -> float:
    """One method's PEFT parameters in one layer with `dims`, else its summed slot sizes."""
    spec = METHODS.get(method)
    if dims is not None and spec is not None:
        try:
            return float(spec.layer_params(sizes, dims, spec.globals_from(glob)))
        except Exception:  # a slot this backbone lacks: fall back to the size
            pass
    return float(sum(sizes.values()))


def method_shares(candidate: Any, dims: Any | None = None) -> dict[str, float]:
    """Each method's share (summing to 1) of the candidate's parameters (of its sizes without dims)."""
    glob = candidate_globals(candidate)
    totals: dict[str, float] = {}
    for layer in raw_layers(candidate):
        for method, sizes in layer.items():
            if sizes:
                totals[method] = totals.get(method, 0.0) + cell_value(method, sizes, dims, glob.get(method))
    whole = sum(totals.values())
    return {m: v / whole for m, v in totals.items()} if whole > 0 else {}


def precision_line(meta: dict[str, Any]) -> str:
    """The backbone's precision and memory footprint as run.json states them ('' for runs that predate it)."""
    info = meta.get("backbone")
    quant = (meta.get("precision") or {}).get("quantize") if isinstance(meta.get("precision"), dict) else None
    if not isinstance(info, dict):
        return f"backbone {quant}" if quant else ""
    text = f"backbone {info.get('quantize', quant or 'fp32')} ({info.get('weights', '?')})"
    if info.get("footprint_mb") is not None:
        text += f", {info['footprint_mb']:,} MiB in memory"
        if info.get("quantize", "fp32") != "fp32" and info.get("fp32_backbone_mb"):
            text += f" (fp32 backbone: {info['fp32_backbone_mb']:,} MiB)"
    return text
