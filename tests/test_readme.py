"""Every number in the README's results section is regenerated from the results files and must match."""
import utils
from conftest import ROOT


def test_readme_results_match_the_results_files():
    text = (ROOT / "README.md").read_text()
    section = text.split(utils.README_START, 1)[1].split(utils.README_END, 1)[0].strip()
    assert section == utils.readme_results(ROOT / "results").strip(), "run `make readme` after new results"


def test_readme_gives_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert "make train" in text and "make test" in text
