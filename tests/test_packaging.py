"""The files that describe the project agree with each other."""

import re
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
