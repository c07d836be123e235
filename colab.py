"""Point the notebook's "Open in Colab" at your GitHub repository (`make colab`, after pushing your fork).

Reads `git remote get-url origin` (https://github.com/OWNER/REPO(.git) or git@github.com:OWNER/REPO(.git))
and the current branch, then writes them into the three places that name the repository: the Colab badge in
README.md, the Colab badge in the notebook's first markdown cell, and REPO_URL (with BRANCH, the branch the
setup cell clones and updates to) in the notebook's setup cell. A second run changes nothing. Exit
status 1, with nothing changed, when there is no GitHub remote or a place to write is missing.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from cli import Parser

ROOT = Path(__file__).resolve().parent
NOTEBOOK = "S6_MNIST.ipynb"
PLACEHOLDER = "YOUR-GITHUB-NAME/S6_MNIST"

GITHUB_REMOTE = re.compile(r"^(?:https://(?:[^@/]+@)?github\.com/|ssh://git@github\.com/|git@github\.com:)"
                           r"(?P<repo>[\w.-]+/[\w.-]+?)(?:\.git)?/?$")
BADGE = re.compile(r"https://colab\.research\.google\.com/github/(?P<repo>[^/\s)]+/[^/\s)]+)/blob/"
                   rf"(?P<branch>\S+?)/{re.escape(NOTEBOOK)}")
REPO_URL = re.compile(r'REPO_URL = "https://github\.com/(?P<repo>[^"]*)"')
BRANCH = re.compile(r'^BRANCH = "[^"]*"', re.MULTILINE)


def github_repo(url: str) -> str | None:
    """"OWNER/REPO" from a GitHub remote URL in its https or ssh form; None for anything else."""
    match = GITHUB_REMOTE.match(url.strip())
    return match["repo"] if match else None


def git(root: Path, *args: str) -> str | None:
    """The output of `git ARGS` in `root`, or None if it fails (no remote, no repository, detached HEAD)."""
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def substitute(pattern: re.Pattern, new: str, text: str, where: str) -> str:
    """`text` with every match of `pattern` replaced by `new`; ValueError naming `where` if there is none."""
    changed, count = pattern.subn(lambda match: new, text)
    if count == 0:
        raise ValueError(f"nothing matches {pattern.pattern!r} in {where}: was it edited by hand?")
    return changed


def find_cell(notebook: dict, kind: str, containing: str = "") -> dict:
    """The first cell of `kind` ("markdown" or "code") whose source contains `containing`."""
    for cell in notebook["cells"]:
        if cell["cell_type"] == kind and containing in "".join(cell["source"]):
            return cell
    raise ValueError(f"{NOTEBOOK} has no {kind} cell containing {containing!r}")


def edit_source(cell: dict, edits: list[tuple[re.Pattern, str]], where: str) -> None:
    """Apply the edits to the cell's source, kept in the form it has: one string, or a list of lines."""
    text = "".join(cell["source"])
    for pattern, new in edits:
        text = substitute(pattern, new, text, where)
    as_lines = not isinstance(cell["source"], str)
    cell["source"] = re.findall(r"[^\n]*\n|[^\n]+", text) if as_lines else text  # each line with its \n


def notebook_text(notebook: dict) -> str:
    """The notebook as Jupyter writes it (indent 1, UTF-8 as is, a final newline): an unchanged notebook gives
    back its file byte for byte."""
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def repositories_named(root: Path = ROOT) -> dict[str, str]:
    """OWNER/REPO as each of the three places names it now (an empty string where one names none)."""
    readme = (root / "README.md").read_text(encoding="utf-8")
    notebook = json.loads((root / NOTEBOOK).read_text(encoding="utf-8"))
    badge_cell, setup = find_cell(notebook, "markdown"), find_cell(notebook, "code", "REPO_URL = ")
    found = {"README.md badge": BADGE.search(readme),
             "notebook badge": BADGE.search("".join(badge_cell["source"])),
             "notebook REPO_URL": REPO_URL.search("".join(setup["source"]))}
    return {where: match["repo"] if match else "" for where, match in found.items()}


def point_at(root: Path, repo: str, branch: str) -> list[str]:
    """Write `repo` (OWNER/REPO) and `branch` into the three places; return the names of the files changed."""
    # Percent-encoded: a branch may hold characters such as ")" that would end the badge's Markdown link.
    badge = f"https://colab.research.google.com/github/{repo}/blob/{quote(branch, safe='/')}/{NOTEBOOK}"
    readme_path, notebook_path = root / "README.md", root / NOTEBOOK
    readme_before = readme_path.read_text(encoding="utf-8")
    notebook_before = notebook_path.read_text(encoding="utf-8")
    notebook = json.loads(notebook_before)
    readme = substitute(BADGE, badge, readme_before, "README.md")
    edit_source(find_cell(notebook, "markdown"), [(BADGE, badge)], f"{NOTEBOOK}'s first markdown cell")
    edit_source(find_cell(notebook, "code", "REPO_URL = "),
                [(REPO_URL, f'REPO_URL = "https://github.com/{repo}"'),
                 (BRANCH, f"BRANCH = {json.dumps(branch)}")], f"{NOTEBOOK}'s setup cell")
    # Written only once every place was found, so that a failure leaves both files as they were.
    changed = []
    for path, before, after in ((readme_path, readme_before, readme),
                                (notebook_path, notebook_before, notebook_text(notebook))):
        if after != before:
            path.write_text(after, encoding="utf-8")
            changed.append(path.name)
    return changed


def main(root: Path = ROOT, argv=()) -> int:
    Parser(prog="colab.py", description=__doc__.split("\n")[0]).parse_args(list(argv))  # --help: no writes
    if shutil.which("git") is None:
        print("colab.py: error: git is not installed here (or not on PATH): install git, then run "
              "`make colab` again; nothing changed", file=sys.stderr)
        return 1
    url = git(root, "remote", "get-url", "origin")
    repo = github_repo(url) if url else None
    if repo is None:
        found = f"origin is {url}, not a GitHub repository" if url else "this clone has no remote 'origin'"
        print(f"colab.py: {found}: add yours with `git remote add origin https://github.com/YOU/REPO` (or "
              "`git remote set-url origin ...`), push, then run `make colab` again; nothing changed",
              file=sys.stderr)
        return 1
    branch = git(root, "symbolic-ref", "--short", "HEAD") or "main"  # detached HEAD: the default branch
    try:
        changed = point_at(root, repo, branch)
    except ValueError as error:
        print(f"colab.py: {error}; nothing changed", file=sys.stderr)
        return 1
    what = f"updated {' and '.join(changed)}" if changed else "already up to date"
    print(f"Colab badges and REPO_URL point at github.com/{repo} (branch {branch}): {what}")
    if changed:
        print("commit and push these files, then the badge opens the notebook from your repository")
    return 0


if __name__ == "__main__":
    sys.exit(main(argv=sys.argv[1:]))
