"""The tiny, download-free vision encoder: a CoordConv stem read out as grid and keypoint tokens."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class TinyVisionEncoder(nn.Module):
    """Conv stem → ``grid × grid`` image tokens. A few convs are the cheapest stand-in for a ViT on CPU.

    ``images (B, 3, H, W)`` in [0, 1] → ``tokens (B, grid² + keypoint_tokens, dim)``; any H, W (adaptive pooling).
    Two coordinate channels (x, y in [-1, 1]) join the RGB input (CoordConv): pooled conv features
    otherwise lose where in the image an object is, which is what a manipulation policy needs most.
    """

    def __init__(self, dim: int, grid: int, keypoint_tokens: int = 4) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(5, dim // 2, kernel_size=4, stride=4),
            nn.GELU(),
            nn.Conv2d(dim // 2, dim, kernel_size=3, padding=1),
            nn.GELU(),
        )
        self.to_grid = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size=3, stride=2, padding=1),
            nn.GELU(),
            nn.AdaptiveAvgPool2d(grid),
        )
        # Spatial-softmax keypoints (as in robomimic / Diffusion Policy): each channel's expected (x, y),
        # a direct, sample-efficient read-out of where things are.
        self.keypoint_tokens = keypoint_tokens
        self.keypoints = nn.Linear(2 * dim, keypoint_tokens * dim) if keypoint_tokens else None
        self.pos = nn.Parameter(torch.zeros(1, grid * grid + keypoint_tokens, dim))
        nn.init.normal_(self.pos, std=0.02)

    @staticmethod
    def spatial_softmax(features: Tensor) -> Tensor:
        """``(B, C, H, W)`` → expected coordinates ``(B, C, 2)`` (x, y in [-1, 1]) under a softmax per channel."""
        b, c, h, w = features.shape
        weights = features.flatten(2).softmax(dim=-1).view(b, c, h, w)
        ys = torch.linspace(-1, 1, h, device=features.device, dtype=features.dtype)
        xs = torch.linspace(-1, 1, w, device=features.device, dtype=features.dtype)
        return torch.stack([(weights.sum(2) * xs).sum(-1), (weights.sum(3) * ys).sum(-1)], dim=-1)

    def forward(self, images: Tensor) -> Tensor:
        """``images (B, 3, H, W)`` in [0, 1] → ``tokens (B, grid² + keypoint_tokens, dim)``."""
        b, _, h, w = images.shape
        ys = torch.linspace(-1, 1, h, device=images.device, dtype=images.dtype).view(1, 1, h, 1).expand(b, 1, h, w)
        xs = torch.linspace(-1, 1, w, device=images.device, dtype=images.dtype).view(1, 1, 1, w).expand(b, 1, h, w)
        feats = self.features(torch.cat([images * 2 - 1, xs, ys], dim=1))  # (B, dim, H/4, W/4)
        tokens = self.to_grid(feats).flatten(2).transpose(1, 2)  # (B, grid², dim)
        if self.keypoints is not None:
            points = self.keypoints(self.spatial_softmax(feats).flatten(1)).view(b, self.keypoint_tokens, -1)
            tokens = torch.cat([tokens, points], dim=1)
        return tokens + self.pos
