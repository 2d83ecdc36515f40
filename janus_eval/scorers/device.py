"""The torch device a scorer model runs on, checked against what this machine has."""

from __future__ import annotations

import os

from janus_eval.errors import UserError, first_line


def scorer_device(option: str) -> str:
    """A scorer model's device: this process's local GPU under `auto` (else the CPU), or the option, checked."""
    if option != "auto":
        return check_device(option)
    import torch

    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return "cpu"


def check_device(device: str) -> str:
    """`device` as torch spells it, if this machine has it; else a UserError listing the devices it has."""
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError, TypeError) as error:
        raise UserError(
            f"Scorer device '{device}' is not a torch device ({first_line(error)}); use e.g. 'cpu', 'cuda' or 'cuda:1'."
        ) from None
    if parsed.type == "cpu":
        return str(parsed)
    if parsed.type == "mps":
        present = torch.backends.mps.is_available()
    else:
        backend = getattr(torch, parsed.type, None)  # torch.cuda, torch.xpu, ...
        count = backend.device_count() if hasattr(backend, "device_count") and backend.is_available() else 0
        present = (parsed.index or 0) < count
    if not present:
        available = ["cpu"] + [
            f"cuda:{i}" for i in range(torch.cuda.device_count() if torch.cuda.is_available() else 0)
        ]
        if torch.backends.mps.is_available():
            available.append("mps")
        raise UserError(
            f"Scorer device '{device}' is not available on this machine; available: {', '.join(available)}."
        )
    return str(parsed)
