"""MNIST digits rendered as a person would scan or photograph them: dark ink on light paper, enlarged 4-8
times (each direction ±5 % on its own), off-centre on a larger page, with paper grain. The
tests feed these to predict.to_mnist; run as a script it writes the README's sample, images/sample_digit.png:

    python tests/scanned_digit.py      # test digit 0 of MNIST (a 7), on a 200 x 240 page
"""
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "images" / "sample_digit.png"
PAPER, INK = 232, 40  # grey levels of the page and of the darkest stroke


def scanned(pixels: np.ndarray, rng: np.random.Generator, page_size: tuple[int, int] | None = None,
            rgba: bool = False) -> Image.Image:
    """`pixels` (a 28 x 28 uint8 MNIST digit, ink bright) as a scan: an "L" image, dark on light, or with
    `rgba` blue ink on a transparent page (alpha = ink). `page_size` (width, height) defaults to a random
    margin of 10-60 px around the enlarged digit."""
    zoom = rng.uniform(4, 8)
    size = (round(28 * zoom * rng.uniform(0.95, 1.05)), round(28 * zoom * rng.uniform(0.95, 1.05)))
    ink = np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BICUBIC), dtype=np.float64) / 255
    width, height = page_size or (size[0] + int(rng.integers(20, 120)), size[1] + int(rng.integers(20, 120)))
    left, top = int(rng.integers(0, width - size[0] + 1)), int(rng.integers(0, height - size[1] + 1))
    page = np.zeros((height, width))
    page[top:top + size[1], left:left + size[0]] = np.clip(ink, 0, 1)
    if rgba:
        colour = np.broadcast_to(np.array([20, 30, 110], np.uint8), (height, width, 3))
        alpha = np.round(255 * page).astype(np.uint8)[..., None]
        return Image.fromarray(np.concatenate([colour, alpha], axis=2))
    grey = PAPER - (PAPER - INK) * page + rng.normal(0, 4, page.shape)  # paper grain: sigma 4 grey levels
    return Image.fromarray(np.clip(np.round(grey), 0, 255).astype(np.uint8))


def mnist_pixels(data, indices) -> np.ndarray:
    """The MNIST test digits `indices` of `data` (a mnist.MNISTData) as the uint8 28 x 28 images they were
    normalised from, (N, 28, 28)."""
    levels = data.test_x[torch.as_tensor(indices)][:, 0].cpu() * data.std + data.mean
    return np.clip(np.round(levels.numpy() * 255), 0, 255).astype(np.uint8)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    import mnist

    digit = mnist_pixels(mnist.load_mnist(ROOT / "data", quiet=True), [0])[0]
    scanned(digit, np.random.default_rng(0), page_size=(200, 240)).save(SAMPLE)
    print(f"wrote {SAMPLE.relative_to(ROOT)}")
