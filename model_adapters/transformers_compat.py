"""What differs between the transformers versions the Janus adapter supports (see pyproject.toml).

transformers renamed the key/value cache argument of the models' `forward` from `past_key_values` to
`cache` (the old name is deprecated and goes away in 5.40), and older versions place new keys in a
static cache by an explicit `cache_position`. The adapter asks the model which spelling it takes
instead of pinning one version.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch


def _parameters(module: torch.nn.Module) -> set[str]:
    # inspect.signature follows the __wrapped__ chain that transformers' decorators keep
    return set(inspect.signature(module.forward).parameters)


def cache_argument(module: torch.nn.Module) -> str:
    """The name under which `module.forward` takes its key/value cache: `cache` (new) or `past_key_values`."""
    return "cache" if "cache" in _parameters(module) else "past_key_values"


def takes_cache_position(module: torch.nn.Module) -> bool:
    """Whether `module.forward` takes `cache_position` (versions whose static cache writes at given slots)."""
    return "cache_position" in _parameters(module)


def cache_kwargs(module: torch.nn.Module, cache: Any, cache_position: torch.Tensor | None) -> dict[str, Any]:
    """The cache keyword arguments of one forward call, spelled as this transformers version wants them."""
    kwargs: dict[str, Any] = {cache_argument(module): cache}
    if cache_position is not None and takes_cache_position(module):
        kwargs["cache_position"] = cache_position
    return kwargs


def new_static_cache(config: Any, max_cache_len: int) -> Any:
    """A StaticCache of `max_cache_len` slots per row for the text model of `config` (allocated on first use)."""
    from transformers import StaticCache

    return StaticCache(config=config, max_cache_len=max_cache_len)
