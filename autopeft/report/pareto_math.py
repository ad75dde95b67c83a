"""Pareto fronts over (score up, PEFT parameters down), their step lines, and hypervolume."""

from __future__ import annotations

import pandas as pd


def pareto_front(df: pd.DataFrame) -> pd.DataFrame:
    """The non-dominated rows of `df` over (score ↑, peft_params ↓), sorted by parameters."""
    if df.empty:
        return df.copy()
    # stable: among exact ties the earlier record row wins
    ordered = df.sort_values(["peft_params", "score"], ascending=[True, False], kind="mergesort")
    keep, best = [], float("-inf")
    for pos, score in enumerate(ordered["score"]):  # positions: the index may repeat (concatenated frames)
        if score > best:  # a strictly better score for more parameters, or nothing to gain
            keep.append(pos)
            best = score
    return ordered.iloc[keep]


def front_steps(front: pd.DataFrame, x: str = "peft_pct", right: float | None = None) -> pd.DataFrame:
    """The step line through a front: the best score reachable with at most x parameters.

    Returns columns `x, score`: each member, then a horizontal run to the next member's x (and to
    `right`, e.g. the budget, after the last)."""
    pts = front.dropna(subset=[x, "score"]).sort_values(x)
    xs, ys = [], []
    for i, (px, py) in enumerate(zip(pts[x], pts["score"], strict=True)):
        if i:
            xs.append(px)
            ys.append(ys[-1])
        xs.append(px)
        ys.append(py)
    if xs and right is not None and right > xs[-1]:
        xs.append(right)
        ys.append(ys[-1])
    return pd.DataFrame({"x": xs, "score": ys})


def hypervolume(front: pd.DataFrame, ref_score: float, budget: float) -> float:
    """Area dominated by the front within (ref_score, budget), parameters as a fraction of the budget.

    Unit-free on the parameter axis, so runs with different budgets compare: a single candidate of 0
    parameters scoring ref_score + 0.1 has hypervolume 0.1."""
    pts = front[(front["score"] > ref_score) & (front["peft_params"] <= budget)]
    pts = pareto_front(pts)
    area, prev = 0.0, ref_score
    for params, score in zip(pts["peft_params"], pts["score"], strict=True):
        # the slice of scores (prev, score] is first reached at `params`
        area += (budget - params) / budget * (score - prev)
        prev = score
    return area
