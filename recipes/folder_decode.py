"""One image file -> the picture a photo viewer shows, as an 8-bit PIL image in "RGB" or "L".

Users' folders hold every mode PIL can open, and `Image.convert("RGB")` alone gets several of them wrong:
- EXIF orientation (phone photos): applied (PIL.ImageOps.exif_transpose), so the picture is upright.
- 16-bit images ("I;16*", "I" from a 16-bit PNG): scaled to 8 bits (value / 257, rounded); convert() would clip
  every value above 255, turning a normal 16-bit photo nearly white.
- alpha ("RGBA", "LA", "PA", a palette with a transparent colour): composited over white. The colour stored under
  a transparent pixel is arbitrary (often black, sometimes left-over pixels the author erased), so dropping alpha
  would show that; white is what a viewer or a web page shows around a cut-out product photo.
- palette ("P"), CMYK, YCbCr, LAB, HSV and 1-bit: PIL's conversion to RGB (palette expanded, CMYK converted).
A grayscale target ("L", dataset.in_chans=1) converts the RGB picture with PIL's ITU-R 601 luma weights.
"""

from __future__ import annotations

import numpy as np

SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
BACKGROUND = (255, 255, 255)  # under transparent pixels: see the module docstring


def _eight_bit(image):
    """A 16-bit grayscale image as 8-bit "L", each value v -> round(v / 257) (65535 -> 255)."""
    from PIL import Image

    values = np.asarray(image, dtype=np.float64)
    return Image.fromarray(np.clip(np.rint(values / 257.0), 0, 255).astype(np.uint8), mode="L")


def _has_alpha(image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (image.mode == "P" and "transparency" in image.info)


def to_rgb(image):
    """Any PIL image as 8-bit "RGB" by the rules of the module docstring (orientation is the caller's)."""
    from PIL import Image

    if image.mode in SIXTEEN_BIT_MODES:
        image = _eight_bit(image)
    if _has_alpha(image):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def open_image(path, mode: str = "RGB"):
    """The file at `path` decoded in full (a truncated file raises here, not later) as 8-bit `mode` ("RGB" or
    "L"), upright. Raises OSError (or PIL's UnidentifiedImageError, an OSError) for a file PIL cannot read."""
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        image.load()
        upright = ImageOps.exif_transpose(image)
        rgb = to_rgb(upright)
    return rgb if mode == "RGB" else rgb.convert(mode)
