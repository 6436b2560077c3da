"""Every dataset × model × augment combination composes, validates, and builds a working model and mixer."""

import functools

import pytest
import torch
from omegaconf import OmegaConf

from augment import check_model, mixed_forward, needs_model
from models import build_model
from recipes.config import ConfigError, resolve_device, validate
from recipes.data import dataset_info
from recipes.run import build_mixer
from tests.conftest import CONFIGS, compose_cfg

DATASETS = sorted(p.stem for p in (CONFIGS / "dataset").glob("*.yaml"))
MODELS = sorted(p.stem for p in (CONFIGS / "model").glob("*.yaml"))
AUGMENTS = sorted(p.stem for p in (CONFIGS / "augment").glob("*.yaml"))
# Small image sizes keep the biggest nets fast on CPU; the real sizes compose in the other tests.
SMALL = {"imagefolder": ["dataset.root=/nonexistent", "dataset.img_size=32"]}
# model=timm requires model.arch; timm's smallest test net stands in for the user's choice.
REQUIRED = {"timm": ["model.arch=test_resnet"]}


def test_groups_hold_what_the_docs_promise():
    assert {"fashion_mnist", "cifar10", "cifar100", "imagefolder", "synthetic"} <= set(DATASETS)
    assert {
        "resnet18",
        "resnet50",
        "efficientnet_b0",
        "vit_tiny",
        "vit_small",
        "preact_resnet18",
        "wrn_28_10",
        "pyramidnet",
    } <= set(MODELS)
    assert {"none", "cutout", "mixup", "cutmix"} <= set(AUGMENTS)


@functools.cache
def logits_shape(dataset: str, model: str) -> tuple:
    cfg = compose_cfg([f"dataset={dataset}", f"model={model}", *SMALL.get(dataset, []), *REQUIRED.get(model, [])])
    info = dataset_info(cfg.dataset)
    net = build_model(
        **OmegaConf.to_container(cfg.model),
        num_classes=info.num_classes,
        in_chans=info.in_chans,
        img_size=info.img_size,
    ).eval()
    with torch.no_grad():
        out = net(torch.randn(2, info.in_chans, info.img_size, info.img_size))
    assert torch.isfinite(out).all()
    return tuple(out.shape), info.num_classes


@pytest.mark.parametrize("augment", AUGMENTS)
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("dataset", DATASETS)
def test_every_combination_composes_and_runs_a_dummy_batch(dataset, model, augment):
    overrides = [f"dataset={dataset}", f"model={model}", f"augment={augment}", *SMALL.get(dataset, [])]
    cfg = compose_cfg(overrides + REQUIRED.get(model, []))
    validate(cfg)
    shape, num_classes = logits_shape(dataset, model)
    assert shape == (2, num_classes)
    info = dataset_info(cfg.dataset)
    mixer = build_mixer(cfg.augment, num_classes, torch.Generator().manual_seed(0))
    if needs_model(mixer):  # Manifold Mixup, TransMix: one mixed forward pass through the model, if it fits
        targets = model_mixed_targets(cfg, mixer, info, forward=dataset == "synthetic")  # one dataset: time
        if targets is None:
            return
    else:
        images = torch.randn(4, info.in_chans, 8, 8)
        mixed, targets = mixer(images, torch.arange(4) % num_classes)
        assert mixed.shape == images.shape
    assert targets.shape == (4, num_classes)
    torch.testing.assert_close(targets.sum(1), torch.ones(4))


def model_mixed_targets(cfg, mixer, info, *, forward: bool):
    """The targets of mixed_forward on the config's model (None without `forward`); None too when the method
    refuses the model (TransMix on a net without attention), which must then be a ValueError naming its need."""
    net = build_model(**OmegaConf.to_container(cfg.model), **info_args(info))
    try:
        check_model(mixer, net)
    except ValueError as err:
        assert cfg.augment.name == "transmix" and "class token" in str(err)
        return None
    if not forward:
        return None
    images = torch.randn(4, info.in_chans, info.img_size, info.img_size)
    logits, targets = mixed_forward(mixer, net, images, torch.arange(4) % info.num_classes)
    assert logits.shape == (4, info.num_classes)
    return targets


def info_args(info) -> dict:
    return {"num_classes": info.num_classes, "in_chans": info.in_chans, "img_size": info.img_size}


def test_pyramidnet_200_of_the_cutmix_paper_is_expressible():
    cfg = compose_cfg(["model=pyramidnet", "model.depth=200", "model.alpha=240", "dataset=cifar100"])
    assert (cfg.model.depth, cfg.model.alpha, cfg.model.bottleneck) == (200, 240, True)


def test_imagefolder_needs_a_root():
    with pytest.raises(ConfigError, match="dataset.root"):
        validate(compose_cfg(["dataset=imagefolder"]))


def test_cuda_request_without_a_gpu_is_refused_clearly():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        resolve_device("cuda")
