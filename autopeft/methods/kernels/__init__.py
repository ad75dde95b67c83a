"""Fused kernels for the branches PEFT methods hang off a frozen linear (issue 22).

`plain` is the methods' own hooks (one hook, and a down and an up matmul, per branch); `fused`
(`fuse.py`) replaces a linear's chain of LoRA / (IA)^3 / parallel / serial adapter hooks by one
hook that accumulates every branch's up-projection into the base output in one matmul
(`branch_up.py`, a custom autograd Function) and computes the down-projections of all branches
that read the same tensor (q, k, v's LoRAs and the attention parallel adapter; the FFN's first
projection's LoRA and the FFN parallel adapter) in one matmul (`shared.py`). `triton` is the same
with the up-accumulate's forward as a Triton kernel (`triton_up.py`). `select.py` resolves
`--kernels`. Every fused path is checked against the plain one (tests/methods/test_kernels*.py).
"""
