"""`--keep-weights none|front|all`: trained PEFT + head tensors as weights/trial-N.safetensors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

KEEP = ("none", "front", "all")


def weights_path(run_dir: str | Path, label: str | int) -> Path:
    """Where a trial's (or a baseline's, label `b3`) tensors are kept."""
    return Path(run_dir) / "weights" / f"trial-{label}.safetensors"


def save(run_dir: str | Path, label: str | int, state: dict[str, Any] | None, meta: dict[str, str]) -> Path | None:
    """Write a result's tensors (no-op when the evaluator returned none)."""
    if not state:
        return None
    from safetensors.torch import save_file

    path = weights_path(run_dir, label)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)
    return path


def prune(run_dir: str | Path, keep: set[int]) -> None:
    """Under `front`: delete search trials' weights that left the front (a dominated point never returns)."""
    folder = Path(run_dir) / "weights"
    if not folder.is_dir():
        return
    for f in folder.glob("trial-*.safetensors"):
        label = f.name.removeprefix("trial-").removesuffix(".safetensors")
        if label.isdigit() and int(label) not in keep:
            f.unlink(missing_ok=True)


def checkpoint_path(run_dir: str | Path, trial: int) -> Path:
    """Where a multi-fidelity rung's paused training is kept (evaluators/checkpoint.py bytes)."""
    return Path(run_dir) / "checkpoints" / f"trial-{trial}.safetensors"


def save_checkpoint(run_dir: str | Path, trial: int, blob: bytes) -> None:
    """Write a checkpoint atomically (a killed search never leaves half a file to continue from)."""
    path = checkpoint_path(run_dir, trial)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(blob)
    tmp.replace(path)


def load_checkpoint(run_dir: str | Path, trial: int) -> bytes | None:
    """A kept checkpoint (None when there is none: the continuation then trains from the start)."""
    path = checkpoint_path(run_dir, trial)
    return path.read_bytes() if path.is_file() else None
