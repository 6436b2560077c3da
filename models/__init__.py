"""Image classifiers by name: `build_model(name, num_classes, in_chans, img_size, **kwargs)`.

Every model maps a float batch (B, in_chans, img_size, img_size) to logits (B, num_classes). The
ImageNet-style models come from timm with random weights; the CIFAR-style nets the papers use on 28-32 px
images (PreAct-ResNet-18, WideResNet, PyramidNet) are written here. Pure torch + timm: no Hydra, no recipes.
"""

import inspect
from collections.abc import Callable

from torch import nn

from models.common import check_int
from models.preact_resnet import preact_resnet18
from models.pyramidnet import pyramidnet
from models.timm_models import efficientnet_b0, resnet18, resnet50, vit_small, vit_tiny
from models.wide_resnet import wrn

_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "efficientnet_b0": efficientnet_b0,
    "preact_resnet18": preact_resnet18,
    "pyramidnet": pyramidnet,
    "resnet18": resnet18,
    "resnet50": resnet50,
    "vit_small": vit_small,
    "vit_tiny": vit_tiny,
    "wrn": wrn,
}

MODEL_NAMES: list[str] = sorted(_BUILDERS)

# Every builder takes these first; the remaining parameters of a builder are its model-specific kwargs.
_COMMON_ARGS = ("num_classes", "in_chans", "img_size")


def model_kwargs(name: str) -> list[str]:
    """The model-specific keyword arguments `name` accepts (e.g. ["depth", "alpha", "bottleneck"])."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown model name {name!r}; available: {', '.join(MODEL_NAMES)}")
    params = inspect.signature(_BUILDERS[name]).parameters
    return [arg for arg in params if arg not in _COMMON_ARGS]


def build_model(name: str, num_classes: int, in_chans: int, img_size: int, **kwargs) -> nn.Module:
    """Build model `name` returning logits (B, num_classes) for (B, in_chans, img_size, img_size) input.

    kwargs are the model's own settings (see `model_kwargs`), e.g. width=16 for preact_resnet18 or
    patch_size=4 for vit_tiny. Unknown names, unknown kwargs and invalid values raise ValueError.
    """
    allowed = model_kwargs(name)
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(f"model {name!r} got unknown kwargs {unknown}; it accepts {allowed}")
    check_int("num_classes", num_classes)
    check_int("in_chans", in_chans)
    check_int("img_size", img_size)
    return _BUILDERS[name](num_classes=num_classes, in_chans=in_chans, img_size=img_size, **kwargs)


__all__ = ["MODEL_NAMES", "build_model", "model_kwargs"]
