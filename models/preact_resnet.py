"""Pre-activation ResNet-18 for small images (He et al. 2016, "Identity Mappings in Deep Residual Networks").

The CIFAR-style variant used by the FMix paper for Fashion-MNIST and CIFAR-10: a 3x3 stem with stride 1 (no
max-pool), then four stages of two basic blocks with widths w, 2w, 4w, 8w and strides 1, 2, 2, 2. With w=64
and 10 classes it has about 11.17M parameters; w=16 is a fast CPU model.
"""

from torch import nn

from models.common import Head, check_int, conv3x3, init_weights, stage_info


class PreActBlock(nn.Module):
    """Basic pre-activation block: x + conv(ReLU(BN(dropout(conv(ReLU(BN(x))))))).

    When the shape changes, the shortcut is a 1x1 strided convolution applied to the pre-activated input,
    so the first BN-ReLU is shared by both branches (as in the paper's Fig. 5 note). `dropout` between the two
    convolutions is WideResNet's "B(3,3) with dropout"; 0 (PreAct-ResNet) leaves it out.
    """

    def __init__(self, in_chans: int, out_chans: int, stride: int, dropout: float = 0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_chans)
        self.conv1 = conv3x3(in_chans, out_chans, stride)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.bn2 = nn.BatchNorm2d(out_chans)
        self.conv2 = conv3x3(out_chans, out_chans)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = None
        if stride != 1 or in_chans != out_chans:
            self.shortcut = nn.Conv2d(in_chans, out_chans, kernel_size=1, stride=stride, bias=False)

    def forward(self, x):
        # Not in-place: with an identity shortcut, x itself is still needed for the sum.
        pre = nn.functional.relu(self.bn1(x))
        identity = x if self.shortcut is None else self.shortcut(pre)
        out = self.dropout(self.conv1(pre))
        out = self.conv2(self.relu(self.bn2(out)))
        return out + identity


def preact_stages(in_width: int, widths: list[int], blocks_per_stage: int, dropout: float = 0.0) -> nn.Sequential:
    """Stages of PreActBlocks, stage s of width widths[s]; the first block of every stage but the first halves
    the resolution (stride 2). The body of PreAct-ResNet and of WideResNet."""
    blocks = []
    for stage, out_width in enumerate(widths):
        for index in range(blocks_per_stage):
            stride = 2 if stage > 0 and index == 0 else 1
            blocks.append(PreActBlock(in_width, out_width, stride, dropout))
            in_width = out_width
    return nn.Sequential(*blocks)


class PreActResNet18(nn.Module):
    """Pre-activation ResNet-18; `width` is the channel count of the first stage (64 in the paper)."""

    def __init__(self, num_classes: int, in_chans: int, width: int = 64):
        super().__init__()
        widths = [width, 2 * width, 4 * width, 8 * width]
        self.stem = conv3x3(in_chans, width)
        self.blocks = preact_stages(width, widths, blocks_per_stage=2)
        self.head = Head(widths[-1], num_classes)
        self.feature_info = stage_info(len(self.blocks), stages=len(widths))
        init_weights(self)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


def preact_resnet18(num_classes: int, in_chans: int, img_size: int, width: int = 64) -> PreActResNet18:
    """Build a pre-activation ResNet-18; any img_size works (global pooling), so it is not used."""
    return PreActResNet18(num_classes, in_chans, width=check_int("width", width))
