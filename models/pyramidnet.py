"""PyramidNet for small images (Han, Kim & Kim 2017, "Deep Pyramidal Residual Networks"), additive widening.

Instead of doubling the width at each downsampling, every residual block widens by alpha / N channels
(N = number of blocks), from 16 after the stem to 16 + alpha at the end. Blocks have no ReLU after the last
BN and start with BN (no ReLU), and shortcuts are parameter-free: the identity, average-pooled when the block
downsamples, then zero-padded to the wider channel count. Three groups with strides 1, 2, 2; a basic block
holds two 3x3 convs (depth = 6n + 2), a bottleneck three convs and 4x wider output (depth = 9n + 2).
PyramidNet-200 with alpha=240 and bottlenecks (the CutMix paper's CIFAR-100 net) has about 26.8M parameters.
"""

from torch import nn

from models.common import ArgError, Head, check_int, conv3x3, init_weights, stage_info


class PyramidBlock(nn.Module):
    """One pyramidal residual block, basic (BN-conv3-BN-ReLU-conv3-BN) or bottleneck (BN-conv1-BN-ReLU-
    conv3-BN-ReLU-conv1-BN, output 4x the inner width), with a pooled, zero-padded identity shortcut."""

    def __init__(self, in_chans: int, inner: int, stride: int, bottleneck: bool):
        super().__init__()
        self.out_chans = inner * 4 if bottleneck else inner
        if bottleneck:
            layers = [
                nn.BatchNorm2d(in_chans),
                nn.Conv2d(in_chans, inner, kernel_size=1, bias=False),
                nn.BatchNorm2d(inner),
                nn.ReLU(inplace=True),
                conv3x3(inner, inner, stride),
                nn.BatchNorm2d(inner),
                nn.ReLU(inplace=True),
                nn.Conv2d(inner, self.out_chans, kernel_size=1, bias=False),
                nn.BatchNorm2d(self.out_chans),
            ]
        else:
            layers = [
                nn.BatchNorm2d(in_chans),
                conv3x3(in_chans, inner, stride),
                nn.BatchNorm2d(inner),
                nn.ReLU(inplace=True),
                conv3x3(inner, inner),
                nn.BatchNorm2d(inner),
            ]
        self.residual = nn.Sequential(*layers)
        # ceil_mode keeps odd sizes (e.g. 7 px from 28 px input) aligned with the strided conv's output.
        self.pool = nn.AvgPool2d(2, ceil_mode=True) if stride == 2 else nn.Identity()
        self.pad_chans = self.out_chans - in_chans

    def forward(self, x):
        identity = self.pool(x)
        if self.pad_chans:  # a fixed attribute, so the graph is static for torch.compile
            identity = nn.functional.pad(identity, (0, 0, 0, 0, 0, self.pad_chans))
        return self.residual(x) + identity


def pyramid_widths(depth: int, alpha: int, bottleneck: bool) -> list[int]:
    """Inner width of every block: 16 + alpha * i / N rounded, i = 1..N, where N = 3 * blocks per group."""
    per_block_layers = 9 if bottleneck else 6
    num_blocks = 3 * ((depth - 2) // per_block_layers)
    return [int(round(16 + alpha * i / num_blocks)) for i in range(1, num_blocks + 1)]


class PyramidNet(nn.Module):
    """PyramidNet-depth with additive widening alpha; see the module docstring."""

    def __init__(self, num_classes: int, in_chans: int, depth: int, alpha: int, bottleneck: bool):
        super().__init__()
        widths = pyramid_widths(depth, alpha, bottleneck)
        per_group = len(widths) // 3
        # The stem ends on BN without ReLU: every block starts with its own BN.
        self.stem = nn.Sequential(conv3x3(in_chans, 16), nn.BatchNorm2d(16))
        blocks = []
        in_width = 16
        for index, inner in enumerate(widths):
            stride = 2 if index in (per_group, 2 * per_group) else 1
            block = PyramidBlock(in_width, inner, stride, bottleneck)
            blocks.append(block)
            in_width = block.out_chans
        self.blocks = nn.Sequential(*blocks)
        self.head = Head(in_width, num_classes)
        self.feature_info = stage_info(len(self.blocks), stages=3)
        init_weights(self)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


def pyramidnet(
    num_classes: int,
    in_chans: int,
    img_size: int,
    depth: int = 200,
    alpha: int = 240,
    bottleneck: bool = True,
) -> PyramidNet:
    """Build PyramidNet; ValueError when depth does not fit the blocks (6n+2 basic, 9n+2 bottleneck)."""
    if not isinstance(bottleneck, bool):
        raise ValueError(f"bottleneck must be true or false, got bottleneck={bottleneck!r}")
    per_block_layers = 9 if bottleneck else 6
    check_int("depth", depth, minimum=per_block_layers + 2)
    if (depth - 2) % per_block_layers != 0:
        kind = "bottleneck" if bottleneck else "basic"
        message = f"pyramidnet depth must be {per_block_layers}n + 2 with {kind} blocks, got depth={depth!r}"
        raise ArgError("depth", message)
    check_int("alpha", alpha, minimum=0)
    return PyramidNet(num_classes, in_chans, depth, alpha, bottleneck)
