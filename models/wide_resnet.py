"""Wide Residual Network for small images (Zagoruyko & Komodakis 2016, "Wide Residual Networks").

WRN-d-k: a 3x3 stem with 16 channels, then three groups of n = (d - 4) / 6 pre-activation basic blocks (the
PreAct-ResNet block) with widths 16k, 32k, 64k and strides 1, 2, 2. WRN-28-10 has about 36.5M parameters on 10
classes. Dropout, when used, sits between the two convolutions of each block (the paper's "B(3,3) with dropout").
"""

from torch import nn

from models.common import ArgError, Head, check_fraction, check_int, conv3x3, init_weights, stage_info
from models.preact_resnet import preact_stages


class WideResNet(nn.Module):
    """WRN-depth-widen; depth must be 6n + 4."""

    def __init__(self, num_classes: int, in_chans: int, depth: int, widen: int, dropout: float):
        super().__init__()
        blocks_per_group = (depth - 4) // 6
        widths = [16 * widen, 32 * widen, 64 * widen]
        self.stem = conv3x3(in_chans, 16)
        self.blocks = preact_stages(16, widths, blocks_per_group, dropout)
        self.head = Head(widths[-1], num_classes)
        self.feature_info = stage_info(len(self.blocks), stages=len(widths))
        init_weights(self)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


def wrn(
    num_classes: int, in_chans: int, img_size: int, depth: int = 28, widen: int = 10, dropout: float = 0.0
) -> WideResNet:
    """Build WRN-depth-widen; ValueError when depth is not 6n + 4 (n >= 1) or widen/dropout are invalid."""
    check_int("depth", depth, minimum=10)
    if (depth - 4) % 6 != 0:
        raise ArgError("depth", f"wrn depth must be 6n + 4 (10, 16, 22, 28, 40, ...), got depth={depth!r}")
    check_int("widen", widen)
    return WideResNet(num_classes, in_chans, depth, widen, check_fraction("dropout", dropout))
