"""Tests for models/: every name builds and trains, parameter counts match the papers, the nets' building
blocks compute what the papers say, bad input fails with ValueError, and timm never touches the network."""

import math
import socket
from pathlib import Path

import pytest
import timm
import torch
from omegaconf import OmegaConf
from torch import nn

from models import MODEL_NAMES, build_model, model_kwargs
from models.preact_resnet import PreActBlock
from models.pyramidnet import PyramidBlock, pyramid_widths
from models.timm_models import SMALL_IMAGE_PX
from recipes.config import load_option
from recipes.run import run_training
from tests.conftest import compose_cfg

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs" / "model"

# Cheap settings per name, so the shape/backward tests stay fast; the paper-sized nets are built below.
LIGHT_KWARGS = {
    "efficientnet_b0": {},
    "preact_resnet18": {"width": 8},
    "pyramidnet": {"depth": 11, "alpha": 12, "bottleneck": True},
    "resnet18": {},
    "resnet50": {},
    "timm": {"arch": "test_resnet"},
    "vit_small": {"patch_size": 4},
    "vit_tiny": {"patch_size": 4},
    "wrn": {"depth": 10, "widen": 1, "dropout": 0.1},
}


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_model_names_are_sorted_and_cover_the_builders():
    assert MODEL_NAMES == sorted(LIGHT_KWARGS)


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize(("in_chans", "img_size"), [(1, 28), (3, 32)])
def test_forward_and_backward(name, in_chans, img_size):
    torch.manual_seed(0)
    model = build_model(name, num_classes=7, in_chans=in_chans, img_size=img_size, **LIGHT_KWARGS[name])
    logits = model(torch.randn(2, in_chans, img_size, img_size))
    assert logits.shape == (2, 7)
    assert torch.isfinite(logits).all()
    logits.logsumexp(dim=1).sum().backward()
    for pname, param in model.named_parameters():
        assert param.grad is not None, f"{name}: no gradient reached {pname}"
        assert torch.isfinite(param.grad).all(), f"{name}: non-finite gradient in {pname}"


@pytest.mark.parametrize("config", sorted(p.name for p in CONFIG_DIR.glob("*.yaml")))
def test_every_config_file_builds_a_working_model(config):
    """The recipe's call: build_model(**cfg.model, num_classes=..., in_chans=..., img_size=...)."""
    cfg = load_option(CONFIG_DIR / config)
    assert cfg.name in MODEL_NAMES
    if cfg.name == "timm":
        assert OmegaConf.is_missing(cfg, "arch")  # the user names the architecture
        cfg.arch = "test_resnet"
    model = build_model(**cfg, num_classes=10, in_chans=3, img_size=32).eval()
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()


def test_config_files_cover_the_brief():
    names = {p.stem for p in CONFIG_DIR.glob("*.yaml")}
    expected = set(MODEL_NAMES) - {"wrn"} | {"wrn_28_10", "preact_resnet18_w16"}
    assert names == expected


@pytest.mark.parametrize(
    ("config", "num_classes", "paper_millions", "rel_tol"),
    [
        ("preact_resnet18.yaml", 10, 11.17, 0.01),  # FMix's PreAct-ResNet18
        ("wrn_28_10.yaml", 10, 36.5, 0.01),  # WRN paper, Table 1
        ("pyramidnet.yaml", 100, 26.8, 0.02),  # CutMix Table 5, PyramidNet-200 alpha=240
    ],
)
def test_parameter_counts_match_the_papers(config, num_classes, paper_millions, rel_tol):
    cfg = load_option(CONFIG_DIR / config)
    count = num_params(build_model(**cfg, num_classes=num_classes, in_chans=3, img_size=32))
    print(f"{config} on {num_classes} classes: {count:,} parameters (paper {paper_millions}M)")
    assert count == pytest.approx(paper_millions * 1e6, rel=rel_tol)


# ---------------------------------------------------------------------------------------------- bad input


def test_unknown_name_lists_the_available_names():
    with pytest.raises(ValueError, match="resnet_9000") as info:
        build_model("resnet_9000", num_classes=10, in_chans=3, img_size=32)
    for name in MODEL_NAMES:
        assert name in str(info.value)


@pytest.mark.parametrize(
    ("name", "kwargs", "bad"),
    [
        ("preact_resnet18", {"widht": 16}, "widht"),
        ("preact_resnet18", {"width": 0}, "width=0|got 0"),
        ("preact_resnet18", {"width": True}, "True"),
        ("pyramidnet", {"depth": 201}, "201"),
        ("pyramidnet", {"depth": 200, "bottleneck": False, "alpha": 48.5}, "48.5"),
        ("pyramidnet", {"depth": 110, "bottleneck": "yes"}, "yes"),
        ("pyramidnet", {"depth": 29, "bottleneck": False}, "29"),
        ("wrn", {"depth": 27}, "27"),
        ("wrn", {"dropout": 1.0}, "1.0"),
        ("vit_tiny", {"patch_size": 5}, "5"),
        ("resnet18", {"pretrained": True}, "pretrained"),
    ],
)
def test_bad_kwargs_raise_value_error_naming_the_value(name, kwargs, bad):
    with pytest.raises(ValueError, match=bad):
        build_model(name, num_classes=10, in_chans=3, img_size=32, **kwargs)


@pytest.mark.parametrize("field", ["num_classes", "in_chans", "img_size"])
def test_bad_common_arguments_raise(field):
    args = {"num_classes": 10, "in_chans": 3, "img_size": 32, field: 0}
    with pytest.raises(ValueError, match=field):
        build_model("preact_resnet18", **args)


def test_model_kwargs_lists_each_models_settings():
    assert model_kwargs("pyramidnet") == ["depth", "alpha", "bottleneck"]
    assert model_kwargs("wrn") == ["depth", "widen", "dropout"]


# ---------------------------------------------------------------------------------------------- timm offline


@pytest.mark.parametrize("name", ["resnet18", "efficientnet_b0", "vit_tiny", "timm"])
def test_timm_models_never_use_the_network(name, monkeypatch):
    calls = []
    real_create = timm.create_model

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_create(*args, **kwargs)

    def no_network(*args, **kwargs):
        raise AssertionError("a model build tried to open a network connection")

    monkeypatch.setattr(timm, "create_model", spy)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    build_model(name, num_classes=10, in_chans=3, img_size=32, **LIGHT_KWARGS[name])
    assert len(calls) == 1 and calls[0]["pretrained"] is False


def test_vit_uses_the_requested_patch_grid():
    model = build_model("vit_tiny", num_classes=10, in_chans=1, img_size=28, patch_size=4)
    assert model.patch_embed.num_patches == (28 // 4) ** 2
    assert model.patch_embed.proj.in_channels == 1


def final_map_size(model: nn.Module, in_chans: int, img_size: int) -> tuple[int, int]:
    """The spatial size of the last stage's feature map, the one the classifier pools."""
    with torch.no_grad():
        return tuple(model.eval().forward_features(torch.zeros(1, in_chans, img_size, img_size)).shape[-2:])


def stem_strides(model: nn.Module) -> list[int]:
    """The strides applied before the first stage: the stem conv and the max-pool (1 where there is none)."""
    if hasattr(model, "conv_stem"):  # EfficientNet: stem conv, then the first stride-2 stage
        return [model.conv_stem.stride[0], model.blocks[1][0].conv_dw.stride[0]]
    pool = model.maxpool.stride if isinstance(model.maxpool, nn.MaxPool2d) else 1
    return [model.conv1.stride[0], pool]


@pytest.mark.parametrize(
    ("name", "in_chans", "img_size", "final"),
    [
        ("resnet18", 1, 28, 4),
        ("resnet50", 1, 28, 4),
        ("efficientnet_b0", 1, 28, 4),
        ("resnet18", 3, 32, 4),
        ("efficientnet_b0", 3, 32, 4),
        ("resnet18", 3, 63, 8),
        ("efficientnet_b0", 3, 63, 8),
    ],
)
def test_cnn_presets_take_the_cifar_stem_on_small_images(name, in_chans, img_size, final):
    """Below SMALL_IMAGE_PX: stride-1 stem (total stride 8), so 28-32 px end at 4x4 maps, not timm's 1x1."""
    model = build_model(name, num_classes=10, in_chans=in_chans, img_size=img_size)
    assert img_size < SMALL_IMAGE_PX
    assert stem_strides(model) == [1, 1]
    assert final_map_size(model, in_chans, img_size) == (final, final)
    stock = timm.create_model(name, num_classes=10, in_chans=in_chans)
    assert final_map_size(stock, in_chans, img_size) == (-(-img_size // 32),) * 2  # what it replaces: 1x1 or 2x2
    if name.startswith("resnet"):
        assert model.conv1.kernel_size == (3, 3) and model.conv1.in_channels == in_chans
    assert model(torch.randn(2, in_chans, img_size, img_size)).shape == (2, 10)


@pytest.mark.parametrize("name", ["resnet18", "efficientnet_b0"])
def test_cnn_presets_keep_timms_layout_from_64_px(name):
    model = build_model(name, num_classes=10, in_chans=3, img_size=SMALL_IMAGE_PX)
    stock = timm.create_model(name, num_classes=10, in_chans=3)
    assert stem_strides(model) == stem_strides(stock) == [2, 2]
    assert final_map_size(model, 3, 224) == (7, 7)
    assert num_params(model) == num_params(stock)


# ---------------------------------------------------------------------------------------------- mathematics


def test_preact_block_with_zero_last_conv_is_the_identity():
    """A pre-activation residual block computes x + F(x); with F's last conv zeroed it is exactly x."""
    torch.manual_seed(0)
    block = PreActBlock(8, 8, stride=1).train()
    nn.init.zeros_(block.conv2.weight)
    x = torch.randn(4, 8, 9, 9)
    torch.testing.assert_close(block(x), x, rtol=0, atol=0)


@pytest.mark.parametrize("bottleneck", [False, True])
def test_pyramid_shortcut_is_pooled_and_zero_padded(bottleneck):
    """With the residual branch silenced (last BN weight 0), a downsampling pyramid block returns its input
    average-pooled 2x2 (ceil mode, so 7 px -> 4 px like the strided conv) with zero channels appended."""
    torch.manual_seed(0)
    block = PyramidBlock(6, inner=10, stride=2, bottleneck=bottleneck).eval()
    nn.init.zeros_(block.residual[-1].weight)
    x = torch.randn(3, 6, 7, 7)
    out = block(x)
    out_chans = 40 if bottleneck else 10
    assert out.shape == (3, out_chans, 4, 4)
    # Interior 2x2 windows are plain means; the last row/column windows hold only the valid pixels.
    torch.testing.assert_close(out[:, :6, 1, 2], x[:, :, 2:4, 4:6].mean(dim=(2, 3)))
    torch.testing.assert_close(out[:, :6, 3, 3], x[:, :, 6, 6])
    assert (out[:, 6:] == 0).all()


def test_pyramid_widths_grow_additively_to_16_plus_alpha():
    widths = pyramid_widths(depth=200, alpha=240, bottleneck=True)
    assert len(widths) == 3 * 22  # depth 200 = 9 * 22 + 2
    assert widths[-1] == 16 + 240
    steps = torch.tensor(widths).diff().float()
    assert (steps - 240 / 66).abs().max() <= 1.0  # each block adds alpha / N channels, up to rounding
    model = build_model("pyramidnet", num_classes=100, in_chans=3, img_size=32, depth=20, alpha=48, bottleneck=False)
    assert model.head.fc.in_features == 16 + 48


def test_wrn_layout_follows_depth_and_widen():
    model = build_model("wrn", num_classes=10, in_chans=3, img_size=32, depth=28, widen=2)
    convs3 = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs3) == 1 + 6 * 4  # stem + two per block, n = (28 - 4) / 6 = 4 blocks per group
    assert sum(c.stride == (2, 2) for c in convs3) == 2
    assert [c.out_channels for c in convs3][-1] == 64 * 2
    assert model.head.fc.in_features == 64 * 2


def test_initialisation_follows_the_papers():
    torch.manual_seed(0)
    model = build_model("wrn", num_classes=10, in_chans=3, img_size=32, depth=10, widen=8)
    # 256 -> 512 channels: fan_out differs from fan_in, and 1.2M weights make the std estimate tight.
    conv = model.blocks[-1].conv1
    assert (conv.in_channels, conv.out_channels) == (256, 512)
    expected = math.sqrt(2.0 / (3 * 3 * conv.out_channels))
    assert conv.weight.std().item() == pytest.approx(expected, rel=0.01)
    assert conv.weight.mean().abs().item() < 0.01 * expected
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            assert (module.weight == 1).all() and (module.bias == 0).all()
    assert (model.head.fc.bias == 0).all()


def test_wrn_dropout_is_active_only_in_training():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 16, 16)
    dropped = build_model("wrn", num_classes=10, in_chans=3, img_size=16, depth=10, widen=1, dropout=0.5)
    plain = build_model("wrn", num_classes=10, in_chans=3, img_size=16, depth=10, widen=1, dropout=0.0)
    assert not torch.equal(dropped(x), dropped(x))  # two random masks
    torch.testing.assert_close(plain(x), plain(x))
    dropped.eval()
    torch.testing.assert_close(dropped(x), dropped(x))


@pytest.mark.parametrize("name", ["preact_resnet18", "pyramidnet", "wrn"])
def test_channels_last_gives_the_same_logits(name):
    torch.manual_seed(0)
    model = build_model(name, num_classes=10, in_chans=1, img_size=28, **LIGHT_KWARGS[name]).eval()
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        expected = model(x)
        model = model.to(memory_format=torch.channels_last)
        got = model(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["preact_resnet18", "pyramidnet", "wrn"])
def test_cifar_nets_compile_to_one_graph(name):
    """fullgraph=True fails on any graph break, i.e. on data-dependent Python control flow."""
    torch.manual_seed(0)
    model = build_model(name, num_classes=10, in_chans=1, img_size=28, **LIGHT_KWARGS[name]).eval()
    x = torch.randn(2, 1, 28, 28)
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))


# ------------------------------------------------------------------------------------- every preset learns

# Measured 2026-12-05: efficientnet_b0 reached 19.1 % on this budget (48 steps), though it learns real
# Fashion-MNIST on the model menu's (59.2 % after 117 steps, docs/results.md). Strict, so the day a budget or recipe
# change makes it pass, the suite says so.
EFFICIENTNET_SLOW_START = pytest.mark.xfail(strict=True, reason="efficientnet_b0: 19 % in 48 steps (issue 25)")
PRESETS = [
    pytest.param(p.stem, marks=EFFICIENTNET_SLOW_START) if p.stem == "efficientnet_b0" else p.stem
    for p in sorted(CONFIG_DIR.glob("*.yaml"))
    if p.stem != "timm"
]


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_learns_with_its_own_recipe(preset, tmp_path):
    """Each preset, with only its model config's recipe (no optim / sched override), on a small budget: 1,024
    synthetic 1x28x28 images (Fashion-MNIST's shape), 3 epochs, fp32 so the verdict does not depend on the host.
    Chance is 10 %; a 1x1-map EfficientNet or a ViT on SGD lr 0.1 (the failures of issue 25) stay near it.

    Without random crops and flips: under them the synthetic templates ask for a translation invariance that a ViT,
    which has no convolutional prior, does not learn from 1,024 images in 48 steps (vit_tiny: 27 % with them, 85 %
    without, measured), and that is a fact about ViTs on little data, not about the preset. The model menu
    (docs/results.md) trains every preset on real Fashion-MNIST with the default augmentation."""
    cfg = compose_cfg(
        [
            f"model={preset}",
            "dataset=synthetic",
            "dataset.in_chans=1",
            "dataset.img_size=28",
            "dataset.mean=[0.5]",
            "dataset.std=[0.25]",
            "dataset.train_size=1024",
            "dataset.test_size=256",
            "dataset.noise=0.2",
            "dataset.crop_padding=0",
            "dataset.hflip=false",
            "trainer.epochs=3",
            "trainer.batch_size=64",
            "trainer.precision=fp32",
            "trainer.progress=false",
            "trainer.device=cpu",
        ]
    )
    summary = run_training(cfg, tmp_path)
    assert summary["top1"] > 0.5, f"{preset}: {summary['top1']:.3f} top-1 after 3 epochs"
