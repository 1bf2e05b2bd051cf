"""Device names checked before any model is built: a typo or a missing GPU is one line, not a torch traceback."""
from __future__ import annotations

import re

from posebench.errors import PosebenchError

_DEVICE = re.compile(r"(?P<kind>cpu|cuda|mps|xpu)(?::(?P<index>\d+))?")
KINDS = ("cpu", "cuda", "cuda:N", "mps", "xpu", "xpu:N")


class DeviceError(PosebenchError):
    """A device name is malformed or names hardware this machine does not have."""


def check_device(name: str | None) -> str | None:
    """``name`` unchanged if torch can use it here (None: the model chooses); else one DeviceError line."""
    if name is None:
        return None
    m = _DEVICE.fullmatch(str(name).strip())
    if m is None:
        import difflib

        near = difflib.get_close_matches(str(name), ["cpu", "cuda", "mps", "xpu"], n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise DeviceError(f"unknown device {name!r}{hint} (use one of {', '.join(KINDS)})")
    kind, index = m["kind"], m["index"]
    if kind == "cpu":
        if index not in (None, "0"):
            raise DeviceError(f"device {name!r}: the CPU has no index {index}")
        return name
    try:
        import torch
    except ImportError:
        raise DeviceError(f"device {name!r} needs torch, which is not installed") from None
    if kind == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise DeviceError(f"device {name!r}: no Apple GPU (MPS) on this machine; use --device cpu")
        return name
    backend = getattr(torch, kind, None)
    count = backend.device_count() if backend is not None and backend.is_available() else 0
    if count == 0:
        raise DeviceError(f"device {name!r}: no {kind.upper()} GPU is available here (torch {torch.__version__}); "
                          "use --device cpu")
    if index is not None and int(index) >= count:
        raise DeviceError(f"device {name!r}: only {count} {kind} device(s) here ({kind}:0..{kind}:{count - 1})")
    return name
