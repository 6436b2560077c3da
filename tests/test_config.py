"""Every dataset × model × augment combination composes, validates, and builds a working model and mixer."""

import functools

import pytest
import torch
from omegaconf import OmegaConf

from augment import check_model, mixed_forward, needs_model
from models import build_model
from recipes.config import ConfigError, resolve_device, validate
from recipes.data import dataset_info
from recipes.mixers import build_mixer
from recipes.recipe_origin import describe_recipe, origin
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


# ------------------------------------------------------------------------------------ each family's recipe

EXPERIMENTS = sorted(p.stem for p in (CONFIGS / "experiment").glob("*.yaml"))
# (optim.name, sched.warmup_epochs > 0) per preset: configs/model/*.yaml's `override /optim@_global_.optim`.
FAMILY_RECIPES = {
    "efficientnet_b0": ("adamw", True),
    "preact_resnet18": ("sgd", False),
    "preact_resnet18_w16": ("sgd", False),
    "pyramidnet": ("sgd", False),
    "resnet18": ("sgd", False),
    "resnet50": ("sgd", False),
    "timm": ("sgd", False),
    "vit_small": ("adamw", True),
    "vit_tiny": ("adamw", True),
    "wrn_28_10": ("sgd", False),
}


def test_every_model_option_names_its_recipe():
    """Each model file overrides both optim and sched, so "from model=<x>'s recipe" in the log is always true."""
    assert sorted(FAMILY_RECIPES) == MODELS
    for model in MODELS:
        defaults = OmegaConf.load(CONFIGS / "model" / f"{model}.yaml").defaults
        keys = {key for entry in defaults if OmegaConf.is_dict(entry) for key in entry}
        assert {"override /optim@_global_.optim", "override /sched@_global_.sched"} <= keys, model


@pytest.mark.parametrize("model", MODELS)
def test_each_model_brings_its_family_recipe(model):
    cfg = compose_cfg([f"model={model}", *REQUIRED.get(model, [])])
    optim, warmup = FAMILY_RECIPES[model]
    assert cfg.optim.name == optim
    assert (cfg.sched.warmup_epochs > 0) == warmup
    if optim == "adamw":  # DeiT's optimiser and weight decay; lr for batch 128 on a short schedule
        assert (cfg.optim.lr, cfg.optim.weight_decay, cfg.trainer.batch_size) == (1e-3, 0.05, 128)


@pytest.mark.parametrize(
    ("overrides", "optim", "lr", "warmup"),
    [
        (["optim=sgd"], "sgd", 0.1, 0.5),  # the group chosen on the command line; the model's sched stays
        (["sched=cosine"], "adamw", 1e-3, 0.0),
        (["optim.lr=0.01", "sched.warmup_epochs=0"], "adamw", 0.01, 0.0),
        (["optim=sgd", "optim.lr=0.05"], "sgd", 0.05, 0.5),
    ],
)
def test_the_command_line_wins_over_the_model_recipe(overrides, optim, lr, warmup):
    for order in (["model=vit_tiny", *overrides], [*overrides, "model=vit_tiny"]):
        cfg = compose_cfg(order)
        assert (cfg.optim.name, cfg.optim.lr, cfg.sched.warmup_epochs) == (optim, lr, warmup)


def pinned_choices(experiment: str) -> dict[str, str]:
    """The optim and sched options an experiment file names (`override /optim: sgd`), or its parent file's."""
    found = {}
    for entry in OmegaConf.load(CONFIGS / "experiment" / f"{experiment}.yaml").defaults:
        if isinstance(entry, str) and entry != "_self_":
            found = {**pinned_choices(entry), **found}
        elif OmegaConf.is_dict(entry):
            found.update({key.split("/")[1]: value for key, value in entry.items() if key in PINNED})
    return found


PINNED = ("override /optim", "override /sched")


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiments_keep_their_pinned_recipe(experiment):
    """Every experiment pins optim and sched, and its choice wins over its model's recipe."""
    pinned = pinned_choices(experiment)
    assert set(pinned) == {"optim", "sched"}
    cfg = compose_cfg([f"experiment={experiment}"])
    for group in ("optim", "sched"):
        assert cfg[group].name == OmegaConf.load(CONFIGS / group / f"{pinned[group]}.yaml").name


@pytest.mark.parametrize("model", ["vit_tiny", "efficientnet_b0", "resnet18"])
def test_an_experiments_recipe_stays_when_the_user_swaps_the_model(model):
    pinned = compose_cfg(["experiment=small_data_fashion_mnist"])
    cfg = compose_cfg(["experiment=small_data_fashion_mnist", f"model={model}"])
    assert cfg.model.name == model
    assert cfg.optim == pinned.optim and cfg.sched == pinned.sched


def test_the_recipe_log_says_where_each_group_came_from():
    cfg = compose_cfg(["model=vit_tiny", "optim=sgd"])
    lines = describe_recipe(cfg, choices={"model": "vit_tiny", "experiment": None}, task_overrides=["optim=sgd"])
    assert lines == [
        "optim: sgd lr 0.1 wd 0.0005 momentum 0.9 nesterov (from the command line)",
        "sched: cosine, warmup 0.5 epochs (from model=vit_tiny's recipe)",
    ]
    exp = {"model": "preact_resnet18_w16", "experiment": "small_data_fashion_mnist"}
    assert (
        origin("optim", choices=exp, task_overrides=["augment=cutmix", "seed=1"])
        == "experiment=small_data_fashion_mnist"
    )
    assert origin("sched", choices=exp, task_overrides=["+sched.min_lr=0"]) == "the command line"
    assert origin("optim", choices=exp, task_overrides=["optimizer=x"]) == "experiment=small_data_fashion_mnist"
