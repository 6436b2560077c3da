"""Bad arguments and malformed batches fail early with a message naming the bad value."""

import math

import numpy as np
import pytest
import torch

from augment import METHODS, RICAP, CutMix, Cutout, FMix, MixChoice, Mixup, NoMix
from augment import functional as AF
from augment.dense import CutMixDetection, CutMixSegmentation

BETA_MIXERS = [Mixup, CutMix, FMix, RICAP]


@pytest.mark.parametrize("cls", BETA_MIXERS + [CutMixSegmentation, CutMixDetection])
@pytest.mark.parametrize("alpha", [0, 0.0, -1.0, math.nan, math.inf, "1"])
def test_alpha_must_be_positive(cls, alpha):
    kwargs = {} if cls in (CutMixSegmentation, CutMixDetection) else {"num_classes": 3}
    with pytest.raises(ValueError, match=r"alpha must be .*> 0.*got .*prob=0\.0 or NoMix") as err:
        cls(alpha=alpha, **kwargs)
    assert repr(alpha) in str(err.value)


@pytest.mark.parametrize("name", sorted(METHODS))
@pytest.mark.parametrize("prob", [-0.1, 1.5, math.nan])
def test_prob_must_be_in_unit_interval(name, prob):
    with pytest.raises(ValueError, match=r"prob must be a number in \[0, 1\], got"):
        METHODS[name](num_classes=3, prob=prob)


@pytest.mark.parametrize("cls", [Mixup, CutMix, FMix])
def test_unknown_mode(cls):
    with pytest.raises(ValueError, match=r"mode must be one of .*'sample'"):
        cls(num_classes=3, mode="sample")


def test_ricap_rejects_pair_mode():
    with pytest.raises(ValueError, match="mode must be one of \\('batch', 'elem'\\), got 'pair'"):
        RICAP(num_classes=3, mode="pair")


@pytest.mark.parametrize("name", sorted(METHODS))
@pytest.mark.parametrize("num_classes", [0, -2, 2.5, True])
def test_num_classes_must_be_a_positive_int(name, num_classes):
    with pytest.raises(ValueError, match="num_classes must be an integer >= 1"):
        METHODS[name](num_classes=num_classes)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_generator_must_be_a_torch_generator(name):
    with pytest.raises(TypeError, match="torch.Generator"):
        METHODS[name](num_classes=3, generator=np.random.default_rng(0))


@pytest.mark.parametrize("name", sorted(METHODS))
def test_images_must_be_4d(name):
    mixer = METHODS[name](num_classes=3)
    with pytest.raises(ValueError, match=r"images must be 4-D \(B, C, H, W\), got shape \(2, 8, 8\)"):
        mixer(torch.rand(2, 8, 8), torch.tensor([0, 1]))


@pytest.mark.parametrize("name", sorted(METHODS))
def test_images_dtype(name):
    with pytest.raises(ValueError, match="floating dtype or uint8, got torch.int32"):
        METHODS[name](num_classes=3)(torch.zeros(2, 1, 4, 4, dtype=torch.int32), torch.tensor([0, 1]))


@pytest.mark.parametrize("name", sorted(METHODS))
@pytest.mark.parametrize("bad", [-1, 3])
def test_labels_out_of_range(name, bad):
    with pytest.raises(ValueError, match=rf"labels must lie in \[0, num_classes=3\), found label {bad}"):
        METHODS[name](num_classes=3)(torch.rand(2, 1, 4, 4), torch.tensor([0, bad]))


@pytest.mark.parametrize("name", sorted(METHODS))
def test_batch_and_label_length_mismatch(name):
    with pytest.raises(ValueError, match="batch size mismatch: 4 images but 3 labels"):
        METHODS[name](num_classes=3)(torch.rand(4, 1, 4, 4), torch.tensor([0, 1, 2]))


@pytest.mark.parametrize("labels", [torch.tensor([0.0, 1.0]), torch.tensor([[0], [1]])])
def test_labels_must_be_1d_integers(labels):
    with pytest.raises(ValueError, match="labels must"):
        Mixup(num_classes=3)(torch.rand(2, 1, 4, 4), labels)


def test_cutmix_ratio_arguments():
    with pytest.raises(ValueError, match="both min_ratio and max_ratio or neither, got 0.2 and None"):
        CutMix(num_classes=3, min_ratio=0.2)
    with pytest.raises(ValueError, match="min_ratio must be <= max_ratio, got 0.6 > 0.4"):
        CutMix(num_classes=3, min_ratio=0.6, max_ratio=0.4)
    with pytest.raises(ValueError, match="max_ratio must be a number in \\[0, 1\\], got 1.5"):
        CutMix(num_classes=3, min_ratio=0.6, max_ratio=1.5)


def test_fmix_arguments():
    with pytest.raises(ValueError, match="decay_power must be a number > 0, got -1"):
        FMix(num_classes=3, decay_power=-1)
    with pytest.raises(ValueError, match="max_soft must be a number in \\[0, 1\\], got 2"):
        FMix(num_classes=3, max_soft=2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"size": 0}, "size must be an int >= 1 .* got 0"),
        ({"size": 1.5}, "size must be .*a float in \\(0, 1\\].* got 1.5"),
        ({"holes": 0}, "holes must be an integer >= 1, got 0"),
        ({"fill": "noise"}, "fill must be one of \\('zero', 'mean'\\), got 'noise'"),
    ],
)
def test_cutout_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Cutout(num_classes=3, **kwargs)


def test_mix_choice_arguments():
    mixers = [NoMix(num_classes=3), Mixup(num_classes=3)]
    with pytest.raises(ValueError, match="one probability per mixer"):
        MixChoice(mixers, [1.0])
    with pytest.raises(ValueError, match="probs must sum to 1, got \\[0.5, 0.6\\]"):
        MixChoice(mixers, [0.5, 0.6])
    with pytest.raises(ValueError, match="each of probs must be a number in \\[0, 1\\], got 1.5"):
        MixChoice(mixers, [1.5, -0.5])
    with pytest.raises(ValueError, match="same num_classes, got \\[3, 4\\]"):
        MixChoice([NoMix(num_classes=3), NoMix(num_classes=4)], [0.5, 0.5])


def test_dense_input_checks():
    images = torch.rand(2, 3, 4, 5)
    with pytest.raises(ValueError, match=r"label_maps must be a \(2, 4, 5\) tensor .* got \(2, 5, 4\)"):
        CutMixSegmentation()(images, torch.zeros(2, 5, 4, dtype=torch.long))
    detect = CutMixDetection()
    with pytest.raises(ValueError, match="2 images, 1 box tensors, 2 label tensors"):
        detect(images, [torch.zeros(0, 4)], [torch.zeros(0), torch.zeros(0)])
    with pytest.raises(ValueError, match=r"image 1: boxes must be \(n, 4\) and labels \(n,\), got \(1, 3\)"):
        detect(images, [torch.zeros(0, 4), torch.zeros(1, 3)], [torch.zeros(0), torch.zeros(1)])
    with pytest.raises(ValueError, match="min_visibility must be a number in \\[0, 1\\], got 1.2"):
        CutMixDetection(min_visibility=1.2)


@pytest.mark.parametrize(
    "call",
    [
        lambda g: AF.sample_cutmix_units(64, 32, 32, 1.0, 0.5, "batch", g),
        lambda g: AF.sample_cutmix(64, 32, 32, 1.0, 0.5, "elem", g),
        lambda g: AF.sample_mixup(64, 1.0, 1.0, "pair", g),
        lambda g: AF.sample_cutout(8, 16, 16, (4, 4), 1, 1.0, g),
        lambda g: AF.sample_lambda(1.0, 8, g),
        lambda g: AF.pair_partners(8, g),
        lambda g: AF.sample_active(AF.pair_partners(8, generator=g), 0.5, "elem", g),
        lambda g: AF.box_masks(torch.zeros(1, 4, dtype=torch.long), 4, 4, torch.float32),
        lambda g: CutMix(10, 1.0, 0.5, "elem"),
        lambda g: Cutout(10, 8),
        lambda g: MixChoice([NoMix(10)], [1.0], g),
        lambda g: CutMixSegmentation(1.0),
    ],
)
def test_hyperparameters_are_keyword_only(call):
    """Only shape arguments (and num_classes, mixers/probs) are positional: a positional alpha, prob, mode
    or generator is a TypeError, not a silently swapped argument."""
    with pytest.raises(TypeError, match="positional argument"):
        call(torch.Generator().manual_seed(0))
