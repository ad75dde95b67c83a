"""Model files shipped inside the package, so that a wheel install works offline.

`vit_fmnist/`: the 4-layer ViT that experiments/vit_pretrain/pretrain.py pretrains on Fashion-MNIST
(a transformers `ViTModel` checkpoint, 2.1 MB of safetensors, with its `preprocessor_config.json`);
`--model vit-fmnist` loads it (`autopeft.backbones.VIT_FMNIST_DIR`).
"""
