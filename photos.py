"""Your own digit, photographed: MNIST test digits made to look like phone photos of handwriting on paper,
under one condition at a time, read back by predict.to_mnist and the final model. Writes results/photos.json,
the table in the README's own-digit section (between PHOTOS_START and PHOTOS_END) and images/sample_photo.jpg:

    make train                 # once: checkpoints/final.pt
    python photos.py           # 250 digits per condition, about a minute on one core

Every photo has what a phone photo has: a page of 250-450 px with the digit 60-150 px across, off-centre,
turned by up to 4 degrees, a blur of about a pixel, sensor noise and JPEG quality 70. Each condition adds one
thing to that (the last adds four); "clean scan" is tests/scanned_digit.py's scan, as before photos were read.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import cli

if __name__ == "__main__":
    cli.one_line_on_ctrl_c("photos.py")

import numpy as np
import torch
from PIL import Image

import mnist
import predict
import utils
from train import Parser

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "tests"))
from scanned_digit import mnist_pixels, scanned  # noqa: E402  (the tests' scan, shared, not repeated)

RESULTS = ROOT / "results" / "photos.json"
SAMPLE = ROOT / "images" / "sample_photo.jpg"
PHOTOS_START = "<!-- photos:start (written by `python photos.py` from results/photos.json) -->"
PHOTOS_END = "<!-- photos:end -->"
# Each condition: what it adds to every photo's page size, offset, turn, blur, noise and JPEG.
CONDITIONS = {
    "clean scan": "tests/scanned_digit.py: dark on an even page, no blur, PNG",
    "plain page": "blue-black ink on a white page in even light",
    "light falling to half": "the page's light falls to half across the frame",
    "soft shadow": "a shadow with a soft edge, half as bright, across part of the page",
    "ruled lines": "light-blue lines every ~35 px at 75 % of the page's brightness",
    "squared paper": "a grid every 25-35 px at 75 % of the page's brightness",
    "grey pencil": "pencil instead of ink: about half the contrast",
    "all at once": "falling light, a shadow, squared paper and pencil together",
}
PAPER = np.array([0.93, 0.92, 0.88])          # reflectance per RGB channel, a slightly warm white
BLUE_BLACK = np.array([0.12, 0.14, 0.32])     # a ballpoint's ink: about 15 % of the page's brightness
PENCIL = np.array([0.55, 0.55, 0.57])         # graphite: about 55 %
LINE_BLUE = np.array([0.62, 0.76, 0.93])      # printed lines: about 75 %
LIGHT = 245                                   # grey level of the brightest light on white paper
TEST_DIGITS = 10_000                          # MNIST's test set, where the digits are picked from


def printed_lines(height: int, width: int, spacing: float, angle: float, rng, grid: bool) -> np.ndarray:
    """Antialiased printed lines 1.5 px wide (0-1), every `spacing` px, turned by `angle` (radians), and the
    perpendicular ones too if `grid`."""
    rows, cols = np.indices((height, width), dtype=np.float64)
    across = [rows * np.cos(angle) - cols * np.sin(angle)] + ([cols * np.cos(angle) + rows * np.sin(angle)]
                                                            if grid else [])
    lines = np.zeros((height, width))
    for position in across:
        distance = np.abs((position - rng.uniform(0, spacing)) % spacing - spacing / 2) - spacing / 2
        lines = np.maximum(lines, np.clip(1.25 - np.abs(distance), 0, 1))
    return lines


def light_falling(height: int, width: int, rng, low: float = 0.5) -> np.ndarray:
    """The light on the page, 1 on one side falling linearly to `low` on the other, in a random direction."""
    angle = rng.uniform(0, 2 * np.pi)
    rows, cols = np.indices((height, width), dtype=np.float64)
    along = cols * np.cos(angle) + rows * np.sin(angle)
    return 1 - (1 - low) * (along - along.min()) / np.ptp(along)


def soft_shadow(height: int, width: int, rng, depth: float = 0.5) -> np.ndarray:
    """The light under a soft shadow: `depth` of it on one side of a random edge through the middle of the
    page, the edge blurred over about a tenth of the page."""
    angle = rng.uniform(0, 2 * np.pi)
    rows, cols = np.indices((height, width), dtype=np.float64)
    centre = rng.uniform(0.3, 0.7, 2) * (width, height)
    signed = (cols - centre[0]) * np.cos(angle) + (rows - centre[1]) * np.sin(angle)
    softness = 0.05 * max(height, width)
    return 1 - (1 - depth) / (1 + np.exp(-signed / softness))


def photo_like(pixels: np.ndarray, rng: np.random.Generator, condition: str) -> Image.Image:
    """`pixels` (a 28 x 28 uint8 MNIST digit, ink bright) as a phone photo of it written on paper under
    `condition` (a key of CONDITIONS), opened again from a JPEG of quality 70 (a scan for "clean scan")."""
    import cv2
    if condition == "clean scan":
        return scanned(pixels, rng)
    everything = condition == "all at once"
    height, width = (int(n) for n in rng.integers(250, 451, 2))
    rows, cols = np.flatnonzero(pixels.any(1)), np.flatnonzero(pixels.any(0))
    zoom = rng.uniform(60, 150) / max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)
    side = min(round(28 * zoom), height - 10, width - 10)
    digit = np.asarray(Image.fromarray(pixels).resize((side, side), Image.Resampling.BICUBIC)) / 255
    ink = np.zeros((height, width))
    top, left = int(rng.integers(5, height - side - 4)), int(rng.integers(5, width - side - 4))  # off-centre
    ink[top:top + side, left:left + side] = np.clip(digit, 0, 1)
    angle = rng.uniform(-4, 4)  # the phone held a little askew turns the page, its lines and the digit alike
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1)
    ink = cv2.warpAffine(ink, turn, (width, height))
    reflectance = np.broadcast_to(PAPER, (height, width, 3)).copy()
    if condition in ("ruled lines", "squared paper") or everything:
        grid = condition != "ruled lines"
        lines = printed_lines(height, width, rng.uniform(25, 35) if grid else rng.uniform(32, 38),
                              np.deg2rad(angle), rng, grid)
        reflectance *= 1 - lines[..., None] * (1 - LINE_BLUE)
    colour = PENCIL if condition == "grey pencil" or everything else BLUE_BLACK
    reflectance *= 1 - ink[..., None] * (1 - colour)
    light = np.ones((height, width))
    if condition == "light falling to half" or everything:
        light *= light_falling(height, width, rng)
    if condition == "soft shadow" or everything:
        light *= soft_shadow(height, width, rng)
    rgb = cv2.GaussianBlur(LIGHT * reflectance * light[..., None], (0, 0), 1.0)  # focus and the lens
    rgb += rng.normal(0, 3, rgb.shape) + rng.normal(0, 0.02, rgb.shape) * rgb  # read noise and shot noise
    buffer = io.BytesIO()
    Image.fromarray(np.clip(np.round(rgb), 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=70)
    return Image.open(io.BytesIO(buffer.getvalue()))


def measure(net, data: mnist.MNISTData, digits: int = 250, seed: int = 0,
            conditions=tuple(CONDITIONS)) -> dict:
    """Per condition: how many of `digits` MNIST test digits (the same ones, picked with `seed`) the net reads
    right from their photos, how many were refused and why; `mnist`: its accuracy on the digits themselves."""
    pick = np.random.default_rng(seed).choice(len(data.test_y), digits, replace=False)
    labels, originals = data.test_y[torch.from_numpy(pick)], mnist_pixels(data, pick)
    mnist_right = utils.predict_probabilities(net, data.test_x[torch.from_numpy(pick)]).argmax(1) == labels
    results = {"digits": digits, "seed": seed, "mnist": round(mnist_right.float().mean().item(), 4),
               "conditions": {}}
    for number, condition in enumerate(conditions):
        rng = np.random.default_rng([seed, number])
        x, read, refusals = [], [], {}
        for i, pixels in enumerate(originals):
            try:
                x.append(predict.to_mnist(photo_like(pixels, rng, condition), data.mean, data.std))
                read.append(i)
            except ValueError as error:
                reason = str(error).split(":")[0]
                refusals[reason] = refusals.get(reason, 0) + 1
        predicted = utils.predict_probabilities(net, torch.cat(x)).argmax(1) if x else torch.empty(0)
        right = int((predicted == labels[read]).sum())
        results["conditions"][condition] = {"accuracy": round(right / digits, 4),
                                            "refused": digits - len(read), "refusals": refusals}
    return results


# Run in a fresh process per file: the fastest of three readings (the first pays for imports) and the most
# memory the readings took above what the process held before them (Linux: its resident peak, reset first;
# elsewhere the process's whole peak).
READ_COST = """
import json, resource, sys, time
import torch
torch.set_num_threads(1)
from PIL import Image
import predict

def resident_mb(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field)) / 1024

def read():
    start = time.perf_counter()
    with Image.open(sys.argv[1]) as image:
        predict.to_mnist(image, 0.0, 1.0)
    return time.perf_counter() - start

read()
try:
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # the resident peak starts again from here
    held = resident_mb("VmRSS:")
except OSError:
    held = None
seconds = min(read() for _ in range(3))
if held is None:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
else:
    peak = resident_mb("VmHWM:") - held
print(json.dumps({"seconds": seconds, "peak_mb": peak}))
"""


def big_photo_cost(pixels: np.ndarray, size=(8000, 6000)) -> dict:
    """What reading a phone JPEG of `size` (48 megapixels by default, with sensor noise so that it is as large
    a file as a phone's) adds to reading a small photo of the same page of `pixels` (an MNIST digit): seconds
    and peak MB, each file read in a process of its own."""
    small = photo_like(pixels, np.random.default_rng(0), "ruled lines").convert("RGB")
    big = np.asarray(small.resize(size, Image.Resampling.BICUBIC)).copy()
    noise = np.random.default_rng(0)
    for top in range(0, size[1], 500):  # a band at a time: the photo alone is 144 MB
        band = big[top:top + 500].astype(np.int16) + noise.integers(-6, 7, big[top:top + 500].shape, np.int16)
        big[top:top + 500] = np.clip(band, 0, 255)
    costs = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, image in (("small", small), ("big", Image.fromarray(big))):
            path = Path(folder) / f"{name}.jpg"
            image.save(path, quality=90)
            run = subprocess.run([sys.executable, "-c", READ_COST, str(path)], cwd=ROOT, capture_output=True,
                                 text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
            costs[name] = json.loads(run.stdout)
    return {"size": list(size), "small_size": list(small.size),
            "adds_seconds": round(costs["big"]["seconds"] - costs["small"]["seconds"], 3),
            "adds_mb": round(costs["big"]["peak_mb"] - costs["small"]["peak_mb"]),
            "reading_mb": {name: round(cost["peak_mb"]) for name, cost in costs.items()}}


def readme_table(results: dict) -> str:
    """The README's table of `results` (what `measure` returns)."""
    lines = [f"| condition ({results['digits']} MNIST test digits each) | read right | refused |",
             "| --- | ---: | ---: |"]
    for condition, row in results["conditions"].items():
        why = ", ".join(f"{n} {reason}" for reason, n in row["refusals"].items())
        lines.append(f"| {condition}: {CONDITIONS[condition]} | {100 * row['accuracy']:.1f} % | "
                     f"{row['refused']}{f' ({why})' if why else ''} |")
    lines.append(f"| the same digits as MNIST gives them (28 × 28) | {100 * results['mnist']:.1f} % | – |")
    big = results["big_photo"]
    (width, height), (small_width, small_height) = big["size"], big["small_size"]
    peak = big["reading_mb"]
    lines.append("\n" + textwrap.fill(
        f"A {width * height / 1e6:.0f}-megapixel JPEG ({width} × {height}) adds {big['adds_seconds']:.2f} s "
        f"and {big['adds_mb']} MB of peak memory to reading a {small_width} × {small_height} photo of the "
        f"same page (one core; the memory the reading itself takes at its peak: {peak['small']} MB for the "
        f"small photo, {peak['big']} MB for the big one).", 110))
    return "\n".join(lines)


def write_readme_table(results: dict, readme: str | Path = ROOT / "README.md") -> None:
    """Rewrite the table between PHOTOS_START and PHOTOS_END in `readme`, and nothing else."""
    readme = Path(readme)
    head, rest = readme.read_text().split(PHOTOS_START, 1)
    tail = rest.split(PHOTOS_END, 1)[1]
    readme.write_text(f"{head}{PHOTOS_START}\n{readme_table(results)}\n{PHOTOS_END}{tail}")


def main(argv=None) -> int:
    p = Parser(prog="photos.py", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
               description="Read photo-like MNIST test digits under each condition; write "
                           "results/photos.json, the README's table and images/sample_photo.jpg.")
    p.add_argument("--checkpoint", default=predict.DEFAULT_CHECKPOINT,
                   help="checkpoint written by `make train`")
    p.add_argument("--digits", type=int, default=250, help="MNIST test digits per condition")
    p.add_argument("--seed", type=int, default=0, help="picks the digits and draws the photos")
    p.add_argument("--data-dir", default="data", help="where MNIST/raw/ lives or is fetched to")
    args = p.parse_args(argv)
    if not 1 <= args.digits <= TEST_DIGITS:
        p.error(f"--digits must be from 1 to {TEST_DIGITS:,} (MNIST's test set), got {args.digits}")
    torch.set_num_threads(1)  # small batches: one thread is as fast, and leaves the other core free
    try:
        for path in (RESULTS, ROOT / "README.md", SAMPLE):  # before the minute of reading, not after it
            utils.check_output(path)
        net, checkpoint = predict.load_checkpoint(args.checkpoint)
        data = mnist.load_mnist(args.data_dir, "cpu", quiet=True)
    except (ValueError, mnist.DataError) as error:
        print(f"photos.py: error: {error}", file=sys.stderr)
        return 1
    first = mnist_pixels(data, [0])[0]  # a 7
    results = {"checkpoint": str(args.checkpoint), **measure(net, data, args.digits, args.seed),
               "big_photo": big_photo_cost(first)}
    utils.write_json(RESULTS, results)
    write_readme_table(results)
    photo_like(first, np.random.default_rng(0), "all at once").save(SAMPLE, quality=90)
    print(readme_table(results))
    print(f"wrote {RESULTS.relative_to(ROOT)}, the README's table and {SAMPLE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
