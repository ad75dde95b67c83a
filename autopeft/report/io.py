"""Reading a run directory's plain files while a search may still be rewriting them."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd

# A search rewrites trials.csv after every trial; a reader can catch it empty or half written.
_RETRIES = 3
_RETRY_WAIT_S = 0.15


def read_table(path: Path) -> pd.DataFrame:
    """A CSV as a DataFrame; a missing/empty file gives no rows, a half-written last row is dropped."""
    for attempt in range(_RETRIES):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return pd.DataFrame()
        if not text.strip():
            if attempt + 1 < _RETRIES:  # truncated for a rewrite: the new content follows shortly
                time.sleep(_RETRY_WAIT_S)
                continue
            return pd.DataFrame()
        # csv writers end every row with a newline, so text after the last one is a row in flight
        if not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]
        try:
            return pd.read_csv(io.StringIO(text), engine="python", on_bad_lines="skip")
        except pd.errors.EmptyDataError:
            return pd.DataFrame()
        except pd.errors.ParserError:
            if attempt + 1 == _RETRIES:
                raise
            time.sleep(_RETRY_WAIT_S)
    return pd.DataFrame()


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from `path`, or {} when it is missing or unreadable (the report still works)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write `data` through a temporary file so a watcher never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path
