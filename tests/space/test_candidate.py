import json

import pytest

from autopeft.errors import UserError
from autopeft.methods.candidate import Candidate


def test_zero_sizes_dropped_and_equal_configs_hash_equal():
    a = Candidate([{"lora": {"q": 8, "v": 8, "k": 0}}, {"prefix": {"length": 0}}])
    b = Candidate([{"lora": {"v": 8, "q": 8}}, {}])
    assert a == b and hash(a) == hash(b) and a.key == b.key
    assert a.layers == [{"lora": {"q": 8, "v": 8}}, {}]
    assert a.methods == ["lora"]


def test_json_round_trip_keeps_globals():
    c = Candidate([{"prompt": {"insert": 1}}, {"lora": {"ffn_in": 4}}], {"prompt": {"length": 7}})
    again = Candidate.from_json(c.to_json())
    assert again == c
    assert again.globals["prompt"] == {"length": 7, "position": "after_cls"}
    assert json.loads(c.to_json(indent=2))["format_version"] == 1


def test_globals_of_unused_methods_are_dropped():
    c = Candidate([{"lora": {"q": 2}}], {"prefix": {"reparam": True}})
    assert set(c.globals) == {"lora"}


@pytest.mark.parametrize(
    "layers, glob, message",
    [
        ([{"nope": {"q": 1}}], {}, "unknown method"),
        ([{"lora": {"x": 1}}], {}, "unknown slot"),
        ([{"lora": {"q": -1}}], {}, "non-negative"),
        ([{"lora": {"q": 1.5}}], {}, "non-negative integer"),
        ([{"bitfit": {"q": 2}}], {}, "on/off"),
        ([{"lora": {"q": 1}}], {"lora": {"alpha_ratio": -1}}, "alpha_ratio"),
        ([{"prompt": {"insert": 1}}], {"prompt": {"position": "middle"}}, "position"),
    ],
)
def test_bad_candidates_are_clear_errors(layers, glob, message):
    with pytest.raises(UserError, match=message):
        Candidate(layers, glob)


def test_newer_format_version_is_refused():
    with pytest.raises(UserError, match="newer"):
        Candidate.from_json({"format_version": 99, "layers": [{}]})


def test_describe_groups_layers():
    c = Candidate([{"lora": {"q": 8}}, {"lora": {"q": 8}}, {}, {"lora": {"q": 8}}])
    assert c.describe() == "lora[q8]@0-1,3"
