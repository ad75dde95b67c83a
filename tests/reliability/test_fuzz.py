"""Property-based fuzzing (issue 24, item 3) of what users type and write: budgets, fidelities, space
files and candidate JSON. Whatever the input, the parser returns a value or raises `UserError` (one
line, exit 2 at the CLI); any other exception is a traceback a user would see, and fails here.

Derandomized, so CI runs the same examples every time; the strategies mix free text with inputs
built from the real grammar (keys, method and slot names), which is where parsers break."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autopeft.errors import UserError
from autopeft.evaluators.fidelity import _FIELDS, PRESETS, parse_fidelity
from autopeft.methods.candidate import Candidate
from autopeft.methods.count import count_dims
from autopeft.methods.registry import METHODS as SPECS
from autopeft.space.budget import parse_budget
from autopeft.space.loader import bind_space

FUZZ = settings(max_examples=250, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
NUMBERS = st.one_of(st.integers(-10**12, 10**12).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
                    st.sampled_from(["", "all", "nan", "inf", "-0", "1e400", "0x10", "1_000", " 3 ", "½"]))
JSONISH = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False)
                       | st.text(max_size=8),
                       lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                     max_size=4), max_leaves=12)


def _only_user_errors(fn, *args):
    try:
        return fn(*args)
    except UserError as exc:
        assert str(exc) and "\n" not in str(exc).strip(), repr(str(exc))
        return None


@pytest.fixture(scope="module")
def dims():
    from autopeft.backbones import load_config
    from autopeft.methods.anatomy import dims_from_config, resolve

    config = load_config("minilm")
    return config, dims_from_config(config, resolve(config))


# --- budgets -------------------------------------------------------------------------------
@FUZZ
@given(st.one_of(st.text(max_size=12), NUMBERS, NUMBERS.map(lambda n: n + "%"), NUMBERS.map(lambda n: n + "k"),
                 st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**15, 10**15)),
       st.one_of(st.none(), st.integers(1, 10**10)))
def test_budget_parser_never_tracebacks(text, backbone):
    got = _only_user_errors(parse_budget, text, backbone)
    assert got is None or (isinstance(got, int) and got > 0)


# --- fidelities ----------------------------------------------------------------------------
PART = st.one_of(st.sampled_from(list(PRESETS)), st.text(max_size=10),
                 st.tuples(st.sampled_from([*_FIELDS, "step", ""]), NUMBERS).map(lambda kv: f"{kv[0]}={kv[1]}"))


@FUZZ
@given(st.lists(PART, max_size=5).map(",".join))
def test_fidelity_parser_never_tracebacks(text):
    fid = _only_user_errors(parse_fidelity, text)
    if fid is not None:  # what the trainer will rely on
        assert fid.steps is None or fid.steps >= 1
        assert fid.epochs is None or (math.isfinite(fid.epochs) and fid.epochs > 0)
        assert 0 < fid.data <= 1
        assert parse_fidelity(fid.label()).label() == fid.label()  # its label parses back


# --- space files ---------------------------------------------------------------------------
SIZES = st.one_of(JSONISH, st.lists(st.one_of(st.integers(-4, 64), st.floats(-1, 2), st.text(max_size=3)), max_size=4))
METHOD_BLOCK = st.fixed_dictionaries({}, optional={
    "sizes": st.one_of(JSONISH, st.dictionaries(st.sampled_from(["q", "k", "v", "o", "ffn", "attn", "length", "zz"]),
                                                SIZES, max_size=3)),
    "layers": st.one_of(JSONISH, st.lists(st.integers(-2, 8), max_size=3), st.sampled_from(["all", "top", "x"])),
    "share": JSONISH, "options": JSONISH})
SPACE = st.one_of(JSONISH, st.fixed_dictionaries(
    {"methods": st.dictionaries(st.sampled_from([*SPECS, "dora"]), METHOD_BLOCK, max_size=3)},
    optional={"version": st.one_of(st.integers(-1, 3), JSONISH), "name": JSONISH, "budget": JSONISH}))


@FUZZ
@given(SPACE)
def test_space_files_never_traceback(dims, data):
    config, _ = dims
    bound = _only_user_errors(bind_space, data if isinstance(data, dict) else {"methods": data}, config)
    if bound is not None:
        assert len(bound.genes) >= 0


# --- candidates ----------------------------------------------------------------------------
LAYER = st.dictionaries(st.sampled_from([*SPECS, "dora"]),
                        st.one_of(JSONISH, st.dictionaries(st.sampled_from(["q", "k", "v", "o", "ffn_in", "ffn_out",
                                                                            "attn", "ffn", "length", "insert", "zz"]),
                                                           st.one_of(st.integers(-3, 64), JSONISH), max_size=3)),
                        max_size=3)
CANDIDATE = st.one_of(JSONISH, st.fixed_dictionaries(
    {"layers": st.one_of(st.lists(LAYER, min_size=6, max_size=6), st.lists(LAYER, max_size=8), JSONISH)},
    optional={"globals": st.one_of(JSONISH, st.dictionaries(st.sampled_from([*SPECS, "x"]), JSONISH, max_size=2)),
              "format_version": st.one_of(st.integers(-1, 3), JSONISH)}))


@FUZZ
@given(CANDIDATE, st.booleans())
def test_candidate_json_never_tracebacks(dims, data, as_text):
    _, d = dims
    cand = _only_user_errors(Candidate.from_json, json.dumps(data) if as_text else data)
    if cand is not None:
        n = _only_user_errors(count_dims, cand, d)
        assert n is None or n.peft_params >= 0
        assert Candidate.from_json(cand.to_json()) == cand  # what is accepted round-trips
