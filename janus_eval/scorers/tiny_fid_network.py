"""A tiny random feature network in the TorchScript calling convention of clean-fid's Inception.

clean-fid's `inception-2015-12-05.pt` is a TorchScript module whose `layers` map a normalised 299 x 299 batch
to (n, 2048, 1, 1) pool features, and whose `forward(x, return_features=True)` resizes a [0, 255] batch of any
size itself first. This network has the same two entry points with 32 features, so the tiny extractor is saved
as a TorchScript file and loaded by exactly the code that loads the real Inception weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

TINY_FEATURES = 32


class TinyFeatureNetwork(nn.Module):
    """Two strided convolutions, average pooling and a 1x1 projection: (n, 3, 299, 299) -> (n, 32, 1, 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(3, 8, kernel_size=8, stride=8),
            nn.ReLU(),
            nn.Conv2d(8, 16, kernel_size=4, stride=4),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(16, TINY_FEATURES, kernel_size=1),
        )

    def forward(self, x: torch.Tensor, return_features: bool = True) -> torch.Tensor:
        """Pixels in [0, 255] of any size: resized to 299 inside, as the TorchScript Inception does."""
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        return self.layers((x - 128.0) / 128.0).flatten(1)
