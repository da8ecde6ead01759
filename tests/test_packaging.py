"""The files that describe the project agree with each other."""

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

from backend.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_requirements_txt_matches_pyproject() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    lines = (ROOT / "backend" / "requirements.txt").read_text().splitlines()
    requirements = [line for line in lines if line and not line.startswith("#")]

    assert requirements == pyproject["project"]["dependencies"]


def test_env_example_names_every_setting() -> None:
    example = (ROOT / "backend" / ".env.example").read_text()
    documented = {line.lstrip("# ").split("=")[0] for line in example.splitlines() if "=" in line}

    assert {name.upper() for name in Settings.model_fields} <= documented


def configuration_docs_names() -> set[str]:
    """The names in the first column of docs/configuration.md's tables (`HOST` / `PORT` ...)."""
    names: set[str] = set()
    for line in (ROOT / "docs" / "configuration.md").read_text().splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]*)`", line.split("|")[1]))
    return names


def test_configuration_docs_name_every_setting_and_no_other() -> None:
    settings = {name.upper() for name in Settings.model_fields}
    documented = configuration_docs_names()

    assert sorted(settings - documented) == [], "settings missing from docs/configuration.md"
    assert sorted(documented - settings) == [], "docs/configuration.md names no such setting"


def pinned(requirement: str) -> tuple[str, str]:
    """`Name[extra]==1.2; marker` -> ("name", "1.2"), names compared as PyPI does."""
    match = re.fullmatch(r"([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^;\s]+)\s*(?:;.*)?", requirement)
    assert match, f"not pinned with ==: {requirement}"
    return re.sub(r"[-_.]+", "-", match[1]).lower(), match[2]


def test_every_dependency_is_pinned_and_in_the_constraints() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    constraints = dict(pinned(line) for line in lines if line and not line.startswith("#"))

    for requirement in declared:
        name, version = pinned(requirement)
        assert constraints.get(name) == version, requirement
    assert "uv" in constraints


def make_dry_run(tmp_path: Path, target: str) -> str:
    """What `make TARGET` would run on a fresh clone (no .venv yet), without running it."""
    for name in ("Makefile", "pyproject.toml", "constraints.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    # As a top-level make (not one inside `make test`, which would print its directories).
    environment = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL")}
    completed = subprocess.run(
        ["make", "-n", target],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return completed.stdout


def test_make_run_installs_the_runtime_without_the_dev_tools(tmp_path: Path) -> None:
    commands = make_dry_run(tmp_path, "run")

    assert "uv pip install" in commands
    assert re.search(r"uv pip install .* -e \.$", commands, re.M)
    assert "[dev]" not in commands
    assert commands.rstrip().endswith("-m backend serve")


def test_make_install_adds_the_dev_tools(tmp_path: Path) -> None:
    commands = make_dry_run(tmp_path, "install")

    assert re.search(r"uv pip install .* -e \.$", commands, re.M)
    assert re.search(r"""uv pip install .* -e "\.\[dev\]"$""", commands, re.M)
