"""PaliGemma's prefix hidden states (image + language tokens) from inside lerobot's π0.5 forward pass.

lerobot's ``PI05Pytorch.forward`` calls ``paligemma_with_expert.forward(...)`` as a plain method, so a forward
hook on ``paligemma_with_expert`` never fires. The last thing PaliGemma's language model does to the prefix
stream, in the joint training pass and in the prefix-only pass of ``sample_actions`` alike, is its final
RMSNorm, called as a module: a forward hook there sees the prefix output ``(B, L_prefix, width)`` with its
autograd graph, so a loss on it trains the whole backbone, without touching lerobot's code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn


class PrefixCapture:
    """Records the output of PaliGemma's final norm while :meth:`capturing` is active.

    Args:
        paligemma: lerobot's ``PaliGemmaForConditionalGenerationWithPiGemma``
            (``policy.model.paligemma_with_expert.paligemma``).
    """

    def __init__(self, paligemma: nn.Module) -> None:
        self._outputs: list[Tensor] | None = None
        self._handle = paligemma.model.language_model.norm.register_forward_hook(self._hook)
        vision = paligemma.config.vision_config
        # SigLIP: one token per patch, no class token (PaliGemma's "num_image_tokens").
        self.tokens_per_image = (vision.image_size // vision.patch_size) ** 2

    def _hook(self, module: nn.Module, args: tuple, output: Tensor | tuple) -> None:
        if self._outputs is not None:
            # lerobot's PiGemmaRMSNorm returns (hidden, gate); a plain RMSNorm returns the hidden states.
            self._outputs.append(output[0] if isinstance(output, tuple) else output)

    @contextmanager
    def capturing(self) -> Iterator[list[Tensor]]:
        """Collect the prefix outputs of the PaliGemma passes run inside the ``with`` block (a list)."""
        self._outputs = outputs = []
        try:
            yield outputs
        finally:
            self._outputs = None

    def one(self, outputs: list[Tensor]) -> Tensor:
        """The single prefix output ``(B, L_prefix, width)`` a π0.5 pass produces, or a clear error."""
        if len(outputs) != 1:
            raise RuntimeError(f"pi05_motion expected one PaliGemma prefix pass inside lerobot's PI05 forward, saw "
                               f"{len(outputs)}: lerobot's PI05Pytorch changed; motionvla/policy/pi05_motion/prefix.py "
                               "must follow it")
        return outputs[0]

    def mask(self, img_masks: list[Tensor], lang_mask: Tensor, length: int) -> Tensor:
        """Valid-token mask ``(B, L_prefix)`` bool in π0.5's prefix order: each image's tokens (valid where
        its camera is present, ``img_masks[i] (B,)``), then the language tokens (``lang_mask (B, L_lang)``).

        Raises:
            ValueError: the layout does not add up to ``length`` (the prefix output's length).
        """
        expected = len(img_masks) * self.tokens_per_image + lang_mask.shape[1]
        if expected != length:
            raise ValueError(f"pi05_motion: PaliGemma's prefix holds {length} tokens but {len(img_masks)} image(s) x "
                             f"{self.tokens_per_image} tokens + {lang_mask.shape[1]} language tokens = {expected}: "
                             "lerobot's π0.5 prefix layout changed, the motion head's context mask must follow it")
        b = lang_mask.shape[0]
        parts = [m.bool()[:, None].expand(b, self.tokens_per_image) for m in img_masks]
        return torch.cat([*parts, lang_mask.bool()], dim=1)
