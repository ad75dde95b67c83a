import pytest

from autopeft.errors import UserError
from autopeft.evaluators.fidelity import PRESETS, parse_fidelity


def test_presets_and_overrides():
    assert parse_fidelity("smoke").steps == 20
    assert parse_fidelity("quick").steps == 100
    assert parse_fidelity("standard").steps == 300
    fid = parse_fidelity("steps=50,data=0.5,eval=300")
    assert (fid.steps, fid.data, fid.eval) == (50, 0.5, 300)
    fid = parse_fidelity("standard,eval=all")
    assert fid.steps == 300 and fid.eval is None
    fid = parse_fidelity("epochs=2,batch=10")
    assert fid.steps is None and fid.total_steps(96) == 20  # ceil(2 * 96 / 10)
    assert parse_fidelity(PRESETS["paper"].label()).epochs == 20


@pytest.mark.parametrize("text", ["turbo", "steps=x", "data=2", "speed=3", "steps=0"])
def test_bad_fidelity_is_a_user_error(text):
    with pytest.raises(UserError):
        parse_fidelity(text)
