"""The CI definitions run what the README says: `make test`."""
import yaml

from conftest import ROOT


def test_github_workflow_parses_and_runs_make_test_on_311_and_312():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    assert True in workflow or "on" in workflow  # YAML 1.1 reads the key `on` as True
    (job,) = workflow["jobs"].values()
    assert {"3.11", "3.12"} <= set(job["strategy"]["matrix"]["python-version"])
    commands = [step.get("run", "") for step in job["steps"]]
    assert any(command.startswith("make test") for command in commands)


def test_ci_script_and_readme_name_the_same_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()


def test_make_test_runs_the_unit_tests_and_the_notebook_under_nbval():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "S6_SMOKE=1" in recipe and "--nbval-lax" in recipe and "S6_MNIST.ipynb" in recipe and "tests" in recipe
