"""Turn an uploaded PNG or JPEG into the 64 features the model was trained on.

scikit-learn's digits are 32x32 black-and-white scans cut into 8x8 blocks of 4x4 pixels, each feature
counting the inked pixels of its block: 0..16, ink high, paper 0 (white ink on black). So an image is made
grayscale, inverted when its background is light (dark ink on white paper), stretched so that paper is 0 and
the darkest ink full, padded to a square (keeping the digit's aspect), and each of the 8x8 cells becomes the
mean of its area, scaled to 0..16.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps

ACCEPTED_FORMATS = ("PNG", "JPEG")
CELLS = 8
WORK_SIZE = 64  # the image is first brought to at most 64x64: 8x8 cells of 8x8 pixels
_SIXTEEN_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")
_TRANSPARENT_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


class ImageRejected(ValueError):
    """The bytes are not a usable image; the message completes "images[i] ..." for the client."""


def digit_features(data: bytes, max_pixels: int) -> np.ndarray:
    """The 64 float32 features (0..16) of one image; raises ImageRejected with a reason to act on."""
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError:  # Pillow's own cap (far above ours) tripped while reading the header
        raise ImageRejected(f"has more than {max_pixels} pixels (MAX_IMAGE_PIXELS); scale it down") from None
    except Exception:  # Pillow signals an unknown or broken header with several exception types
        raise ImageRejected("is not a PNG or JPEG image") from None
    with image:
        width, height = image.size
        # The header alone gives the size: refuse a decompression bomb before a single pixel is decoded.
        if width * height > max_pixels:
            raise ImageRejected(
                f"is {width}x{height} = {width * height} pixels, over the limit of {max_pixels} "
                "(MAX_IMAGE_PIXELS); scale it down"
            )
        try:
            image.draft("L", (WORK_SIZE, WORK_SIZE))  # JPEG only: decode at a reduced scale, much faster
            gray = _grayscale(ImageOps.exif_transpose(image))
            small = gray.resize(_fit(gray.size), Image.Resampling.BOX, reducing_gap=3.0)
        except Exception as exc:  # truncated or corrupt pixel data: Pillow raises OSError, ValueError, ...
            raise ImageRejected(f"could not be decoded as {image.format} ({exc})") from None
    return _features(np.asarray(small, dtype=np.float32))


def _fit(size: tuple[int, int]) -> tuple[int, int]:
    """The size within WORK_SIZE x WORK_SIZE that keeps the aspect ratio (the long side becomes WORK_SIZE)."""
    width, height = size
    scale = WORK_SIZE / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _grayscale(image: Image.Image) -> Image.Image:
    if image.mode in _SIXTEEN_BIT_MODES:
        # Pillow's I;16 -> L conversion clips at 255 instead of scaling: scale 0..65535 to 0..255 ourselves,
        # as 32-bit float pixels (mode F) so that no precision is lost before the area averaging.
        return Image.fromarray(np.clip(np.asarray(image, dtype=np.float32) / 257.0, 0.0, 255.0))
    if image.mode in _TRANSPARENT_MODES or "transparency" in image.info:
        # Transparent areas are paper: a drawing canvas exports dark strokes on a transparent background.
        paper = Image.new("RGBA", image.size, (255, 255, 255, 255))
        paper.alpha_composite(image.convert("RGBA"))
        image = paper
    return image.convert("L")


def _features(pixels: np.ndarray) -> np.ndarray:
    """pixels: float32 grayscale, at most WORK_SIZE on each side -> 64 features 0..16."""
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    if np.median(border) > 127.5:  # light paper, dark ink: invert to the training data's white-on-black
        pixels = 255.0 - pixels
        border = 255.0 - border
    paper, ink = float(np.median(border)), float(pixels.max())
    if ink - paper < 1.0:  # a blank image: no ink at all
        return np.zeros(CELLS * CELLS, dtype=np.float32)
    pixels = np.clip((pixels - paper) / (ink - paper), 0.0, 1.0)
    square = np.zeros((WORK_SIZE, WORK_SIZE), dtype=np.float32)  # padding is paper
    height, width = pixels.shape
    top, left = (WORK_SIZE - height) // 2, (WORK_SIZE - width) // 2
    square[top : top + height, left : left + width] = pixels
    step = WORK_SIZE // CELLS
    cells = square.reshape(CELLS, step, CELLS, step).mean(axis=(1, 3))
    return (cells * 16.0).astype(np.float32).reshape(-1)
