"""Image classifiers by name: `build_model(name, num_classes, in_chans, img_size, **kwargs)`.

Every model maps a float batch (B, in_chans, img_size, img_size) to logits (B, num_classes). `timm` builds any
timm architecture by name (`arch`), from random or pretrained weights; the other ImageNet-style names are fixed
timm presets with random weights; the CIFAR-style nets the papers use on 28-32 px images (PreAct-ResNet-18,
WideResNet, PyramidNet) are written here. Pure torch + timm: no Hydra, no recipes.
"""

import inspect
from collections.abc import Callable

from torch import nn

from models.common import check_int
from models.preact_resnet import preact_resnet18
from models.pyramidnet import pyramidnet
from models.timm_models import (
    efficientnet_b0,
    resnet18,
    resnet50,
    timm_model,
    timm_weights_source,
    vit_small,
    vit_tiny,
)
from models.wide_resnet import wrn

_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "efficientnet_b0": efficientnet_b0,
    "preact_resnet18": preact_resnet18,
    "pyramidnet": pyramidnet,
    "resnet18": resnet18,
    "resnet50": resnet50,
    "timm": timm_model,
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

    kwargs are the model's own settings (see `model_kwargs`), e.g. width=16 for preact_resnet18, patch_size=4 for
    vit_tiny, or arch="convnext_atto", pretrained=True, kwargs={"drop_path_rate": 0.1} for timm. Unknown names,
    unknown kwargs and invalid values raise ValueError.
    """
    allowed = model_kwargs(name)
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(f"model {name!r} got unknown kwargs {unknown}; it accepts {allowed}")
    check_int("num_classes", num_classes)
    check_int("in_chans", in_chans)
    check_int("img_size", img_size)
    return _BUILDERS[name](num_classes=num_classes, in_chans=in_chans, img_size=img_size, **kwargs)


def weights_source(name: str, **kwargs) -> str:
    """The weights model `name` with settings `kwargs` starts from: "random", "timm:<arch>.<tag>" or
    "file:<path> sha256:<hex>" (what summary.json records as `pretrained`)."""
    return timm_weights_source(**kwargs) if name == "timm" else "random"


def without_pretrained(model_cfg: dict) -> dict:
    """`model_cfg` ({"name": ..., **kwargs}) building the same architecture from random weights: for a model whose
    weights a checkpoint replaces next (resume, evaluation), so nothing is downloaded or read for nothing."""
    if model_cfg.get("name") != "timm":
        return dict(model_cfg)
    return {**model_cfg, "pretrained": False, "pretrained_file": None}


__all__ = ["MODEL_NAMES", "build_model", "model_kwargs", "weights_source", "without_pretrained"]
