"""The mixers: callables `(images, labels) -> (images, soft_targets)` for any training loop.

images (B, C, H, W) of any float dtype or uint8, H ≠ W allowed, on CPU or CUDA; labels (B,) integer class
indices in [0, num_classes). Targets are (B, num_classes) float32 rows summing to 1. Label smoothing is not
applied here. Nothing is modified in place; when nothing is mixed (NoMix, prob=0) the input images object
itself is returned.

Randomness: every draw comes from `self.generator` at call time, on that generator's device (so a CUDA
generator samples on the GPU), then moves to the images' device. Reseeding the generator reproduces the
draws exactly. With generator=None a private CPU generator is created, seeded once from torch's global RNG.
Inside a DataLoader worker (a mixer in a collate_fn) each worker's copy of a generator is reseeded once from
its state and the worker's seed (augment._streams), so workers draw differently; the main process is untouched.
"""

from __future__ import annotations

import bisect
import itertools

import torch
from torch import Tensor

from augment import functional as F
from augment._checks import (
    ArgError,
    check_alpha,
    check_batch,
    check_generator,
    check_mode,
    check_positive_int,
    check_prob,
)
from augment._streams import fold_worker_seed, private_generator
from augment.contract import check_model, mixed_forward, needs_model
from augment.fourier import sample_fmix


class _Mixer:
    """Shared arguments and checks: num_classes, prob, generator; subclasses implement `_mix`."""

    def __init__(self, num_classes: int, *, prob: float, generator: torch.Generator | None) -> None:
        self.num_classes = check_positive_int(num_classes, "num_classes")
        self.prob = check_prob(prob)
        self.generator = private_generator() if generator is None else check_generator(generator)

    def __call__(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        check_batch(images, labels, self.num_classes)
        labels = labels.long()
        if self.prob == 0.0:
            return images, F.one_hot_targets(labels, self.num_classes)
        fold_worker_seed(self.generator)
        return self._mix(images, labels)

    def _mix(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "generator")
        return f"{type(self).__name__}({args})"


class NoMix(_Mixer):
    """No mixing: images returned as they are, one-hot targets. The baseline, with the common signature;
    no paper, no pairing, λ = 1 for every sample.

    Args:
        num_classes: number of classes (width of the targets).
        prob: accepted for uniformity; has no effect.
        generator: accepted for uniformity; never drawn from.
    """

    def __init__(self, num_classes: int, *, prob: float = 1.0, generator: torch.Generator | None = None) -> None:
        super().__init__(num_classes, prob=prob, generator=generator)

    def _mix(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        return images, F.one_hot_targets(labels, self.num_classes)


class _PairMixer(_Mixer):
    """A mixer of two images per sample with λ ~ Beta(alpha, alpha) and a `mode`."""

    def __init__(self, num_classes, *, alpha, prob, mode, generator) -> None:
        super().__init__(num_classes, prob=prob, generator=generator)
        self.alpha = check_alpha(alpha)
        self.mode = check_mode(mode)


class Mixup(_PairMixer):
    """Mixup (Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018).

    Sample i becomes λ_i · x_i + (1 − λ_i) · x_j and its target λ_i · y_i + (1 − λ_i) · y_j, where j is
    its partner under the pairing rule (a random perfect matching of the batch; with an odd batch one sample
    is left unmixed) and λ ~ Beta(alpha, alpha) is the weight of the sample's own image and label.
    uint8 images are blended in float32 and rounded back to uint8 (targets keep the exact λ).

    Args:
        num_classes: number of classes.
        alpha: Beta concentration, > 0 (1.0 = uniform λ; small alpha = λ near 0 or 1).
        prob: probability that a batch / pair / sample (per `mode`) is mixed at all; otherwise λ = 1.
        mode: "batch" (one λ for the batch), "pair" (one λ per pair), "elem" (one λ per sample).
        generator: torch.Generator all draws come from (see module docstring).
    """

    def __init__(
        self,
        num_classes: int,
        *,
        alpha: float = 1.0,
        prob: float = 1.0,
        mode: str = "batch",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(num_classes, alpha=alpha, prob=prob, mode=mode, generator=generator)

    def _mix(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        partners, lam = F.sample_mixup(
            images.shape[0], alpha=self.alpha, prob=self.prob, mode=self.mode, generator=self.generator
        )
        partners, lam = partners.to(images.device), lam.to(images.device)
        return F.blend(images, partners, lam), F.pair_targets(labels, partners, lam, self.num_classes)


class CutMix(_PairMixer):
    """CutMix (Yun et al., "CutMix: Regularization Strategy to Train Strong Classifiers with Localizable
    Features", ICCV 2019).

    Sample i receives a rectangle cut from its partner j (pairing rule: random perfect matching, odd one out
    unmixed) at the same position. λ ~ Beta(alpha, alpha) gives the box side ratios √(1 − λ) (rounded to
    whole pixels); the box centre is uniform over the whole image, so boxes reach every border, and the box
    is clipped to the image. The target weight λ of the own label is then recomputed as the fraction of
    pixels actually kept, so targets match the pixels exactly.

    Args:
        num_classes: number of classes.
        alpha: Beta concentration, > 0 (the paper uses 1.0). Not used when min_ratio/max_ratio are set.
        prob: probability that a batch / pair / sample (per `mode`) is mixed at all (paper: 0.5 on CIFAR).
        mode: "batch" (one box for the batch, as in the paper), "pair" (one per pair), "elem" (per sample).
        min_ratio, max_ratio: optional; when both are given, box height and width ratios are drawn
            independently from U(min_ratio, max_ratio) instead of from λ (timm's "cutmix_minmax").
        generator: torch.Generator all draws come from.
    """

    def __init__(
        self,
        num_classes: int,
        *,
        alpha: float = 1.0,
        prob: float = 1.0,
        mode: str = "batch",
        min_ratio: float | None = None,
        max_ratio: float | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(num_classes, alpha=alpha, prob=prob, mode=mode, generator=generator)
        for ratio, name in ((min_ratio, "min_ratio"), (max_ratio, "max_ratio")):
            if ratio is not None:
                check_prob(ratio, name)
        if (min_ratio is None) != (max_ratio is None):
            message = f"give both min_ratio and max_ratio or neither, got {min_ratio!r} and {max_ratio!r}"
            raise ArgError("min_ratio" if max_ratio is None else "max_ratio", message)
        if min_ratio is not None and min_ratio > max_ratio:
            raise ArgError("min_ratio", f"min_ratio must be <= max_ratio, got {min_ratio!r} > {max_ratio!r}")
        self.min_ratio, self.max_ratio = min_ratio, max_ratio

    def _mix(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        b, _, h, w = images.shape
        ratios = {"min_ratio": self.min_ratio, "max_ratio": self.max_ratio}
        partners, boxes = F.sample_cutmix_units(
            b, h, w, alpha=self.alpha, prob=self.prob, mode=self.mode, generator=self.generator, **ratios
        )
        partners, boxes = partners.to(images.device), boxes.to(images.device)
        if self.mode != "batch":  # in batch mode the one box's mask broadcasts over the batch
            boxes = F.share(boxes, partners, mode=self.mode)
        lam = 1.0 - F.box_area_fraction(boxes, h, w)  # a sample paired with itself gets its own image back
        mask_dtype = images.dtype if images.is_floating_point() else torch.bool
        mixed = F.paste(images, partners, F.box_masks(boxes, h, w, dtype=mask_dtype))
        return mixed, F.pair_targets(labels, partners, lam, self.num_classes)


class MixChoice:
    """Pick one mixer per batch with given probabilities (timm's mixup/cutmix switch, generalised).

    The choice is one draw from `generator` per call; on a CUDA generator reading it back to the host is
    one synchronisation per batch, so give it a CPU generator when the images are on a GPU. Each chosen
    mixer still draws from its own generator (pass the same one to all to have a single seed). The
    batch-level "mix at all" probability stays with each mixer's `prob`, or add NoMix to the list. Candidates
    that need the model (ManifoldMixup, TransMix) are chosen through `augment.mixed_forward` (its `forward`).

    Args:
        mixers: the candidate mixers, all with the same num_classes.
        probs: selection probabilities, one per mixer, >= 0, summing to 1.
        generator: torch.Generator for the choice.
    """

    def __init__(self, mixers: list, probs: list[float], *, generator: torch.Generator | None = None) -> None:
        if len(mixers) == 0 or len(mixers) != len(probs):
            raise ArgError("probs", f"need one probability per mixer, got {len(mixers)} mixers and probs={probs!r}")
        for p in probs:
            check_prob(p, "each of probs", arg="probs")
        if abs(sum(probs) - 1.0) > 1e-6:
            raise ArgError("probs", f"probs must sum to 1, got {probs!r} (sum {sum(probs)})")
        classes = {m.num_classes for m in mixers}
        if len(classes) != 1:
            raise ValueError(f"all mixers must have the same num_classes, got {sorted(classes)}")
        self.mixers, self.probs = list(mixers), [float(p) for p in probs]
        self.num_classes = classes.pop()
        self.generator = private_generator() if generator is None else check_generator(generator)
        total = sum(self.probs)
        self._cumulative = [c / total for c in itertools.accumulate(self.probs)]  # last is exactly 1

    @property
    def needs_model(self) -> bool:
        return any(needs_model(m) for m in self.mixers)

    def __call__(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        return self._choose()(images, labels)

    def forward(self, model, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """The chosen mixer's training forward pass (augment.mixed_forward), for model-aware candidates too."""
        return mixed_forward(self._choose(), model, images, labels)

    def check_model(self, model) -> None:
        for mixer in self.mixers:
            check_model(mixer, model)

    def _choose(self):
        fold_worker_seed(self.generator)
        u = torch.rand((), generator=self.generator, device=self.generator.device, dtype=torch.float64)
        return self.mixers[bisect.bisect_right(self._cumulative, float(u))]  # u < 1, so never past the last


class FMix(_PairMixer):
    """FMix (Harris et al., "FMix: Enhancing Mixed Sample Data Augmentation", arXiv 2002.12047).

    Like CutMix, but the region taken from the partner is a random low-frequency shape: a Fourier-space
    noise image with decay power δ is thresholded so that the pasted area is 1 − λ, λ ~ Beta(alpha, alpha)
    (up to one pixel; λ is recomputed from the mask, so targets match the pixels exactly). Pairing rule:
    random perfect matching of the batch, odd one out unmixed. λ is the weight of the own image and label.

    Args:
        num_classes: number of classes.
        alpha: Beta concentration, > 0 (the paper uses 1.0).
        prob: probability that a batch / pair / sample (per `mode`) is mixed at all.
        mode: "batch" (one mask for the batch, as in the paper's code), "pair", or "elem" (one per sample).
        decay_power: δ, frequency decay of the noise (paper: 3.0); larger is smoother.
        max_soft: width of a soft, linearly ramped mask edge as a fraction of pixels (paper: 0 = hard mask).
        generator: torch.Generator all draws come from.
    """

    def __init__(
        self,
        num_classes: int,
        *,
        alpha: float = 1.0,
        prob: float = 1.0,
        mode: str = "batch",
        decay_power: float = 3.0,
        max_soft: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(num_classes, alpha=alpha, prob=prob, mode=mode, generator=generator)
        if (
            isinstance(decay_power, bool)
            or not isinstance(decay_power, (int, float))
            or not 0 < decay_power < float("inf")
        ):
            raise ArgError("decay_power", f"decay_power must be a number > 0, got {decay_power!r}")
        self.decay_power = float(decay_power)
        self.max_soft = check_prob(max_soft, "max_soft")

    def _mix(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        b, _, h, w = images.shape
        partners, masks = sample_fmix(
            b,
            h,
            w,
            alpha=self.alpha,
            prob=self.prob,
            mode=self.mode,
            decay_power=self.decay_power,
            max_soft=self.max_soft,
            dtype=images.dtype if images.is_floating_point() else torch.bool,  # float: no slow bool kernels
            generator=self.generator,
        )
        partners, masks = partners.to(images.device), masks.to(images.device)
        lam = 1.0 - masks.mean(dim=(1, 2, 3), dtype=torch.float32)
        return F.paste(images, partners, masks), F.pair_targets(labels, partners, lam, self.num_classes)
