"""Watching a strategy work: which surrogate model it really fits (not what its `info()` says)."""

from __future__ import annotations

from typing import Any


def record_fits(monkeypatch: Any, cls: type) -> list[tuple[Any, Any, Any, Any]]:
    """Wrap `cls.fit_model` for the test; returns the list it fills with (strategy, x, y, model) per fit."""
    fits: list[tuple[Any, Any, Any, Any]] = []
    original = cls.fit_model

    def fit_model(self, x, y):
        model = original(self, x, y)
        fits.append((self, x, y, model))
        return model

    monkeypatch.setattr(cls, "fit_model", fit_model)
    return fits
