"""Read handwritten digits from image files with the trained model.

    make train                                   # once: trains the final model into checkpoints/final.pt
    python predict.py images/sample_digit.png    # per image: the digit, its probability and the top 3
    python predict.py --json a.png b.jpg         # one JSON list on stdout, in the order given

Any picture of one digit works: a scan or photo of dark ink on a light page (or light on dark), any size, PNG,
JPEG or any format PIL reads, transparent backgrounds included; utils.to_mnist makes it an MNIST-style digit.
An image that cannot be read is reported (with --json as {"path", "error"}) and the others are still
predicted; the exit status is 1 if any image failed. A missing or unusable checkpoint stops with one line on
stderr.
Parsing and printing only: the work is done by utils.py.
"""
from __future__ import annotations

import argparse
import json
import sys

import utils
from train import Parser

DEFAULT_CHECKPOINT = "checkpoints/final.pt"  # where `make train` saves the final model


def parse_args(argv=None) -> argparse.Namespace:
    p = Parser(prog="predict.py", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
               description="Predict the digit in each image with a checkpoint written by train.py --save.")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files, one digit each")
    p.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT, help="checkpoint written by `make train`")
    p.add_argument("--json", action="store_true", help="print one JSON list instead of a line per image")
    return p.parse_args(argv)


def predict_file(net, checkpoint: dict, path: str) -> dict:
    """{"path", "digit", "probability", "top3": [[digit, probability], ...]} for one image file, or
    {"path", "error"} saying what is wrong with it and what to do."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:  # PIL decodes lazily: truncated data fails inside to_mnist
            x = utils.to_mnist(image, checkpoint["mean"], checkpoint["std"])
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
        net, checkpoint = utils.load_checkpoint(args.checkpoint)
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
