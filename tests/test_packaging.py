"""The files that describe the project agree with each other."""

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


def test_readme_configuration_names_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()

    assert [name.upper() for name in Settings.model_fields if name.upper() not in readme] == []
