"""Your own digit: any picture of one handwritten digit made an MNIST-style digit (`to_mnist`), the trained
net read back from its checkpoint (`load_checkpoint`), and the command line that puts the two together.

    make train                                   # once: trains the final model into checkpoints/final.pt
    python predict.py images/sample_digit.png    # per image: the digit, its probability and the top 3
    python predict.py --json a.png b.jpg         # one JSON list on stdout, in the order given

Any picture of one digit works: a scan, or a phone photo of paper in uneven light, ruled or squared, dark ink
on a light page (or light on dark), any size, PNG, JPEG or any format PIL reads (HEIC with pillow-heif),
transparent backgrounds included; `plot_steps(image)` shows how it was read. An image that cannot be read is
reported (with --json as {"path", "error"}) and the others are still predicted; the exit status is 1 if any
image failed. A missing or unusable checkpoint stops with one line on stderr.
"""
from __future__ import annotations

import argparse
import errno
import functools
import json
import math
import os
import re
import stat
import sys
import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path

import cli

if __name__ == "__main__":
    cli.one_line_on_ctrl_c("predict.py")

import numpy as np
import torch
import torch.nn as nn

import model
import plots
import utils
from train import Parser

DEFAULT_CHECKPOINT = "checkpoints/final.pt"  # where `make train` saves the final model
MNIST_BOX = 20           # MNIST scaled each digit so that its longer side is 20 px ...
MNIST_SIZE = 28          # ... and pasted it into 28 x 28 so that its centre of mass sits at pixel (14, 14)
MIN_INK_CONTRAST = 0.15  # ink differs from the page by at least this (0-1 scale), or it is too faint to read


def grey_levels(image) -> np.ndarray:
    """A PIL image of any mode as grey levels in [0, 1] (0 black), transparent parts laid on white paper."""
    from PIL import Image
    if image.mode.startswith("I") or image.mode == "F":  # 16/32-bit or float: keep the extra depth
        levels = np.asarray(image, dtype=np.float64)
        if not np.isfinite(levels).all():
            raise ValueError("the image holds pixels that are not numbers (NaN or infinite): save it again "
                             "as an 8- or 16-bit image")
        # Full scale: 16 bits for I;16, else the smallest common one that holds the values, else the largest
        # value (a 32-bit image beyond 16 bits has no common scale).
        full = 65535.0 if image.mode.startswith("I;16") else next(
            (f for f in (1.0, 255.0, 65535.0) if levels.max() <= f), levels.max())
        return np.clip(levels / full, 0, 1)
    if "A" in image.mode or "a" in image.mode or "transparency" in image.info:
        image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
    return np.asarray(image.convert("L"), dtype=np.float64) / 255


# ---- Reading a photo: reduce, flatten the page's light, threshold, drop printed lines, keep the digit ------
# OpenCV (opencv-python-headless) rather than scikit-image: one wheel that needs only numpy, and its
# morphology, Hough transform and connected components run in C on float32 and uint8 images, so a phone photo
# is read in milliseconds; Colab ships it too.
WORK_SIDE = 1000      # the photo is read at most this many px on its long side: enough to keep a pen's stroke
PAGE_KERNEL = 1 / 5   # the page's light is estimated over squares of this fraction of the long side
LINE_SPAN = 0.45      # a printed line crosses at least this fraction of the picture, a digit's stroke not
LINE_MIN_PX = 60      # ... and at least this many px: in a small picture (an MNIST-sized one) there are none
LINE_MAX_WIDTH = 5    # px at the reading size: a printed line is no wider, a stroke of that length is
LINE_TILT_DEG = 10    # ruled and squared lines lie within this many degrees of the picture's axes
MIN_DIGIT_PX = 12     # a digit smaller than this (at the reading size) has too few pixels to read
NEAREST_PART = 0.25   # parts of one digit lie within this share of its size (or two strokes) of each other
OTHER_DIGIT = 0.35    # another mark with this share of the digit's ink and half its height: a second digit
CUT_MARGIN = 0.5      # a digit against one side, with this share of its size of page on the other: cut off
NO_DIGIT = "no digit found: only printed lines and specks stand out from the page"
HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}


@dataclass
class Reading:
    """What `read_digit` saw at each step: the photo (grey, at reading size), the page with its light
    flattened (1 = page), the ink kept as the digit (0-1), the 28 x 28 digit (ink bright, 0-1), and the
    problem that stopped it (None when the digit was read)."""
    photo: np.ndarray
    page: np.ndarray | None = None
    ink: np.ndarray | None = None
    digit: np.ndarray | None = None
    problem: str | None = None


def reduced(image, side: int = WORK_SIDE):
    """`image` upright (its EXIF rotation applied), at most `side` px on its long side. A JPEG is decoded at
    1/2, 1/4 or 1/8 scale by the decoder itself (draft mode): a 48-megapixel photo is never held at full
    size."""
    from PIL import Image, ImageOps
    scale = side / max(image.size)
    if scale < 1 and image.format == "JPEG":
        image.draft("L", (int(image.size[0] * scale) + 1, int(image.size[1] * scale) + 1))
    try:
        image = ImageOps.exif_transpose(image)  # phone photos store their rotation in EXIF
    except Exception:  # PIL raises whatever its parser hits: struct.error, TypeError, ...
        raise OSError("its EXIF data, where a phone stores the photo's rotation, is damaged") from None
    scale = side / max(image.size)
    if scale < 1:
        size = (max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale)))
        image = image.resize(size, Image.Resampling.BOX, reducing_gap=2.0)
    return image


def quarter_size(grey: np.ndarray) -> tuple[np.ndarray, int]:
    """`grey` at a quarter of its size (where a page's light is cheap to estimate), and the odd side in px of
    the square, PAGE_KERNEL of its long side, that is wider than any stroke."""
    import cv2
    small = cv2.resize(grey, (max(1, grey.shape[1] // 4), max(1, grey.shape[0] // 4)),
                       interpolation=cv2.INTER_AREA)
    return small, max(3, int(PAGE_KERNEL * max(small.shape)) | 1)


def page_ratio(grey: np.ndarray) -> np.ndarray:
    """`grey` (dark ink on a light page) divided by the page's own local brightness, so that 1 is the page
    whatever the light falling on it, and ink is a fraction of the light around it. The local brightness is a
    grey closing (strokes narrower than its square are filled in with the page around them), at a quarter of
    the size where it is cheap, smoothed so that its squares do not show."""
    import cv2
    small, side = quarter_size(grey)
    light = cv2.morphologyEx(small, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (side, side)),
                             borderType=cv2.BORDER_REPLICATE)
    light = cv2.blur(light, (side // 2 | 1, side // 2 | 1), borderType=cv2.BORDER_REPLICATE)
    light = cv2.resize(light, grey.shape[::-1], interpolation=cv2.INTER_LINEAR)
    ratio = (grey + 0.02) / (light + 0.02)  # + 0.02: a black page is a page, not a page of ink
    return ratio / np.median(ratio)  # most of the picture is page: its typical pixel is 1


def ink_is_light(grey: np.ndarray) -> bool:
    """Whether the ink in `grey` is lighter than its page: what departs from the local median (the page, as
    long as ink covers less than half of the neighbourhood) by more than the page's own noise and shading
    departs more to the light side than to the dark."""
    import cv2
    small, side = quarter_size(grey)
    departure = small - cv2.medianBlur(np.round(small * 255).astype(np.uint8), side).astype(np.float32) / 255
    noise = 3 * 1.4826 * float(np.median(np.abs(departure)))
    light, dark = (float(np.clip(sign * departure - noise, 0, None).sum()) for sign in (1, -1))
    return light > dark


def printed_lines(marks: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """The printed horizontal lines that the Hough transform finds in `marks` (a mask of all that differs from
    the page, which holds the lines whole): lines across at least LINE_SPAN of the width, within LINE_TILT_DEG
    of horizontal, no wider than LINE_MAX_WIDTH. For each: the rows of a band around it (one column of rows
    for each column of the picture) and its width in px."""
    import cv2
    height, width = marks.shape
    tilt = np.deg2rad(LINE_TILT_DEG)
    found = cv2.HoughLines(marks.astype(np.uint8), 1, np.pi / 720, max(LINE_MIN_PX, int(LINE_SPAN * width)),
                           min_theta=np.pi / 2 - tilt, max_theta=np.pi / 2 + tilt)
    lines, left, columns = [], marks.copy(), np.arange(width)
    reach = np.arange(-LINE_MAX_WIDTH, LINE_MAX_WIDTH + 1)[:, None]  # rows either side: width, Hough's step
    for rho, theta in ([] if found is None else found[:300, 0]):  # strongest first; a page has a few dozen
        rows = np.clip(np.round((rho - columns * np.cos(theta)) / np.sin(theta)).astype(int) + reach,
                       0, height - 1)
        widths = left[rows, columns].sum(0)
        if not widths.any():  # a weaker duplicate of a line found already
            continue
        line_width = float(np.median(widths[widths > 0]))
        if line_width <= LINE_MAX_WIDTH:  # wider: a long straight stroke, or a shadow's edge, not printed
            lines.append((rows, line_width))
            clear_lines(np.zeros_like(left), left, lines[-1:])
    return lines


def clear_lines(ink: np.ndarray, marks: np.ndarray, lines: list[tuple[np.ndarray, float]]) -> None:
    """Take `lines` (see printed_lines) out of the masks `ink` and `marks`, in place: along each line only the
    columns where `marks` is as thin as the line, so a stroke that crosses or follows it is kept."""
    columns = np.arange(ink.shape[1])
    for rows, line_width in lines:
        widths = marks[rows, columns].sum(0)
        thin = (widths > 0) & (widths <= line_width + 1)
        ink[rows[:, thin], columns[thin]] = False
        marks[rows[:, thin], columns[thin]] = False


def digit_mask(ink: np.ndarray) -> tuple[np.ndarray, str | None]:
    """The digit's pixels in `ink` (a mask): the connected part with the most ink, favouring stroke-like
    parts near the middle and away from the edges, with the parts of the same digit near it; and the problem
    that keeps it from being read, if any."""
    import cv2
    count, labels, stats, centres = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    height, width = ink.shape
    left, top, wide, tall, area = (stats[1:, i] for i in range(5))
    # A picture of MNIST's size is a digit laid out already, and MNIST's own digits may touch its edge.
    laid_out = max(width, height) <= 2 * MNIST_SIZE
    off_centre = np.hypot(centres[1:, 0] / width - 0.5, centres[1:, 1] / height - 0.5) / np.hypot(0.5, 0.5)
    thickness = area / np.maximum(wide, tall)  # what is left of a printed line is long and thin
    on_edge = (left == 0) | (top == 0) | (left + wide == width) | (top + tall == height)
    score = area * (1 - 0.7 * off_centre) * np.minimum(1, thickness / 3) * np.where(on_edge, 0.3, 1)
    if not laid_out:
        score[on_edge & (thickness < 3)] = 0  # the end of a printed line, not a digit cut off
    if count == 1 or score.max() == 0:
        return np.zeros_like(ink), NO_DIGIT
    chosen = np.zeros(count - 1, bool)
    chosen[score.argmax()] = True
    stroke = thickness[score.argmax()]  # about a stroke's width (two, for a closed loop)
    while True:  # the parts of one digit: more than a speck, near the digit so far, off the picture's edge
        x0, y0 = left[chosen].min(), top[chosen].min()
        x1, y1 = (left + wide)[chosen].max(), (top + tall)[chosen].max()
        gap = max(NEAREST_PART * max(x1 - x0, y1 - y0), 2 * stroke)  # a broken stroke, from its first piece
        near = ((left < x1 + gap) & (left + wide > x0 - gap) & (top < y1 + gap) & (top + tall > y0 - gap)
                & (area >= 0.05 * area[chosen].max()) & ~on_edge)
        if not (near & ~chosen).any():
            break
        chosen |= near
    mask, size = np.isin(labels, 1 + np.flatnonzero(chosen)), max(x1 - x0, y1 - y0)
    if size < MIN_DIGIT_PX / 2:  # smaller than a stroke is wide in a readable digit: a speck
        return mask, NO_DIGIT
    if size < MIN_DIGIT_PX:
        return mask, (f"the digit is too small: {size} px across in a {width} x {height} px picture; "
                      "move closer, or crop the picture around it")
    others = (~chosen & (area >= OTHER_DIGIT * area[chosen].sum()) & (tall >= (y1 - y0) / 2)
              & (thickness >= 3) & ~on_edge)
    if others.any():
        return mask, (f"several digits: {others.sum() + 1} digit-sized marks; crop the picture to the one "
                      "digit to read")
    # Against a side of the frame with page showing on the opposite side, the digit was not cropped there: its
    # strokes run off the frame. Against a side with little page opposite, the picture was cropped close to
    # it, as people crop a photo to the digit: read.
    page = CUT_MARGIN * size
    cut = ((x0 == 0 and width - x1 > page) or (x1 == width and x0 > page)
           or (y0 == 0 and height - y1 > page) or (y1 == height and y0 > page))
    if cut and not laid_out:
        return mask, ("the digit is cut off at the edge of the picture: take it again with some page all "
                      "round the digit")
    return mask, None


def mnist_layout(ink: np.ndarray) -> np.ndarray:
    """`ink` (0-1, ink bright) as MNIST laid its digits out: cropped to the ink, the longer side scaled to
    20 px, pasted into 28 x 28 with the centre of mass at the centre. float32, (28, 28)."""
    from PIL import Image
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].astype(np.float32)
    scale = MNIST_BOX / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    digit = np.clip(np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.LANCZOS)), 0, 1)
    # Integer shifts, as MNIST's own centres of mass sit within half a pixel of (14, 14).
    centre = [(coordinates * digit).sum() / digit.sum() for coordinates in np.indices(digit.shape)]
    top, left = (int(np.clip(round(MNIST_SIZE / 2 - c), 0, MNIST_SIZE - side))
                 for c, side in zip(centre, digit.shape, strict=False))
    canvas = np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    canvas[top:top + digit.shape[0], left:left + digit.shape[1]] = digit
    return canvas


def read_digit(image) -> Reading:
    """The steps from a PIL image of one handwritten digit (a scan or a phone photo, any size and mode, dark
    ink on a light page or light on dark) to an MNIST-style digit; see Reading. A picture with no readable
    digit comes back with `problem` set; image data that cannot be decoded raises (OSError and the like)."""
    import cv2
    photo = grey_levels(reduced(image)).astype(np.float32)
    ratio = page_ratio(1 - photo if ink_is_light(photo) else photo)  # from here on the ink is dark
    noise = 1.4826 * float(np.median(np.abs(ratio - 1)))  # the page's noise (robust standard deviation)
    reading = Reading(photo=photo, page=np.clip(ratio, 0, 1))
    contrast = 1 - reading.page
    # The 10th strongest pixel, not the strongest: a speck of dust or a hot pixel is not a digit.
    peak = float(np.partition(contrast.ravel(), -10)[-10]) if contrast.size >= 10 else float(contrast.max())
    if peak < max(6 * noise, 0.06):
        reading.problem = (f"no ink found: nothing in the picture stands out from the page (contrast "
                           f"{peak:.2f}), so there is no digit to read; check it is the image you meant")
        return reading
    if peak < MIN_INK_CONTRAST:
        reading.problem = (f"the digit is too faint: its ink differs from the page by {peak:.2f} (at least "
                           f"{MIN_INK_CONTRAST} is needed); write darker, or light the page more evenly")
        return reading
    # MNIST's stroke cores are saturated: the typical clearly inked pixel becomes 1 (the peak itself would
    # carry the noise on top of it and leave every stroke too faint).
    full = float(np.median(contrast[contrast > peak / 2]))
    marks = contrast > max(4 * noise, 0.06)     # all that differs from the page, printed lines whole
    ink = contrast > max(0.4 * full, 4 * noise)  # the threshold follows the ink's own contrast
    across, down = printed_lines(marks), printed_lines(marks.T)  # down: squared paper's columns, a margin
    for _ in range(2):  # where two lines cross, each is thin again once the other has gone: a second round
        clear_lines(ink, marks, across)
        clear_lines(ink.T, marks.T, down)
    mask, reading.problem = digit_mask(ink)
    # The strokes' antialiased edges, a pixel round the kept ink, come back; the rest of the page is 0.
    around = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    edges = around & (contrast > 0.2 * full)
    reading.ink = np.where(mask | edges, np.clip(contrast / full, 0, 1), 0).astype(np.float32)
    if reading.problem is None:
        reading.digit = mnist_layout(reading.ink)
    return reading


def to_mnist(image, mean: float, std: float) -> torch.Tensor:
    """One handwritten digit in a PIL image (see read_digit) made the way MNIST made its digits: ink bright on
    black, cropped to the ink, the longer side scaled to 20 px, pasted into 28 x 28 with the centre of mass at
    the centre. Returns a (1, 1, 28, 28) tensor normalised with (x - mean) / std. A picture with no readable
    digit raises ValueError saying what is wrong."""
    reading = read_digit(image)
    if reading.problem:
        raise ValueError(reading.problem)
    return as_input(reading, mean, std)


def as_input(reading: Reading, mean: float, std: float) -> torch.Tensor:
    """A read digit as the network's input: (1, 1, 28, 28), normalised with (x - mean) / std."""
    return ((torch.from_numpy(reading.digit) - mean) / std).view(1, 1, MNIST_SIZE, MNIST_SIZE)


def plot_steps(image) -> Reading:
    """The steps one picture (a path or a PIL image) goes through, side by side: the photo, the page with its
    light flattened, the ink kept as the digit, the 28 x 28 digit; the title says what was wrong, if anything.
    Returns the Reading."""
    import matplotlib.pyplot as plt
    from PIL import Image
    if isinstance(image, (str, Path)):
        heif_readable()
        with Image.open(image) as opened:
            reading = read_digit(opened)
    else:
        reading = read_digit(image)
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.4))
    steps = [("the photo (grey)", reading.photo), ("the page, light flattened", reading.page),
             ("the ink kept as the digit", reading.ink), ("the 28 × 28 digit", reading.digit)]
    for ax, (title, pixels) in zip(axes, steps, strict=False):
        if pixels is None:
            pixels = np.zeros((MNIST_SIZE, MNIST_SIZE))
        ax.imshow(pixels, cmap="gray", vmin=0, vmax=1)
        ax.set(xticks=[], yticks=[], title=title)
    fig.suptitle(textwrap.fill(reading.problem, 110) if reading.problem else "read: an MNIST-style digit")
    plots.show_figure(fig)
    return reading


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """The net a `train.py --save` checkpoint holds (in eval mode, on `device`) and the checkpoint. Only
    tensors and plain data are unpickled, so a file from elsewhere cannot run code; weights and statistics
    that are not finite numbers are refused. Errors: ValueError."""
    device = utils.pick_device(str(device))  # an unknown device is named as such, never blamed on the file
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no checkpoint at {path}: run `make train` first, "
                         "about two minutes on a 2-core CPU")
    retrain = "run `make train` to write a new one"
    try:  # onto the CPU: whatever goes wrong here is the file's doing, not the device's
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # zip, pickle and the safe unpickler each raise their own kind
        raise ValueError(f"{path} is not a checkpoint written by train.py --save ({type(error).__name__}): "
                         f"{retrain}") from None
    if not isinstance(checkpoint, dict) or not {"model", "state_dict", "mean", "std"} <= set(checkpoint):
        raise ValueError(f"{path} is not a checkpoint written by train.py --save (keys missing): {retrain}")
    name, weights = checkpoint["model"], checkpoint["state_dict"]
    if not isinstance(name, str) or name not in model.MODELS:
        raise ValueError(f"{path} holds model {name!r}, which model.py does not define (it has "
                         f"{', '.join(model.MODELS)}): {retrain}")
    mean_std = (checkpoint["mean"], checkpoint["std"])
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in mean_std):
        raise ValueError(f"{path} is not a checkpoint written by train.py --save (its mean and std are not "
                         f"numbers): {retrain}")
    if not all(math.isfinite(v) for v in mean_std) or mean_std[1] <= 0:
        raise ValueError(f"{path} holds mean {mean_std[0]} and std {mean_std[1]}, which cannot normalise "
                         f"an image (finite numbers, std above 0): {retrain}")
    if not isinstance(weights, dict) or not all(isinstance(w, torch.Tensor) for w in weights.values()):
        raise ValueError(f"{path} is not a checkpoint written by train.py --save (its weights are not "
                         f"tensors): {retrain}")
    if not all(torch.isfinite(w).all() for w in weights.values() if w.is_floating_point()):
        raise ValueError(f"{path} holds weights that are not finite numbers (NaN or infinite): the training "
                         "that wrote it diverged; train again with a lower learning rate (--lr)")
    net = model.MODELS[name]()
    try:
        net.load_state_dict(weights)
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
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads: each image is a batch of one, which more threads only slow down")
    return p.parse_args(argv)


@functools.cache
def heif_readable() -> bool:
    """Whether PIL can open HEIC/HEIF photos (an iPhone's default): yes once pillow-heif, where installed,
    has registered its opener."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    return True


def is_heif(path: str) -> bool:
    """Whether the file at `path` starts as a HEIC/HEIF file does (an ISO box "ftyp" with a HEIF brand)."""
    with open(path, "rb") as file:
        head = file.read(12)
    return head[4:8] == b"ftyp" and head[8:12] in HEIC_BRANDS


def not_a_file(path: str) -> str | None:
    """What keeps `path` from being an image file to open, or None if it is one: missing, a folder, a link
    that leads round in a loop, or something that is not a plain file (a FIFO would wait for a writer)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "no such file: check the path"
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "a symbolic link that leads round in a loop: point it at the image file"
        return f"cannot open it ({error.strerror}): check the path and its permissions"
    if stat.S_ISDIR(mode):
        return "a folder, not an image file: name the image files in it"
    if not stat.S_ISREG(mode):
        return "not a plain file (a pipe, socket or device): name an image file"
    return None


def predict_file(net, checkpoint: dict, path: str) -> dict:
    """{"path", "digit", "probability", "top3": [[digit, probability], ...]} for one image file, or
    {"path", "error"} saying what is wrong with it and what to do: whatever goes wrong with one image is
    that image's answer, never the others'."""
    from PIL import Image, UnidentifiedImageError

    heif_readable()
    problem = not_a_file(path)
    if problem:
        return {"path": path, "error": problem}
    try:
        with warnings.catch_warnings():
            # PIL only warns between its pixel limit and twice that: refused the same way as beyond it.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:  # PIL decodes lazily: truncated data fails inside to_mnist
                x = to_mnist(image, checkpoint["mean"], checkpoint["std"])
    except FileNotFoundError:
        return {"path": path, "error": "no such file: check the path"}
    except IsADirectoryError:
        return {"path": path, "error": "a folder, not an image file: name the image files in it"}
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        pixels = re.search(r"\((\d+) pixels\)", str(error))
        size = f"{int(pixels[1]) / 1e6:.0f} megapixels, " if pixels else ""
        return {"path": path, "error": f"too large to open safely ({size}PIL's limit is "
                                       f"{Image.MAX_IMAGE_PIXELS / 1e6:.0f}): save a smaller copy, e.g. "
                                       "4000 px on the long side, and try that"}
    except UnidentifiedImageError:
        if is_heif(path):
            return {"path": path, "error": "a HEIC photo (an iPhone's default), which PIL reads only with "
                                           "pillow-heif: `pip install pillow-heif`, or save it as JPEG "
                                           "(iPhone: Settings > Camera > Formats > Most Compatible)"}
        return {"path": path, "error": "not an image file PIL can read (PNG, JPEG, ...): check it is the "
                                       "picture you meant"}
    except (OSError, SyntaxError) as error:  # PIL raises both for truncated or damaged image data
        return {"path": path, "error": f"could not read the image ({error}): if it is truncated or damaged, "
                                       "save or export it again"}
    except ValueError as error:  # no readable digit (read_digit says why), or a mode PIL cannot convert
        return {"path": path, "error": str(error)}
    except Exception as error:  # PIL's decoders raise more kinds than these: still this image's one line
        return {"path": path, "error": f"could not read the image ({type(error).__name__}: {error}): if it "
                                       "is damaged, save or export it again"}
    probabilities, digits = utils.predict_probabilities(net, x)[0].topk(3)
    top3 = [[int(d), round(float(p), 4)] for d, p in zip(digits, probabilities, strict=False)]
    return {"path": path, "digit": top3[0][0], "probability": top3[0][1], "top3": top3}


def print_answer(p: dict, first: bool, as_json: bool) -> None:
    """One image's answer, printed at once: a line (errors on stderr), or with `as_json` the next entry of
    the JSON list on stdout (the list opened before the first)."""
    if as_json:
        print(("[" if first else ",\n") + json.dumps(p), end="", flush=True)
    elif "error" in p:
        print(f"{p['path']}: error: {p['error']}", file=sys.stderr, flush=True)
    else:
        top3 = ", ".join(f"{d} {100 * q:.1f} %" for d, q in p["top3"])
        print(f"{p['path']}: {p['digit']} ({100 * p['probability']:.1f} %)  top 3: {top3}", flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        device = utils.pick_device(args.device)
        utils.set_threads(args.threads)
        net, checkpoint = load_checkpoint(args.checkpoint, device)
    except ValueError as error:
        print(f"predict.py: error: {error}", file=sys.stderr)
        return 1
    failed = False
    for i, path in enumerate(args.images):  # each answer as soon as it is ready, not all at the end
        answer = predict_file(net, checkpoint, path)
        print_answer(answer, i == 0, args.json)
        failed |= "error" in answer
    if args.json:
        print("]")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
