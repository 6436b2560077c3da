"""ImageNet-style models from timm, always randomly initialised (pretrained=False: nothing is downloaded).

The CNNs keep timm's ImageNet stem, which downsamples 4x (resnet) or 2x (efficientnet) before the first
stage; on 28-32 px images that leaves 1x1 feature maps at the end. That is accepted on purpose: the papers'
small-image results use the CIFAR-style nets in this package (preact_resnet18, wrn, pyramidnet) instead.
"""

import timm
from torch import nn

from models.common import check_fraction, check_int


def _create(timm_name: str, num_classes: int, in_chans: int, **kwargs) -> nn.Module:
    """timm.create_model with pretrained=False fixed, so no weights are ever fetched."""
    return timm.create_model(timm_name, pretrained=False, num_classes=num_classes, in_chans=in_chans, **kwargs)


def _cnn(timm_name: str, num_classes: int, in_chans: int, drop_rate, drop_path_rate) -> nn.Module:
    """A timm CNN with classifier dropout `drop_rate` and stochastic depth `drop_path_rate`."""
    return _create(
        timm_name,
        num_classes,
        in_chans,
        drop_rate=check_fraction("drop_rate", drop_rate),
        drop_path_rate=check_fraction("drop_path_rate", drop_path_rate),
    )


def resnet18(num_classes: int, in_chans: int, img_size: int, drop_rate=0.0, drop_path_rate=0.0) -> nn.Module:
    """timm ResNet-18 (ImageNet stem); img_size is not needed (global pooling)."""
    return _cnn("resnet18", num_classes, in_chans, drop_rate, drop_path_rate)


def resnet50(num_classes: int, in_chans: int, img_size: int, drop_rate=0.0, drop_path_rate=0.0) -> nn.Module:
    """timm ResNet-50 (ImageNet stem); the CutMix paper's ImageNet model."""
    return _cnn("resnet50", num_classes, in_chans, drop_rate, drop_path_rate)


def efficientnet_b0(num_classes: int, in_chans: int, img_size: int, drop_rate=0.0, drop_path_rate=0.0) -> nn.Module:
    """timm EfficientNet-B0 (ImageNet stem)."""
    return _cnn("efficientnet_b0", num_classes, in_chans, drop_rate, drop_path_rate)


def _vit(timm_name, num_classes, in_chans, img_size, patch_size, drop_rate, drop_path_rate) -> nn.Module:
    """A timm ViT resized to img_size with patch_size; the image must split into whole patches."""
    check_int("patch_size", patch_size)
    if img_size % patch_size != 0:
        raise ValueError(f"img_size={img_size} is not a multiple of patch_size={patch_size!r}")
    return _create(
        timm_name,
        num_classes,
        in_chans,
        img_size=img_size,
        patch_size=patch_size,
        drop_rate=check_fraction("drop_rate", drop_rate),
        drop_path_rate=check_fraction("drop_path_rate", drop_path_rate),
    )


def vit_tiny(
    num_classes: int, in_chans: int, img_size: int, patch_size=16, drop_rate=0.0, drop_path_rate=0.0
) -> nn.Module:
    """ViT-Tiny (timm vit_tiny_patch16_224 layout: 12 layers, width 192, 3 heads) at any size and patch."""
    return _vit("vit_tiny_patch16_224", num_classes, in_chans, img_size, patch_size, drop_rate, drop_path_rate)


def vit_small(
    num_classes: int, in_chans: int, img_size: int, patch_size=16, drop_rate=0.0, drop_path_rate=0.0
) -> nn.Module:
    """ViT-Small (timm vit_small_patch16_224 layout: 12 layers, width 384, 6 heads) at any size and patch."""
    return _vit("vit_small_patch16_224", num_classes, in_chans, img_size, patch_size, drop_rate, drop_path_rate)
