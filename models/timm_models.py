"""ImageNet-style models from timm: any architecture by name, optionally starting from pretrained weights.

`timm_model` builds whatever `timm.list_models()` knows, with the dataset's num_classes and in_chans and, for the
architectures whose input size is fixed at build time (ViTs, Swin, MLP-Mixer, ...: timm's `fixed_input_size`), its
img_size. Pretrained weights load the way timm loads them (`timm.create_model(pretrained=True)`): the classifier is
re-initialised when num_classes differs from the weights', the stem is adapted to in_chans (timm's
`adapt_input_conv`) and a ViT's position embedding is resampled to img_size. `pretrained_file` gives timm a local
file instead of its hub (`pretrained_cfg_overlay=dict(file=...)`), so nothing is downloaded.

The named presets (resnet18, resnet50, efficientnet_b0, vit_tiny, vit_small) are fixed timm architectures, always
randomly initialised. The CNNs' ImageNet layout downsamples 32x in all, so on 28-32 px images the last stage would
see 1x1 maps (efficientnet_b0 trained that way on Fashion-MNIST stayed at 12-24 % top-1, issue 25). Below
SMALL_IMAGE_PX the CNN presets therefore take the CIFAR adaptation (as the CIFAR ResNets of He et al. 2016 and
the CutMix/Mixup CIFAR code do): the stem runs at stride 1 (ResNet: a 3x3 stride-1 conv in place of the 7x7
stride-2 conv and no max-pool; EfficientNet: the 3x3 stem conv at stride 1 and the first stride-2 stage at stride
1), so the total stride is 8 and 28-32 px images end at 4x4 maps, as in the CIFAR nets. The builder logs it.
`model=timm model.arch=resnet18` keeps timm's layout unchanged at any size (on 3 short epochs it did as well as
the adapted resnet18 or better: docs/results.md "The model menu").
"""

import difflib
import hashlib
import logging
from pathlib import Path

import timm
from timm.models import get_pretrained_cfg, split_model_name_tag
from torch import nn

from models.common import ArgError, check_fraction, check_int

log = logging.getLogger(__name__)

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
# Set by timm_model itself (from the dataset or its own arguments), so refused in `kwargs`.
RESERVED_KWARGS = ("num_classes", "in_chans", "img_size", "pretrained", "pretrained_cfg", "pretrained_cfg_overlay")


def check_arch(arch) -> str:
    """Return `arch` ("name" or "name.tag") if timm knows it, else raise ValueError with timm's closest names."""
    if not isinstance(arch, str) or not arch:
        raise ValueError(f"arch must be a timm model name (timm.list_models()), got {arch!r}")
    name, tag = split_model_name_tag(arch)
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=5, cutoff=0.6)
        hint = f"closest timm names: {', '.join(close)}" if close else "see timm.list_models()"
        raise ValueError(f"arch={arch!r} is not a timm architecture; {hint}")
    if tag and arch not in timm.list_pretrained(f"{name}.*"):
        tags = ", ".join(timm.list_pretrained(f"{name}.*")) or "none"
        raise ValueError(f"arch={arch!r}: timm has no weights tagged {tag!r} for {name}; it has: {tags}")
    return arch


def check_weights_file(path) -> Path:
    """Return `path` as a Path if it is an existing .safetensors / .pth / .pt / .bin file, else raise ValueError."""
    file = Path(str(path)).expanduser()
    if file.suffix not in WEIGHT_SUFFIXES:
        raise ValueError(f"pretrained_file={str(path)!r} must end in one of {', '.join(WEIGHT_SUFFIXES)}")
    if not file.is_file():
        raise ValueError(f"pretrained_file={str(path)!r} does not exist or is not a file")
    return file


def _check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


def _is_download_error(err: Exception) -> bool:
    """An error of fetching weights: no network, a proxy, the hub's offline mode or a cache without the file."""
    return isinstance(err, OSError) or type(err).__module__.split(".")[0] in ("huggingface_hub", "httpx", "requests")


def _offline_hint(arch: str, err: Exception) -> str:
    return (
        f"timm model {arch!r}: pretrained weights are neither reachable (no network?) nor in the local cache "
        f"({type(err).__name__}). Either pass model.pretrained_file=PATH with the weights saved on a machine with "
        f'network (docs/finetune.md), or fill the cache there with `python -c "import timm; timm.create_model('
        f"'{arch}', pretrained=True)\"` and copy it here (HF_HOME, default ~/.cache/huggingface, for hub weights; "
        f"TORCH_HOME, default ~/.cache/torch, for URL ones), then set HF_HUB_OFFLINE=1"
    )


def _create(arch: str, num_classes: int, in_chans: int, **kwargs) -> nn.Module:
    """timm.create_model; a keyword the architecture does not take, or hub weights that cannot be fetched, become
    a one-line ValueError naming them."""
    try:
        return timm.create_model(arch, num_classes=num_classes, in_chans=in_chans, **kwargs)
    except TypeError as err:
        raise ValueError(f"timm model {arch!r} rejected its arguments: {err}") from err
    except Exception as err:
        if kwargs.get("pretrained") and "pretrained_cfg_overlay" not in kwargs and _is_download_error(err):
            raise ValueError(_offline_hint(arch, err)) from err
        raise


def timm_model(
    num_classes: int,
    in_chans: int,
    img_size: int,
    arch: str,
    pretrained: bool = False,
    pretrained_file: str | None = None,
    kwargs: dict | None = None,
) -> nn.Module:
    """Any timm architecture `arch` ("convnext_atto", or "name.tag" for one set of pretrained weights).

    pretrained=True loads timm's weights from its hub (the only case that uses the network); `pretrained_file`
    loads the same from a local .safetensors / .pth file instead (it implies pretrained). `kwargs` pass through to
    timm.create_model (e.g. drop_path_rate=0.1). img_size is passed only where the architecture fixes its input
    size at build time (timm's pretrained_cfg.fixed_input_size); the others pool globally and take any size.
    """
    arch = check_arch(arch)
    extra = dict(kwargs or {})
    reserved = sorted(set(extra) & set(RESERVED_KWARGS))
    if reserved:
        raise ValueError(f"kwargs may not set {reserved}: they come from the dataset and the model's own keys")
    if get_pretrained_cfg(arch).fixed_input_size:
        extra["img_size"] = img_size
    if pretrained_file is not None:
        overlay = {"file": str(check_weights_file(pretrained_file))}
        return _create(arch, num_classes, in_chans, pretrained=True, pretrained_cfg_overlay=overlay, **extra)
    return _create(arch, num_classes, in_chans, pretrained=_check_bool("pretrained", pretrained), **extra)


def timm_weights_source(arch: str, pretrained: bool = False, pretrained_file: str | None = None, **_) -> str:
    """Which weights a timm_model starts from: "file:<path> sha256:<hex>", "timm:<name>.<tag>" or "random"."""
    if pretrained_file is not None:
        file = Path(str(pretrained_file)).expanduser().resolve()
        digest = hashlib.sha256(file.read_bytes()).hexdigest() if file.is_file() else "unavailable (file missing)"
        return f"file:{file} sha256:{digest}"
    if pretrained:
        cfg = get_pretrained_cfg(check_arch(arch))
        return f"timm:{cfg.architecture}.{cfg.tag}"
    return "random"


# ------------------------------------------------------------------------------------------- the named presets


# Images smaller than this get the CIFAR adaptation in the CNN presets (module docstring).
SMALL_IMAGE_PX = 64


def _small_image_resnet(model: nn.Module) -> None:
    """A timm ResNet's stem for small images: 3x3 stride-1 conv, no max-pool (total stride 32 -> 8)."""
    old = model.conv1
    model.conv1 = nn.Conv2d(old.in_channels, old.out_channels, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()


def _small_image_efficientnet(model: nn.Module) -> None:
    """A timm EfficientNet for small images: stem conv and first stride-2 stage at stride 1 (total 32 -> 8).
    Both are 3x3 convs with symmetric padding 1, so only the stride changes."""
    model.conv_stem.stride = (1, 1)
    model.blocks[1][0].conv_dw.stride = (1, 1)


def _cnn(arch: str, num_classes: int, in_chans: int, img_size: int, drop_rate, drop_path_rate, adapt) -> nn.Module:
    """A timm CNN with classifier dropout `drop_rate` and stochastic depth `drop_path_rate`, random weights; below
    SMALL_IMAGE_PX, `adapt(model)` gives it the CIFAR stem."""
    rates = {
        "drop_rate": check_fraction("drop_rate", drop_rate),
        "drop_path_rate": check_fraction("drop_path_rate", drop_path_rate),
    }
    model = timm_model(num_classes, in_chans, img_size, arch, pretrained=False, kwargs=rates)
    if img_size < SMALL_IMAGE_PX:
        adapt(model)
        log.info(
            "%s at %d px (< %d): CIFAR stem, total stride 8, so the last stage sees %dx%d maps instead of 1x1",
            arch, img_size, SMALL_IMAGE_PX, -(-img_size // 8), -(-img_size // 8),
        )  # fmt: skip
    return model


def resnet18(num_classes: int, in_chans: int, img_size: int, drop_rate=0.0, drop_path_rate=0.0) -> nn.Module:
    """timm ResNet-18: ImageNet stem, or the CIFAR stem below SMALL_IMAGE_PX."""
    return _cnn("resnet18", num_classes, in_chans, img_size, drop_rate, drop_path_rate, _small_image_resnet)


def resnet50(num_classes: int, in_chans: int, img_size: int, drop_rate=0.0, drop_path_rate=0.0) -> nn.Module:
    """timm ResNet-50, the CutMix paper's ImageNet model: ImageNet stem, or the CIFAR stem below SMALL_IMAGE_PX."""
    return _cnn("resnet50", num_classes, in_chans, img_size, drop_rate, drop_path_rate, _small_image_resnet)


def efficientnet_b0(num_classes: int, in_chans: int, img_size: int, drop_rate=0.0, drop_path_rate=0.0) -> nn.Module:
    """timm EfficientNet-B0: ImageNet stem, or stride 8 in all below SMALL_IMAGE_PX."""
    return _cnn(
        "efficientnet_b0", num_classes, in_chans, img_size, drop_rate, drop_path_rate, _small_image_efficientnet
    )


def _vit(arch, num_classes, in_chans, img_size, patch_size, drop_rate, drop_path_rate) -> nn.Module:
    """A timm ViT resized to img_size with patch_size, random weights; the image must split into whole patches."""
    check_int("patch_size", patch_size)
    if img_size % patch_size != 0:
        raise ArgError("patch_size", f"patch_size must be a divisor of img_size={img_size}, got {patch_size!r}")
    settings = {
        "patch_size": patch_size,
        "drop_rate": check_fraction("drop_rate", drop_rate),
        "drop_path_rate": check_fraction("drop_path_rate", drop_path_rate),
    }
    return timm_model(num_classes, in_chans, img_size, arch, pretrained=False, kwargs=settings)


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
