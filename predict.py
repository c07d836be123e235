"""Your own digit: any picture of one handwritten digit made an MNIST-style digit (`to_mnist`), the trained
net read back from its checkpoint (`load_checkpoint`), and the command line that puts the two together.

    make train                                   # once: trains the final model into checkpoints/final.pt
    python predict.py images/sample_digit.png    # per image: the digit, its probability and the top 3
    python predict.py --json a.png b.jpg         # one JSON list on stdout, in the order given

Any picture of one digit works: a scan or photo of dark ink on a light page (or light on dark), any size, PNG,
JPEG or any format PIL reads, transparent backgrounds included. An image that cannot be read is reported
(with --json as {"path", "error"}) and the others are still predicted; the exit status is 1 if any image
failed. A missing or unusable checkpoint stops with one line on stderr.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

import model
import utils
from train import Parser

DEFAULT_CHECKPOINT = "checkpoints/final.pt"  # where `make train` saves the final model
MNIST_BOX = 20           # MNIST scaled each digit so that its longer side is 20 px ...
MNIST_SIZE = 28          # ... and pasted it into 28 x 28 so that its centre of mass sits at pixel (14, 14)
MIN_INK_CONTRAST = 0.15  # ink differs from the page by at least this (0-1 scale), or the page counts as blank


def grey_levels(image) -> np.ndarray:
    """A PIL image of any mode as grey levels in [0, 1] (0 black), transparent parts laid on white paper."""
    from PIL import Image
    if image.mode.startswith("I") or image.mode == "F":  # 16/32-bit or float: keep the extra depth
        levels = np.asarray(image, dtype=np.float64)
        # Full scale: 16 bits for I;16, else the smallest common one that holds the values.
        full = 65535.0 if image.mode.startswith("I;16") else next(
            f for f in (1.0, 255.0, 65535.0) if levels.max() <= f)
        return np.clip(levels / full, 0, 1)
    if "A" in image.mode or "a" in image.mode or "transparency" in image.info:
        image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
    return np.asarray(image.convert("L"), dtype=np.float64) / 255


def to_mnist(image, mean: float, std: float) -> torch.Tensor:
    """One handwritten digit in a PIL image (any size and mode, dark ink on a light page or light on dark)
    made the way MNIST made its digits: ink bright on black, cropped to the ink, the longer side scaled to
    20 px, pasted into 28 x 28 with the centre of mass at the centre. Returns a (1, 1, 28, 28) tensor
    normalised with (x - mean) / std. A blank page raises ValueError."""
    from PIL import Image, ImageOps
    grey = grey_levels(ImageOps.exif_transpose(image))  # phone photos store their rotation in EXIF
    # The page is what most of the border shows; the ink pulls the mean away from it, towards the ink's side.
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    page = np.median(border)
    ink = np.clip(page - grey if grey.mean() < page else grey - page, 0, None)
    # The 10th strongest pixel, not the strongest: a speck of dust or a hot pixel is not a digit.
    peak = np.partition(ink.ravel(), -10)[-10] if ink.size >= 10 else ink.max()
    grain = 1.4826 * np.median(np.abs(border - page))  # the page's noise (robust standard deviation)
    if peak < max(MIN_INK_CONTRAST, 6 * grain):
        raise ValueError(f"no ink found: nothing in the image stands out from the page (contrast "
                         f"{peak:.2f}); write the digit darker or larger, or check it is the image you meant")
    # MNIST's stroke cores are saturated: the typical clearly inked pixel becomes 1 (the peak itself would
    # carry the noise on top of it and leave every stroke too faint).
    full = np.median(ink[ink > peak / 2])
    # Faint background (paper grain, shadows, JPEG noise) goes to 0; the strokes keep their antialiased edges.
    ink = np.where(ink > max(0.2 * full, 3 * grain), np.clip(ink / full, 0, 1), 0)
    # Crop to the pixels with two or more inked neighbours, so that isolated specks cannot stretch the box.
    padded, (height, width) = np.pad((ink > 0).astype(np.int32), 1), ink.shape
    inked_around = sum(padded[dy:dy + height, dx:dx + width] for dy in range(3) for dx in range(3))
    stroke = (ink > 0) & (inked_around >= 3)
    if not stroke.any():
        raise ValueError("no ink found: only isolated specks stand out from the page; write the digit larger")
    rows, cols = np.flatnonzero(stroke.any(1)), np.flatnonzero(stroke.any(0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].astype(np.float32)
    scale = MNIST_BOX / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    digit = np.clip(np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.LANCZOS)), 0, 1)
    # Integer shifts, as MNIST's own centres of mass sit within half a pixel of (14, 14).
    centre = [(coordinates * digit).sum() / digit.sum() for coordinates in np.indices(digit.shape)]
    top, left = (int(np.clip(round(MNIST_SIZE / 2 - c), 0, MNIST_SIZE - side))
                 for c, side in zip(centre, digit.shape))
    canvas = np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    canvas[top:top + digit.shape[0], left:left + digit.shape[1]] = digit
    return ((torch.from_numpy(canvas) - mean) / std).view(1, 1, MNIST_SIZE, MNIST_SIZE)


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """The net a `train.py --save` checkpoint holds (in eval mode, on `device`) and the checkpoint. Only
    tensors and plain data are unpickled, so a file from elsewhere cannot run code. Errors: ValueError."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no checkpoint at {path}: run `make train` first, "
                         "about two minutes on a 2-core CPU")
    retrain = "run `make train` to write a new one"
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # zip, pickle and the safe unpickler each raise their own kind
        raise ValueError(f"{path} is not a checkpoint written by train.py --save ({type(error).__name__}): "
                         f"{retrain}") from None
    if not isinstance(checkpoint, dict) or not {"model", "state_dict", "mean", "std"} <= set(checkpoint):
        raise ValueError(f"{path} is not a checkpoint written by train.py --save (keys missing): {retrain}")
    name = checkpoint["model"]
    if name not in model.MODELS:
        raise ValueError(f"{path} holds model {name!r}, which model.py does not define (it has "
                         f"{', '.join(model.MODELS)}): {retrain}")
    net = model.MODELS[name]()
    try:
        net.load_state_dict(checkpoint["state_dict"])
    except RuntimeError:  # model.py changed the layers since the checkpoint was written
        raise ValueError(f"{path}: its weights do not fit model.py's {name!r} any more: {retrain}") from None
    return net.to(device).eval(), checkpoint


def parse_args(argv=None) -> argparse.Namespace:
    p = Parser(prog="predict.py", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
               description="Predict the digit in each image with a checkpoint written by train.py --save.")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files, one digit each")
    p.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT, help="checkpoint written by `make train`")
    p.add_argument("--json", action="store_true", help="print one JSON list instead of a line per image")
    p.add_argument("--device", default="cpu",
                   help="cpu (a few images: quickest, nothing to copy), cuda, cuda:N, mps or auto")
    return p.parse_args(argv)


def predict_file(net, checkpoint: dict, path: str) -> dict:
    """{"path", "digit", "probability", "top3": [[digit, probability], ...]} for one image file, or
    {"path", "error"} saying what is wrong with it and what to do."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:  # PIL decodes lazily: truncated data fails inside to_mnist
            x = to_mnist(image, checkpoint["mean"], checkpoint["std"])
    except FileNotFoundError:
        return {"path": path, "error": "no such file: check the path"}
    except IsADirectoryError:
        return {"path": path, "error": "a folder, not an image file: name the image files in it"}
    except UnidentifiedImageError:
        return {"path": path, "error": "not an image file PIL can read (PNG, JPEG, ...): check it is the "
                                       "picture you meant"}
    except (OSError, SyntaxError) as error:  # PIL raises both for truncated or damaged image data
        return {"path": path, "error": f"could not read the image ({error}): if it is truncated or damaged, "
                                       "save or export it again"}
    except ValueError as error:  # a blank page, or a picture mode PIL cannot convert
        return {"path": path, "error": str(error)}
    probabilities, digits = utils.predict_probabilities(net, x)[0].topk(3)
    top3 = [[int(d), round(float(p), 4)] for d, p in zip(digits, probabilities)]
    return {"path": path, "digit": top3[0][0], "probability": top3[0][1], "top3": top3}


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        net, checkpoint = load_checkpoint(args.checkpoint, utils.pick_device(args.device))
    except ValueError as error:
        print(f"predict.py: error: {error}", file=sys.stderr)
        return 1
    predictions = [predict_file(net, checkpoint, path) for path in args.images]
    if args.json:
        print(json.dumps(predictions))
    else:
        for p in predictions:
            if "error" in p:
                print(f"{p['path']}: error: {p['error']}", file=sys.stderr)
            else:
                top3 = ", ".join(f"{d} {100 * q:.1f} %" for d, q in p["top3"])
                print(f"{p['path']}: {p['digit']} ({100 * p['probability']:.1f} %)  top 3: {top3}")
    return 1 if any("error" in p for p in predictions) else 0


if __name__ == "__main__":
    sys.exit(main())
