"""Loading torch files as data only (`weights_only=True`), with one clear error line for anything unreadable."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def safe_load(path: str | os.PathLike, error: type[Exception], what: str) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; a missing or unreadable file raises ``error``."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: no such {what} file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets one clear line
        first = str(e).splitlines()[0] if str(e) else ""
        raise error(f"{path}: not a readable {what} ({type(e).__name__}: {first})") from None
