"""The supernet's defining check, shared by the supernet tests and the registry walk."""

from __future__ import annotations

import torch


def assert_slice_matches_plain(net, bound, candidate, plain, fresh_state, inputs: dict) -> None:
    """With `candidate` active, the supernet computes what the plain candidate on `plain` computes
    with the sliced tensors, and its active parameters are the space's count; `plain` is reset to
    `fresh_state` afterwards."""
    from autopeft.methods.attach import apply

    net.activate(candidate)
    with torch.no_grad():
        elastic = net.model(**inputs).logits
    assert net.active_params() == bound.params(candidate), candidate
    peft = apply(plain, candidate)
    try:
        state = net.sub_state_dict()
        params = dict(plain.named_parameters())
        assert set(state) == {n for n, p in params.items() if p.requires_grad}
        with torch.no_grad():
            for name, tensor in state.items():
                params[name].copy_(tensor)
            out = plain(**inputs).logits
        torch.testing.assert_close(out, elastic, atol=1e-5, rtol=1e-4)
    finally:
        peft.detach()
        plain.load_state_dict(fresh_state)
