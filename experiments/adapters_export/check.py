"""Load an `autopeft export --format adapters` directory with AdapterHub `adapters` and compare logits.

Runs in its own environment (adapters pins transformers ~=4.57.6):

    python3 -m venv .venv-adapters
    .venv-adapters/bin/pip install torch==2.13.0      # first: the CPU build on local disk
    .venv-adapters/bin/pip install adapters safetensors
    .venv-adapters/bin/python experiments/adapters_export/check.py EXPORT_DIR BACKBONE_DIR [--negative-control]

Exit status 0 when the logits match our own model's (stored by the export in probe.safetensors).
`--negative-control` loads the adapter without activating it, which must not match: it shows that
the comparison can fail."""

from __future__ import annotations

import sys

import adapters
import torch
import transformers
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification


def main(export_dir: str, backbone: str, negative_control: bool = False) -> int:
    """Load the export onto the backbone with adapters; compare with the stored logits."""
    probe = load_file(f"{export_dir}/probe.safetensors")
    head = load_file(f"{export_dir}/head.safetensors")
    num_labels = probe["logits"].shape[-1]
    model = AutoModelForSequenceClassification.from_pretrained(backbone, num_labels=num_labels)
    adapters.init(model)
    name = model.load_adapter(export_dir, use_safetensors=True, with_head=False)
    if not negative_control:
        model.set_active_adapters(name)
    missing = model.load_state_dict(head, strict=False)
    assert not missing.unexpected_keys, missing.unexpected_keys
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=probe["input_ids"], attention_mask=probe["attention_mask"]).logits
    diff = float((logits - probe["logits"]).abs().max()) / max(1.0, float(probe["logits"].abs().max()))
    ok = diff <= 1e-4
    what = "negative control (adapter not activated)" if negative_control else "export"
    print(f"{export_dir}: {what}: adapters {adapters.__version__}, transformers {transformers.__version__}, "
          f"torch {torch.__version__}: {'match' if ok else 'MISMATCH'} (max rel. diff {diff:.1e})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], "--negative-control" in sys.argv[3:]))
