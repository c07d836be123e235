"""predict.to_mnist and predict.py: a digit scanned as a person would scan it reads as the MNIST digit it came
from, and every kind of bad input gets one line saying what to do, never a traceback. Only the first test
needs a trained net (marked slow: the session's one full training, conftest.trained_final); the rest use a
randomly initialised net, which is enough for the plumbing."""
import copy
import io
import json
import os
import re

import numpy as np
import pytest
import torch
from PIL import Image
from scanned_digit import mnist_pixels, scanned

import model
import predict
import train
import utils

MEAN, STD = 0.1307, 0.3081


def reopened(image: Image.Image, kind: str) -> Image.Image:
    """`image` written as a file of `kind` would be, then opened again."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90) if kind == "jpeg" else image.save(buffer, "PNG")
    buffer.seek(0)
    return Image.open(buffer)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["png", "jpeg", "rgba"])
def test_scanned_mnist_digits_get_the_prediction_of_the_original(trained_final, kind):
    # A fully trained net: after 1 epoch 2 % of its predictions flip when a digit moves by one pixel, after
    # 2 epochs 0.6 % of the scans of 1,000 test digits read differently, after 3 epochs 0.2-0.3 %.
    net, mnist = trained_final.net, trained_final.data
    rng = np.random.default_rng(0)
    pick = rng.choice(len(mnist.test_y), 500, replace=False)
    originals = mnist.test_x[torch.from_numpy(pick)]
    expected = utils.predict_probabilities(net, originals).argmax(1)
    pages = [reopened(scanned(p, rng, rgba=kind == "rgba"), kind) for p in mnist_pixels(mnist, pick)]
    x = torch.cat([predict.to_mnist(page, mnist.mean, mnist.std) for page in pages])
    same = (utils.predict_probabilities(net, x).argmax(1) == expected).float().mean().item()
    assert same >= 0.99, f"{kind}: {same:.2%} of the scanned digits keep the original's prediction"


# ---- to_mnist on synthetic digits (no dataset needed) ----------------------------------------------------

def drawn_digit(ink_bright: bool = False, size=(180, 220)) -> Image.Image:
    """A "7"-like figure drawn off-centre on a page with paper grain: dark on light unless `ink_bright`."""
    page = np.zeros(size[::-1])
    page[40:52, 30:120] = 1.0                              # the bar
    for row in range(52, 170):                              # the slanted stem, 12 px wide
        page[row, 110 - (row - 52) // 2: 122 - (row - 52) // 2] = 1.0
    grain = np.random.default_rng(0).normal(0, 4, page.shape)
    grey = (30 + 190 * page if ink_bright else 225 - 190 * page) + grain
    return Image.fromarray(np.clip(np.round(grey), 0, 255).astype(np.uint8))


def as_pixels(x: torch.Tensor) -> np.ndarray:
    return x[0, 0].numpy()  # with MEAN 0 and STD 1 these are ink levels in [0, 1]


def test_to_mnist_makes_an_mnist_digit_from_a_scan():
    x = predict.to_mnist(drawn_digit(), 0.0, 1.0)
    assert x.shape == (1, 1, 28, 28) and x.dtype == torch.float32
    pixels = as_pixels(x)
    assert pixels.min() == 0 and pixels.max() == 1  # ink bright on black, the strokes' cores saturated
    rows, cols = np.flatnonzero(pixels.any(1)), np.flatnonzero(pixels.any(0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 in (20, 21)  # antialiasing may add a faint row
    centre = [(coordinates * pixels).sum() / pixels.sum() for coordinates in np.indices(pixels.shape)]
    assert np.allclose(centre, 14, atol=0.5)
    assert torch.allclose(predict.to_mnist(drawn_digit(), MEAN, STD), (x - MEAN) / STD)


def test_light_ink_on_a_dark_page_gives_the_same_digit():
    dark_on_light, light_on_dark = (as_pixels(predict.to_mnist(drawn_digit(bright), 0, 1))
                                    for bright in (0, 1))
    assert np.abs(dark_on_light - light_on_dark).mean() < 0.01


def rgba_on_transparent(image: Image.Image) -> Image.Image:
    """Blue ink whose alpha is the ink, on a fully transparent page (what a drawing app exports)."""
    ink = 255 - np.asarray(image)
    colour = np.broadcast_to(np.array([20, 30, 110], np.uint8), ink.shape + (3,))
    return Image.fromarray(np.dstack([colour, ink]).astype(np.uint8))


@pytest.mark.parametrize("mode", ["RGB", "P", "LA", "RGBA-transparent", "I;16", "I", "F", "1"])
def test_every_image_mode_reads_as_the_grey_image_does(mode):
    grey = drawn_digit()
    if mode == "RGBA-transparent":
        image = rgba_on_transparent(grey)
    elif mode == "I;16":
        image = Image.fromarray(np.asarray(grey).astype(np.uint16) * 257)
    elif mode == "1":  # black and white, thresholded: dithering would print the paper grey as dots
        image = grey.convert("1", dither=Image.Dither.NONE)
    else:
        image = grey.convert(mode)
    difference = np.abs(as_pixels(predict.to_mnist(image, 0, 1)) - as_pixels(predict.to_mnist(grey, 0, 1)))
    assert difference.mean() < 0.03, mode


def test_an_mnist_style_digit_comes_back_as_it_went_in():
    once = as_pixels(predict.to_mnist(drawn_digit(), 0, 1))
    twice = as_pixels(predict.to_mnist(Image.fromarray(np.round(once * 255).astype(np.uint8)), 0, 1))
    assert np.abs(once - twice).mean() < 0.02


@pytest.mark.parametrize("page", ["white", "black", "grain", "speck"])
def test_a_blank_page_has_no_ink(page):
    rng = np.random.default_rng(0)
    grey = np.full((200, 160), 0 if page == "black" else 230, np.float64)
    if page in ("grain", "speck"):
        grey += rng.normal(0, 4, grey.shape)
    if page == "speck":
        grey[100, 80] = 0  # one speck of dust is not a digit
    image = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8))
    with pytest.raises(ValueError, match="no ink found"):
        predict.to_mnist(image, MEAN, STD)


# ---- predict.py: every bad input gets one clear line ----------------------------------------------------

def write_checkpoint(path, name="final"):
    net = utils.make_model("final", seed=0)
    utils.save_checkpoint(path, {"model": name, "state_dict": net.state_dict(), "mean": MEAN, "std": STD,
                                 "params": utils.count_params(net), "final_test_acc": 10.0, "seed": 0})
    return str(path)


@pytest.fixture
def checkpoint(tmp_path):
    return write_checkpoint(tmp_path / "final.pt")


@pytest.fixture
def digit_file(tmp_path):
    path = tmp_path / "digit.png"
    drawn_digit().save(path)
    return str(path)


def bad_image(tmp_path, problem: str) -> str:
    """A path to an image file with `problem`."""
    path = tmp_path / f"{problem}.png"
    if problem == "not an image":
        path.write_text("this is a text file, named .png\n")
    elif problem == "truncated":
        drawn_digit().save(path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif problem == "blank page":
        Image.new("L", (200, 200), 235).save(path)
    elif problem == "a folder":
        path.mkdir()
    return str(path)


@pytest.mark.parametrize("problem, says", [
    ("missing", "no such file"),
    ("not an image", "not an image file"),
    ("truncated", "truncated or damaged"),
    ("blank page", "no ink found"),
    ("a folder", "a folder, not an image file"),
])
def test_a_bad_image_gets_one_line_and_exit_status_1(tmp_path, checkpoint, problem, says, capsys):
    path = bad_image(tmp_path, problem)
    assert predict.main(["--checkpoint", checkpoint, path]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith(f"{path}: error: ") and says in err, err


def test_a_good_image_prints_its_digit_probability_and_top_3(checkpoint, digit_file, capsys):
    assert predict.main(["--checkpoint", checkpoint, digit_file]) == 0
    out, err = capsys.readouterr()
    assert err == "" and out.count("\n") == 1 and out.startswith(f"{digit_file}: ") and "top 3: " in out


def test_json_lists_every_image_in_order_with_the_errors_in_place(tmp_path, checkpoint, digit_file, capsys):
    missing = str(tmp_path / "missing.png")
    assert predict.main(["--json", "--checkpoint", checkpoint, missing, digit_file, missing]) == 1
    out, err = capsys.readouterr()
    first, good, last = json.loads(out)
    assert err == "" and first == last == {"path": missing, "error": "no such file: check the path"}
    assert set(good) == {"path", "digit", "probability", "top3"} and good["path"] == digit_file
    # the checkpoint's net on the file's digit: its three most probable digits, most probable first
    net, saved = predict.load_checkpoint(checkpoint)
    with Image.open(digit_file) as image:
        x = predict.to_mnist(image, saved["mean"], saved["std"])
    probabilities = utils.predict_probabilities(net, x)[0]
    top = probabilities.argsort(descending=True)[:3].tolist()
    assert good["top3"] == [[d, round(probabilities[d].item(), 4)] for d in top]
    assert [good["digit"], good["probability"]] == good["top3"][0]


@pytest.mark.parametrize("training", [True, False])
def test_probabilities_are_the_eval_mode_softmax_and_the_mode_is_handed_back(training):
    net = utils.make_model("final", seed=0).train(training)
    x = torch.cat([predict.to_mnist(drawn_digit(bright), MEAN, STD) for bright in (False, True)])
    probabilities = utils.predict_probabilities(net, x)
    assert net.training == training  # a net mid-training stays in train mode
    with torch.no_grad():  # eval mode: BatchNorm's running statistics, no dropout
        expected = torch.softmax(copy.deepcopy(net).eval()(x), dim=1)
    assert torch.equal(probabilities, expected)
    assert not torch.equal(probabilities, torch.softmax(copy.deepcopy(net).train()(x), dim=1).detach())


@pytest.mark.parametrize("problem, says", [
    ("missing", "no checkpoint at .*: run `make train` first, about two minutes on a 2-core CPU"),
    ("not a checkpoint", "is not a checkpoint written by train.py --save"),
    ("unknown model", "holds model 'resnet', which model.py does not define"),
])
def test_a_bad_checkpoint_stops_with_one_line(tmp_path, digit_file, problem, says, capsys):
    path = tmp_path / "final.pt"
    if problem == "not a checkpoint":
        path.write_text("not a checkpoint\n")
    elif problem == "unknown model":
        write_checkpoint(path, name="resnet")
    assert predict.main(["--checkpoint", str(path), digit_file]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("predict.py: error: ")
    assert re.search(says, err), err


def test_load_checkpoint_rebuilds_the_named_model_in_eval_mode(checkpoint):
    net, saved = predict.load_checkpoint(checkpoint)
    assert isinstance(net, model.MODELS["final"]) and not net.training
    assert saved["mean"] == MEAN and saved["std"] == STD and saved["seed"] == 0
    original = utils.make_model("final", seed=0).eval()  # what write_checkpoint saved
    assert all(torch.equal(a, b) for a, b in zip(original.state_dict().values(), net.state_dict().values(),
                                                 strict=False))


@pytest.fixture
def torch_threads_restored():
    """train.main sets torch's thread count for the whole process: put it back for the tests that follow."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("torch_threads_restored")
def test_what_train_py_saves_is_what_predict_py_loads(tmp_path, synthetic_mnist, digit_file, monkeypatch,
                                                      capsys):
    """Save, then load (weights_only=True): the same network, giving the same outputs bit for bit."""
    trained = []  # the net train.py trained, as fit hands it back
    fit = utils.fit
    monkeypatch.setattr(train.utils, "fit", lambda net, *args, **kwargs: trained.append(net) or fit(
        net, *args, **kwargs))
    monkeypatch.setattr(train.mnist, "load_mnist", lambda *args, **kwargs: synthetic_mnist)
    saved = str(tmp_path / "checkpoints" / "final.pt")
    quick = ["--epochs", "1", "--batch-size", "32", "--threads", "1", "--device", "cpu", "--quiet"]
    assert train.main([*quick, "--save", saved]) == 0
    assert f"checkpoint saved to {saved}" in capsys.readouterr().out
    loaded, checkpoint = predict.load_checkpoint(saved)  # torch.load(..., weights_only=True)
    (net,) = trained
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), loaded.state_dict().values(),
                                                 strict=False))
    assert (checkpoint["mean"], checkpoint["std"]) == (synthetic_mnist.mean, synthetic_mnist.std)
    x = synthetic_mnist.test_x
    with torch.no_grad():
        as_trained = net.eval()(x)  # channels-last weights: the CPU's kernels for them round differently
        same_format = copy.deepcopy(net).to(memory_format=torch.contiguous_format)(x)
        assert torch.equal(loaded(x), same_format) and torch.allclose(loaded(x), as_trained, atol=1e-5)
    assert predict.main(["--checkpoint", saved, digit_file]) == 0


def test_no_image_argument_is_one_line_like_train_py(capsys):
    with pytest.raises(SystemExit) as stop:
        predict.main([])
    assert str(stop.value).startswith("predict.py: error: ") and "IMAGE" in str(stop.value)


# ---- one bad image is that image's answer alone ----------------------------------------------------------

def awkward_image(tmp_path, kind: str) -> str:
    """A path to a file that PIL opens, or tries to, in its own way."""
    ink = np.asarray(drawn_digit(), np.float64) / 255  # the page at 225, the strokes at 35 (of 255)
    if kind == "32-bit beyond 16 bits":  # a scientific camera's TIFF: values up to 225,000
        path, image = tmp_path / "deep.tif", Image.fromarray(np.round(ink * 255_000).astype(np.int32))
    elif kind == "NaN float":
        levels = ink.astype(np.float32)
        levels[:10] = np.nan
        path, image = tmp_path / "nan.tif", Image.fromarray(levels)
    elif kind == "damaged EXIF":  # PIL's EXIF parser meets a tag of the wrong type: struct.error
        path, image = tmp_path / "exif.jpg", drawn_digit()
        exif = Image.Exif()
        exif[0x0112], exif[0x010F] = 6, "Phone"  # rotated, and the camera's make
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", exif=exif.tobytes())
        # the make's tag (0x010f, ASCII) renamed ImageWidth (0x0100), which must be a number
        data = buffer.getvalue().replace(b"\x01\x0f\x00\x02", b"\x01\x00\x00\x02", 1)
        data = data.replace(b"\x0f\x01\x02\x00", b"\x00\x01\x02\x00", 1)  # little-endian EXIF
        assert data != buffer.getvalue()
        path.write_bytes(data)
        return str(path)
    elif kind == "FIFO":  # opening it for reading would wait for a writer forever
        path = tmp_path / "pipe.png"
        os.mkfifo(path)
        return str(path)
    elif kind == "link loop":
        path = tmp_path / "loop.png"
        path.symlink_to(path)
        return str(path)
    image.save(path)
    return str(path)


@pytest.mark.parametrize("kind, says", [
    ("NaN float", "the image holds pixels that are not numbers (NaN or infinite)"),
    ("damaged EXIF", "could not read the image (its EXIF data, where a phone stores the photo's rotation, "
                     "is damaged"),
    ("FIFO", "not a plain file (a pipe, socket or device): name an image file"),
    ("link loop", "a symbolic link that leads round in a loop: point it at the image file"),
])
def test_an_image_that_fails_in_its_own_way_is_its_own_line_and_the_others_are_answered(
        tmp_path, checkpoint, digit_file, kind, says, capsys):
    bad = awkward_image(tmp_path, kind)
    assert predict.main(["--checkpoint", checkpoint, digit_file, bad, digit_file]) == 1
    out, err = capsys.readouterr()
    assert out.count(f"{digit_file}: ") == 2 and "top 3: " in out  # both good images answered
    assert err.startswith(f"{bad}: error: {says}") and err.count("\n") == 1, err


def test_a_32_bit_image_beyond_16_bits_is_read(tmp_path):
    with Image.open(awkward_image(tmp_path, "32-bit beyond 16 bits")) as image:
        assert image.mode == "I"
        deep = as_pixels(predict.to_mnist(image, 0, 1))
    assert np.abs(deep - as_pixels(predict.to_mnist(drawn_digit(), 0, 1))).mean() < 0.02


def test_json_gives_each_awkward_image_its_own_entry(tmp_path, checkpoint, digit_file, capsys):
    bad = [awkward_image(tmp_path, kind) for kind in ("NaN float", "damaged EXIF", "FIFO", "link loop")]
    assert predict.main(["--json", "--checkpoint", checkpoint, *bad, digit_file]) == 1
    answers = json.loads(capsys.readouterr().out)
    assert [a["path"] for a in answers] == [*bad, digit_file]
    assert all(set(a) == {"path", "error"} for a in answers[:-1]) and "digit" in answers[-1]


@pytest.mark.parametrize("as_json", [False, True])
def test_each_answer_is_printed_as_soon_as_it_is_ready(checkpoint, digit_file, capsys, monkeypatch, as_json):
    printed = []  # what stdout held when each image was started on
    predict_file = predict.predict_file
    monkeypatch.setattr(predict, "predict_file", lambda net, saved, path: printed.append(
        capsys.readouterr().out) or predict_file(net, saved, path))
    assert predict.main([*(["--json"] if as_json else []), "--checkpoint", checkpoint, digit_file,
                         digit_file]) == 0
    assert printed[0] == "" and digit_file in printed[1]


def test_predict_reads_on_one_thread_unless_told(checkpoint, digit_file):
    torch.set_num_threads(2)
    assert predict.main(["--checkpoint", checkpoint, digit_file]) == 0
    assert torch.get_num_threads() == 1  # a batch of one: more threads only wait on each other
    assert predict.main(["--checkpoint", checkpoint, "--threads", "2", digit_file]) == 0
    assert torch.get_num_threads() == 2


def crafted_checkpoint(path, kind: str) -> str:
    net = utils.make_model("final", seed=0)
    payload = {"model": "final", "state_dict": net.state_dict(), "mean": MEAN, "std": STD}
    if kind == "NaN weights":  # what train.py --lr inf wrote before it stopped on a non-finite loss
        payload["state_dict"] = {k: v.float().fill_(float("nan")) if v.is_floating_point() else v
                                 for k, v in payload["state_dict"].items()}
    elif kind == "std 0":
        payload["std"] = 0.0
    elif kind == "infinite mean":
        payload["mean"] = float("inf")
    elif kind == "mean a string":
        payload["mean"] = "0.13"
    elif kind == "model a list":
        payload["model"] = ["final"]
    elif kind == "weights a list":
        payload["state_dict"] = [1, 2, 3]
    utils.save_checkpoint(path, payload)
    return str(path)


@pytest.mark.parametrize("kind, says", [
    ("NaN weights", "holds weights that are not finite numbers (NaN or infinite): the training that wrote it "
                    "diverged"),
    ("std 0", "holds mean 0.1307 and std 0.0, which cannot normalise an image"),
    ("infinite mean", "holds mean inf and std 0.3081, which cannot normalise an image"),
    ("mean a string", "is not a checkpoint written by train.py --save (its mean and std are not numbers)"),
    ("model a list", "holds model ['final'], which model.py does not define"),
    ("weights a list", "is not a checkpoint written by train.py --save (its weights are not tensors)"),
])
def test_a_crafted_or_broken_checkpoint_is_refused_in_one_line(tmp_path, digit_file, kind, says, capsys):
    path = crafted_checkpoint(tmp_path / "final.pt", kind)
    assert predict.main(["--checkpoint", path, digit_file]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"predict.py: error: {path} {says}") and err.count("\n") == 1, err


@pytest.mark.parametrize("device", ["xpu", "meta"])
def test_a_device_these_tools_do_not_run_on_is_named_not_blamed_on_the_checkpoint(checkpoint, device):
    with pytest.raises(ValueError, match=f"^unknown device '{device}': these tools run on cpu, cuda, cuda:N"):
        predict.load_checkpoint(checkpoint, device)
