"""lerobot 0.6.1's π0.5 acting path on this project's transformers (5.24): one removed argument.

lerobot[pi] pins ``transformers>=5.4,<5.6``. Its ``PiGemmaModel.forward`` (``lerobot/policies/pi_gemma.py``; the
prefix-only PaliGemma pass and the expert's denoising passes of ``sample_actions``, i.e. every action π0.5
predicts) calls ``create_causal_mask(..., cache_position=..., past_key_values=...)``; transformers 5.24 dropped
``cache_position`` and renamed ``past_key_values`` to ``cache``, so lerobot's π0.5 (``pi05`` and ``pi05_motion``
alike) fails with a TypeError as soon as it acts. Training is unaffected: the joint pass builds its own 4-D mask.

lerobot always passes a ready 4-D mask there, which ``create_causal_mask`` returns as-is, so dropping
``cache_position`` changes nothing; :func:`install` does exactly that, only when the installed transformers
lacks the argument, once. Remove this module when lerobot follows transformers.
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import Any

ADAPTED = "_motionvla_drops_cache_position"


def install() -> bool:
    """Make ``lerobot.policies.pi_gemma.create_causal_mask`` accept lerobot's arguments; True if it adapted it."""
    from lerobot.policies import pi_gemma

    original = pi_gemma.create_causal_mask
    if getattr(original, ADAPTED, False) or "cache_position" in inspect.signature(original).parameters:
        return False

    @functools.wraps(original)
    def create_causal_mask(*args: Any, cache_position: Any = None, past_key_values: Any = None, **kwargs: Any):
        if past_key_values is not None:
            kwargs.setdefault("cache", past_key_values)
        return original(*args, **kwargs)

    setattr(create_causal_mask, ADAPTED, True)
    pi_gemma.create_causal_mask = create_causal_mask
    logging.getLogger(__name__).debug("lerobot pi_gemma: create_causal_mask adapted to this transformers version")
    return True
