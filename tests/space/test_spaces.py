import random
from pathlib import Path

import pytest

from autopeft.errors import UserError
from autopeft.space.budget import parse_budget
from autopeft.space.loader import PRESETS, bind_space, load_space


@pytest.mark.parametrize("preset", PRESETS)
def test_presets_bind_on_minilm(preset, minilm_config):
    bound = bind_space(preset, minilm_config)
    assert bound.genes
    assert 0 < bound.min_params() < bound.max_params()


def test_autopeft_space_is_the_papers(minilm_config):
    bound = bind_space("autopeft", minilm_config)
    names = [g.name for g in bound.genes]
    # 3 shared sizes + one on/off per layer (15 dimensions on 12-layer BERT-base, 9 on MiniLM)
    assert len(names) == 3 + 6
    sizes = dict(zip(bound.genes[0].choices, bound.genes[0].values, strict=True))
    assert sizes[0] == 384 and sizes[7] == 3 and sizes[9] == 0 and sizes[10] == 0  # floored; 0 is off


def test_noah_depth_applies_to_leading_layers(minilm_config):
    bound = bind_space("noah", minilm_config)
    genes = {g.name: g for g in bound.genes}
    assert genes["lora.depth"].choices == (2, 3, 5, 6)  # ceil of 1/4..4/4 of 6 layers
    assignment = {g.name: g.smallest() for g in bound.genes}
    assignment.update({"lora.*": 10, "lora.depth": 3})
    cand = bound.decode(assignment)
    assert [bool(layer) for layer in cand.layers] == [True, True, True, False, False, False]
    assert cand.layers[0]["lora"] == {"k": 10, "q": 10, "v": 10}


def test_sampling_respects_the_budget(minilm_config):
    bound = bind_space("full", minilm_config)
    budget = parse_budget("0.5%", bound.dims.backbone_params)
    rng = random.Random(0)
    counts = [bound.params(bound.sample(rng, budget)[1]) for _ in range(200)]
    assert max(counts) <= budget
    assert min(counts) > 0
    assert max(counts) > budget / 4  # spread over the range, not all tiny


def test_full_on_llama_drops_what_does_not_apply():
    from tests.helpers.models import tiny_llama_config

    bound = bind_space("full", tiny_llama_config().to_dict())
    dropped = " ".join(bound.dropped)
    assert "bitfit" in dropped and "prefix" in dropped and "prompt" in dropped
    assert not any(g.name.startswith(("bitfit", "prefix", "prompt")) for g in bound.genes)


def test_baseline_is_a_single_candidate_space(minilm_config):
    bound = bind_space("lora-r8", minilm_config)
    assert bound.genes == []
    assert bound.params(bound.decode({})) == 6 * 2 * 8 * (384 + 384)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, message",
    [
        ("methods: [lora: {", "not valid YAML"),
        ("methods:\n  dora: {sizes: {q: [0, 4]}}\n", "unknown method"),
        ("methods:\n  lora: {sizes: {q: [0, -4]}}\n", "sizes must be >= 0"),
        ("methods:\n  lora: {layers: '0-9', sizes: {q: [0, 4]}}\n", "out of range"),
        ("methods:\n  lora: {sizes: {q: four}}\n", "methods.lora.sizes.q"),
        ("methods: {}\n", "empty"),
        ("", "expected a mapping"),
        ("methods:\n  lora: {sizes: {x: [1]}}\n", "unknown slot"),
        ("methods:\n  lora: {tie: depth, sizes: {q: [4]}}\n", "depth"),
        ("methods:\n  lora: {sizes: {q: [4]}, colour: red}\n", "colour"),
        ("globals: {prompt: {length: [0]}}\nmethods:\n  prompt: {sizes: {insert: [1]}}\n", "length"),
    ],
)
def test_bad_space_files_are_one_clear_error(tmp_path, minilm_config, text, message):
    with pytest.raises(UserError, match=message) as info:
        bind_space(str(_write(tmp_path, text)), minilm_config)
    assert "\n" not in str(info.value)


def test_user_space_with_groups_and_switch(tmp_path, minilm_config):
    path = _write(
        tmp_path,
        "version: 1\nname: mine\nmethods:\n  lora:\n    layers: [0, 1, 2, 3]\n    tie: groups\n    groups: 2\n"
        "    sizes: {q: [0, 4], v: [0, 8]}\n"
        "  ia3: {tie: all, layers: '4-5', sizes: {k: [0, 1]}}\nswitch: {layers: all}\n",
    )
    bound = bind_space(str(path), minilm_config)
    names = [g.name for g in bound.genes]
    assert names[:4] == ["lora.q@g0", "lora.q@g1", "lora.v@g0", "lora.v@g1"]
    assignment = {g.name: g.largest() for g in bound.genes} | {"switch@1": 0}
    cand = bound.decode(assignment)
    assert cand.layers[0] == {"lora": {"q": 4, "v": 8}} and cand.layers[1] == {}
    assert cand.layers[5] == {"ia3": {"k": 1}}
    assert load_space(str(path)).name == "mine"


def test_unknown_family_lists_known_ones_and_how_to_describe():
    with pytest.raises(UserError, match="known: .*bert.*describe it in the space file"):
        bind_space("full", {"model_type": "mamba", "hidden_size": 8})


def test_described_family_binds(tmp_path):
    config = {"model_type": "mynet", "hidden_size": 16, "num_attention_heads": 2, "intermediate_size": 32,
              "num_hidden_layers": 2}
    path = _write(
        tmp_path,
        "anatomy: {kind: encoder, layers: blocks, q: attn.q, k: attn.k, v: attn.v, o: attn.o, ffn_in: [mlp.fc1],"
        " ffn_out: mlp.fc2, attention: attn}\nmethods:\n  lora: {sizes: {q: [0, 2]}}\n",
    )
    bound = bind_space(str(path), config)
    assert bound.dims.family == "mynet" and bound.dims.backbone_params is None
    assert bound.max_params() == 2 * 2 * (16 + 16)


@pytest.mark.parametrize("preset", PRESETS)
def test_smallest_and_largest_within_budget(preset, minilm_config):
    bound = bind_space(preset, minilm_config)
    budget = parse_budget("0.5%", bound.dims.backbone_params)
    _, small = bound.smallest()
    assert bound.params(small) == bound.min_params() > 0
    _, large = bound.largest_within(budget, random.Random(0), tries=50)
    assert bound.params(large) <= budget
    assert bound.params(large) > 0.9 * budget  # these spaces are fine-grained enough to fill it


def test_repair_shrinks_an_over_budget_assignment(minilm_config):
    bound = bind_space("full", minilm_config)
    top = {g.name: g.largest() for g in bound.genes}
    assignment, cand = bound.repair(top, random.Random(1), 50_000)
    assert bound.params(cand) <= 50_000 and bound.decode(assignment) == cand
    with pytest.raises(UserError, match="no candidate of space"):
        bound.repair(top, random.Random(1), 10)


def test_assignment_of_finds_the_genes_of_a_candidate(minilm_config):
    from autopeft.space.baselines import fitted

    bound = bind_space("full", minilm_config)
    rng = random.Random(3)
    for _ in range(5):  # any candidate the space samples is found again
        a, cand = bound.sample(rng, None)
        found = bound.assignment_of(cand)
        assert found is not None and bound.decode(found).key == cand.key
    expressible = {name for name, cand in fitted(bound.dims, 113_566) if bound.assignment_of(cand) is not None}
    # off the grid: houlsby's width 6 and SiLU, pfeiffer's width 24, prefix's reparameterisation
    assert expressible == {"lora-r8", "lora-all@r2", "bitfit", "ia3"}
    assert bind_space("autopeft", minilm_config).assignment_of(fitted(bound.dims, 113_566)[0][1]) is None
