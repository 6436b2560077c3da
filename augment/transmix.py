"""TransMix: CutMix for vision transformers, the label weights read from the class token's attention."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from augment import functional as F
from augment.contract import ModelMixer, unwrap


def last_attention(model: nn.Module) -> tuple[nn.Module, tuple[int, int], int]:
    """(the last block's attention module, the patch size (h, w), the number of prefix tokens) of a timm
    VisionTransformer; ValueError naming the model when it has no class token or no such attention."""
    net = unwrap(model)
    blocks = getattr(net, "blocks", None)
    attn = getattr(blocks[-1], "attn", None) if isinstance(blocks, nn.Sequential) and len(blocks) else None
    patch = getattr(getattr(net, "patch_embed", None), "patch_size", None)
    has_qk = attn is not None and all(hasattr(attn, a) for a in ("q_norm", "k_norm", "scale"))
    if getattr(net, "cls_token", None) is None or not has_qk or patch is None:
        raise ValueError(
            f"TransMix needs a vision transformer with a class token and attention in its last block (a timm "
            f"VisionTransformer: cls_token, patch_embed, blocks[-1].attn.q_norm/k_norm); {type(net).__name__} "
            "has none"
        )
    return attn, tuple(patch), int(net.num_prefix_tokens)


def class_attention(q: Tensor, k: Tensor, scale: float, prefix: int) -> Tensor:
    """(B, patches): the class token's attention to each patch token, softmax(q k^T · scale) of the class row
    only, averaged over heads (q, k: (B, heads, tokens, head_dim), class token first), in float32."""
    row = (q[:, :, :1].float() * scale) @ k.float().transpose(-2, -1)  # (B, heads, 1, tokens)
    return row.softmax(dim=-1).mean(dim=1)[:, 0, prefix:]


class TransMix(ModelMixer):
    """TransMix (Chen et al., "TransMix: Attend to Mix for Vision Transformers", CVPR 2022).

    The images are mixed as in CutMix (pairing rule: a random perfect matching, odd one out unmixed; box side
    ratios √(1 − λ), λ ~ Beta(alpha, alpha)), but the box is drawn on the patch grid, so it covers whole
    patches. The label weights come from the same forward pass: A, the class token's attention to the patch
    tokens in the last block (softmax of q k^T / √d, averaged over heads), gives the partner's label the
    weight Σ_{pasted patches} A / Σ_{all patches} A and the own label the rest, so the weights sum to 1.
    q and k are captured by forward hooks on the block's q_norm and k_norm (timm's fused attention returns no
    weights) and the class row is recomputed: one (tokens × head_dim) product per head, outside autograd (the
    weights are label constants, as in the paper's code). A sample not mixed keeps weight 1.

    Args:
        num_classes: number of classes.
        alpha: Beta concentration, > 0 (the paper follows DeiT's CutMix: 1.0).
        prob: probability that a batch / pair / sample (per `mode`) is mixed at all.
        mode: "batch" (one box per batch, as in the paper), "pair" or "elem".
        generator: torch.Generator all draws come from.
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

    def check_model(self, model: nn.Module) -> None:
        last_attention(model)

    def _forward(self, model: nn.Module, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        attn, (ph, pw), prefix = last_attention(model)
        b, _, h, w = images.shape
        if h % ph or w % pw:
            raise ValueError(f"TransMix: images of {h}x{w} px do not split into whole {ph}x{pw} patches")
        partners, boxes = F.sample_cutmix(
            b, h // ph, w // pw, alpha=self.alpha, prob=self.prob, mode=self.mode, generator=self.generator
        )
        partners, boxes = partners.to(images.device), boxes.to(images.device)
        patches = F.box_masks(boxes, h // ph, w // pw, dtype=torch.float32)  # (B, 1, grid h, grid w)
        pixels = patches.repeat_interleave(ph, dim=2).repeat_interleave(pw, dim=3)
        mask = pixels.to(images.dtype) if images.is_floating_point() else pixels.bool()
        captured = {}
        hooks = [
            attn.q_norm.register_forward_hook(lambda m, i, out: captured.__setitem__("q", out.detach())),
            attn.k_norm.register_forward_hook(lambda m, i, out: captured.__setitem__("k", out.detach())),
        ]
        try:
            logits = model(F.paste(images, partners, mask))
        finally:
            for hook in hooks:
                hook.remove()
        with torch.no_grad():
            weights = class_attention(captured["q"], captured["k"], float(attn.scale), prefix)
            pasted = (weights * patches.flatten(1)).sum(dim=1) / weights.sum(dim=1)
        return logits, F.pair_targets(labels, partners, 1.0 - pasted, self.num_classes)
