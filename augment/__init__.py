"""Mixed-sample data augmentation as plain callables: `images, targets = mixer(images, labels)`.

Pure torch (no Hydra, no training code), usable in any training loop::

    from augment import CutMix
    mix = CutMix(num_classes=10, alpha=1.0, prob=0.5, mode="elem", generator=torch.Generator().manual_seed(0))
    images, targets = mix(images, labels)
    loss = torch.sum(-targets * torch.log_softmax(model(images), dim=1), dim=1).mean()

`METHODS` maps config names to classes; `augment.functional` holds the batch-level building blocks and
`augment.dense` the CutMix variants for segmentation and detection.
"""

from augment.mix import CutMix, FMix, MixChoice, Mixup, NoMix
from augment.patch_mixers import ResizeMix, SaliencyMix
from augment.regional import RICAP, Cutout

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

__all__ = ["METHODS", "RICAP", "CutMix", "Cutout", "FMix", "MixChoice", "Mixup", "NoMix", "ResizeMix", "SaliencyMix"]
