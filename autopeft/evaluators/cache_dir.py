"""Where autopeft caches things (encodings, downloaded datasets, task sizes) and how cache entries
are keyed: below both the tasks (which cache what they download) and the encoding cache."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

FORMAT = 1  # bump to invalidate every cached entry


def cache_root() -> Path:
    """$AUTOPEFT_CACHE, else ~/.cache/autopeft."""
    return Path(os.environ.get("AUTOPEFT_CACHE") or Path.home() / ".cache" / "autopeft")


def cache_key(*parts: Any) -> str:
    """A stable hex key from JSON-able parts."""
    return hashlib.sha256(json.dumps([FORMAT, *parts], sort_keys=True, default=str).encode()).hexdigest()[:24]
