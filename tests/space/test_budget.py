import pytest

from autopeft.errors import UserError
from autopeft.space.budget import parse_budget

MINILM = 22_713_216


@pytest.mark.parametrize(
    "text, expected",
    [("0.5%", 113_566), ("0.005", 113_566), ("120k", 120_000), ("1.2M", 1_200_000), ("113566", 113_566)],
)
def test_budget_forms(text, expected):
    assert parse_budget(text, MINILM) == expected


@pytest.mark.parametrize("text", ["0.5x", "abc", "-1", "0", "150%", "1.5", ""])
def test_malformed_budgets(text):
    with pytest.raises(UserError):
        parse_budget(text, MINILM)


def test_share_of_an_unknown_backbone_size_is_refused_counts_are_not():
    """A family without a size formula (backbone_params None) takes counts, and says so for shares."""
    assert parse_budget("120k", None) == 120_000
    for share in ("0.5%", "0.005"):
        with pytest.raises(UserError, match="give it as a count"):
            parse_budget(share, None)
