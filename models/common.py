"""Small pieces shared by the CIFAR-style networks: argument checks and the papers' initialisation."""

import math

from torch import nn


class ArgError(ValueError):
    """A ValueError about the builder argument `arg` (the message names it too, for users without configs);
    recipes.config names the key as model.<arg>."""

    def __init__(self, arg: str, message: str) -> None:
        super().__init__(message)
        self.arg = arg


def check_int(name: str, value, minimum: int = 1) -> int:
    """Return `value` if it is an int >= `minimum`, else raise ArgError naming it.

    bool is rejected on purpose: `depth: true` in a YAML file is a typo, not depth 1.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ArgError(name, f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_fraction(name: str, value) -> float:
    """Return `value` as float if it lies in [0, 1) (a dropout probability), else raise ArgError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ArgError(name, f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


def init_weights(model: nn.Module) -> None:
    """Initialise as the ResNet / WRN / PyramidNet papers do.

    Convolutions: He normal with std sqrt(2 / (k*k*out_channels)) (He et al. 2015, "fan_out" mode, the form
    used by the original ResNet code). BatchNorm: weight 1, bias 0. Linear: PyTorch's default weight, bias 0.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            fan_out = module.out_channels * module.kernel_size[0] * module.kernel_size[1]
            nn.init.normal_(module.weight, mean=0.0, std=math.sqrt(2.0 / fan_out))
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)


def stage_info(num_blocks: int, stages: int) -> list[dict]:
    """`feature_info` in timm's layout (a dict per stage, its "module" name) for a net of a `stem` and `blocks`
    split into `stages` equal stages: the stem and the last block of each stage. Model-aware mixers
    (augment.ManifoldMixup) hook these modules, as they hook the stages timm models report."""
    per_stage = num_blocks // stages
    return [{"module": "stem"}, *({"module": f"blocks.{(s + 1) * per_stage - 1}"} for s in range(stages))]


def conv3x3(in_chans: int, out_chans: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1 and no bias (a BatchNorm always follows or precedes it)."""
    return nn.Conv2d(in_chans, out_chans, kernel_size=3, stride=stride, padding=1, bias=False)


class Head(nn.Module):
    """Final BN-ReLU, global average pooling and a linear classifier.

    Pre-activation nets end on a residual sum with no activation, so the last BN-ReLU lives here.
    Adaptive pooling makes the nets work at any input size (28 px Fashion-MNIST, 32 px CIFAR).
    """

    def __init__(self, in_chans: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_chans)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_chans, num_classes)

    def forward(self, x):
        x = self.pool(self.relu(self.bn(x)))
        return self.fc(x.flatten(1))
