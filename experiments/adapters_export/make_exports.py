"""Write AdapterHub exports of four candidates on a tiny BERT (main environment), for check.py.

    .venv/bin/python experiments/adapters_export/make_exports.py OUT
    for d in OUT/export-*; do .venv-adapters/bin/python experiments/adapters_export/check.py $d OUT/backbone; done
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from transformers import BertConfig, BertModel

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout, for tests.helpers
from autopeft.export.exporter import Request, export  # noqa: E402
from tests.helpers.runs import make_run  # noqa: E402  (the run-directory builder the tests use)

CANDIDATES = [
    {"layers": [{"serial_adapter": {"attn": 8, "ffn": 4}}, {"serial_adapter": {"ffn": 8}}]},
    {"layers": [{"parallel_adapter": {"ffn": 8}}, {"parallel_adapter": {"attn": 4, "ffn": 4}}]},
    {"layers": [{"lora": {"q": 2, "v": 2}}, {}]},
    {"layers": [{"serial_adapter": {"ffn": 4}, "lora": {"q": 2, "v": 2, "ffn_in": 2}},
                {"parallel_adapter": {"attn": 8}, "lora": {"q": 2, "v": 2, "ffn_in": 2}}],
     "globals": {"lora": {"alpha_ratio": 2.0}}},
]


def main(root: Path) -> None:
    root.mkdir(parents=True)
    torch.manual_seed(0)
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                        vocab_size=120, max_position_embeddings=64)
    BertModel(config).save_pretrained(root / "backbone")
    run = make_run(root, str(root / "backbone"), [(c, 0.5 + i / 10) for i, c in enumerate(CANDIDATES)])
    for i in range(len(CANDIDATES)):
        print("\n".join(export(Request(run, root / f"export-{i}", "adapters", trial=str(i)))))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
