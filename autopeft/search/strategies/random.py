"""`random`: feasible uniform sampling (a density drawn first, so sizes spread over the range)."""

from __future__ import annotations

from autopeft.search.strategies.base import Proposal, Strategy


class RandomStrategy(Strategy):
    """Random feasible, unseen candidates; stops proposing when the space looks exhausted."""

    name = "random"

    def ask(self, n: int) -> list[Proposal]:
        """Up to `n` new random feasible candidates."""
        out = []
        for _ in range(n):
            found = self.random_new()
            if found is None:
                break
            out.append(self.open_trial(found[1], found[0]))
        return out
