"""The fused up-accumulate's forward as a Triton kernel: out = y0 + z U^T (+ u), one pass over y0.

On CUDA this writes each output tile once, with the branches' matmul accumulated in float32 in
registers, instead of reading y0 and writing out in a separate pass after a cuBLAS matmul. The
backward stays `branch_up.py`'s torch matmuls (they are full-size GEMMs cuBLAS does well). Tests
run it under Triton's interpreter on the CPU (`TRITON_INTERPRET=1`) in float32 and float16; the
interpreter's bfloat16 is wrong (shared/DESIGN.md), so bfloat16 is checked only on a GPU."""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _up_kernel(y0, z, up, bias, out, M, N, K,
               s_ym, s_zm, s_un, s_om,
               HAS_BIAS: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
    pid_m, pid_n = tl.program_id(0), tl.program_id(1)
    rm = pid_m * BM + tl.arange(0, BM)
    rn = pid_n * BN + tl.arange(0, BN)
    rk = tl.arange(0, BK)
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k0 in range(0, K, BK):
        kk = k0 + rk
        a = tl.load(z + rm[:, None] * s_zm + kk[None, :], mask=(rm[:, None] < M) & (kk[None, :] < K), other=0.0)
        b = tl.load(up + rn[None, :] * s_un + kk[:, None], mask=(rn[None, :] < N) & (kk[:, None] < K), other=0.0)
        acc += tl.dot(a, b)
    mask = (rm[:, None] < M) & (rn[None, :] < N)
    acc += tl.load(y0 + rm[:, None] * s_ym + rn[None, :], mask=mask, other=0.0).to(tl.float32)
    if HAS_BIAS:
        acc += tl.load(bias + rn, mask=rn < N, other=0.0).to(tl.float32)[None, :]
    tl.store(out + rm[:, None] * s_om + rn[None, :], acc.to(out.dtype.element_ty), mask=mask)


def up_accumulate(y0: torch.Tensor, z: torch.Tensor, up: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """y0 (M x N) + z (M x K) @ up (N x K)^T (+ bias), rows contiguous; a new tensor."""
    y0, z, up = y0.contiguous(), z.contiguous(), up.contiguous()
    m, n = y0.shape
    k = z.shape[1]
    out = torch.empty_like(y0)
    bm, bn, bk = 64, 64, 16  # tl.dot needs every block dimension >= 16; K (the ranks) is small
    grid = (triton.cdiv(m, bm), triton.cdiv(n, bn))
    _up_kernel[grid](y0, z, up, bias if bias is not None else y0, out, m, n, k,
                     y0.stride(0), z.stride(0), up.stride(0), out.stride(0),
                     HAS_BIAS=bias is not None, BM=bm, BN=bn, BK=bk)
    return out
