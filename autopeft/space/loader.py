"""Load a space by preset name, baseline name or YAML file, and bind it to a backbone."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from autopeft.errors import UserError
from autopeft.methods.anatomy import Anatomy, BackboneDims, dims_from_config, resolve
from autopeft.space.baselines import BASELINES, baseline
from autopeft.space.binding import bind
from autopeft.space.schema import AnatomyBlock, SpaceFile
from autopeft.space.space import BoundSpace

PRESETS = ("full", "autopeft", "noah", "lora")


def preset_names() -> list[str]:
    """Names accepted as SPACE: the search-space presets, then the single-candidate baselines."""
    return list(PRESETS) + list(BASELINES)


def load_space(spec: str | Path | dict[str, Any]) -> SpaceFile:
    """A validated space from a preset name, a YAML file path, or a dict; errors are one line."""
    if isinstance(spec, dict):
        return _validate(spec, "<dict>")
    name = str(spec)
    if name in PRESETS:
        text = resources.files("autopeft.space").joinpath(f"presets/{name}.yaml").read_text()
        return _validate(yaml.safe_load(text), name)
    path = Path(name)
    if not path.exists():
        raise UserError(f"unknown space {name!r}: not a preset ({', '.join(preset_names())}) nor a file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"space file {path} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read space file {path}: {exc}") from None
    return _validate(data, str(path))


def _validate(data: Any, where: str) -> SpaceFile:
    if not isinstance(data, dict):
        raise UserError(f"space {where}: expected a mapping with 'methods', got {type(data).__name__}")
    if not data.get("methods"):
        raise UserError(f"space {where} is empty: give at least one method under 'methods'")
    try:
        space = SpaceFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith(("list[", "function-", "HiddenFractions")))
        raise UserError(f"space {where}: {loc}: {err['msg']}") from None
    if space.version > 1:
        raise UserError(f"space {where} has version {space.version}; this autopeft reads version 1")
    return space


def anatomy_of(space: SpaceFile | None, config: dict[str, Any]) -> Anatomy:
    """The backbone's anatomy: the space file's description if any, else the family table."""
    described = None
    if space is not None and space.anatomy is not None:
        described = _described(space.anatomy, config)
    return resolve(config, described)


def _described(block: AnatomyBlock, config: dict[str, Any]) -> Anatomy:
    fields = block.model_dump()
    fields["ffn_in"] = tuple(fields["ffn_in"])
    fields["layer_norms"] = tuple(fields["layer_norms"])
    model_type = config.get("model_type", "custom")
    return Anatomy(name=str(model_type), model_types=(model_type,), **fields)


def bind_space(spec: str | Path | dict[str, Any], config: dict[str, Any], num_labels: int = 2) -> BoundSpace:
    """Load `spec` (preset, baseline name or file) and bind it to a backbone config."""
    name = str(spec) if not isinstance(spec, dict) else spec.get("name", "space")
    if isinstance(spec, str) and spec.split("@")[0] in BASELINES:
        dims = dims_from_config(config, resolve(config))
        return _single(spec, dims, num_labels)
    space = load_space(spec)
    dims = dims_from_config(config, anatomy_of(space, config))
    bound = bind(space, dims, space.name or name)
    bound.num_labels = num_labels
    return bound


def _single(name: str, dims: BackboneDims, num_labels: int) -> BoundSpace:
    cand = baseline(name, dims)
    bound = BoundSpace(name=name, dims=dims, genes=[], decoder=lambda _a: cand, num_labels=num_labels)
    bound.count(cand)  # unusable on this backbone -> clear error now
    return bound
