"""Mixed-sample data augmentation as plain callables: `images, targets = mixer(images, labels)`.

Pure torch (no Hydra, no training code), usable in any training loop::

    from augment import CutMix, mixed_forward
    mix = CutMix(num_classes=10, alpha=1.0, prob=0.5, mode="elem", generator=torch.Generator().manual_seed(0))
    logits, targets = mixed_forward(mix, model, images, labels)  # = model(mixed images), targets
    loss = torch.sum(-targets * torch.log_softmax(logits, dim=1), dim=1).mean()

`mixed_forward` is the one training-step contract: image mixers mix and then call the model; the mixers that need
the model (ManifoldMixup, TransMix: `augment.contract`) run the forward pass themselves. `MixUntil` stops any
mixer after an epoch. `METHODS` maps config names to the image mixers' classes, `MODEL_METHODS` to the
model-aware ones; `augment.functional` holds the batch-level building
blocks and `augment.dense` the CutMix variants for segmentation and detection.
"""

from augment.contract import check_model, mixed_forward, needs_model
from augment.manifold import ManifoldMixup
from augment.mix import CutMix, FMix, MixChoice, Mixup, NoMix
from augment.patch_mixers import ResizeMix, SaliencyMix
from augment.regional import RICAP, Cutout
from augment.schedule import MixUntil, set_epoch
from augment.transmix import TransMix

METHODS = {
    "none": NoMix,
    "cutout": Cutout,
    "mixup": Mixup,
    "cutmix": CutMix,
    "fmix": FMix,
    "ricap": RICAP,
    "resizemix": ResizeMix,
    "saliencymix": SaliencyMix,
}
# The methods that need the model (augment.contract.ModelMixer): called through mixed_forward, never on images alone.
MODEL_METHODS = {
    "manifold_mixup": ManifoldMixup,
    "transmix": TransMix,
}

__all__ = [
    "METHODS",
    "MODEL_METHODS",
    "RICAP",
    "CutMix",
    "Cutout",
    "FMix",
    "ManifoldMixup",
    "MixChoice",
    "MixUntil",
    "Mixup",
    "NoMix",
    "ResizeMix",
    "SaliencyMix",
    "TransMix",
    "check_model",
    "mixed_forward",
    "needs_model",
    "set_epoch",
]
