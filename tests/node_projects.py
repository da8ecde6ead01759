"""The Node.js projects tests run: the TypeScript client and the example frontend.

Where Node.js or a project's packages are missing their tests skip, saying how to install them
(`make test` does, with npm); under `CI=true` they fail instead, as for every tool CI must have.
"""

import shutil
import subprocess
from pathlib import Path

from support import missing_dependency

ROOT = Path(__file__).resolve().parents[1]
CLIENT_DIR = ROOT / "clients" / "typescript"
EXAMPLE_DIR = ROOT / "examples" / "web"


def node() -> str:
    found = shutil.which("node")
    if found is None:
        missing_dependency("Node.js 20+ is not installed (the client and example tests need it)")
    assert found is not None
    return found


def installed(project: Path) -> Path:
    """`project`, once Node.js and the packages of its lock file are there."""
    node()
    if not (project / "node_modules" / ".installed").is_file():
        relative = project.relative_to(ROOT)
        missing_dependency(f"{relative} is not installed: run `npm ci` there (make test does)")
    return project


def run_bin(project: Path, command: str, *args: str) -> subprocess.CompletedProcess[str]:
    """One of `project`'s installed commands (`tsc`, `openapi-typescript`), run in `project`."""
    executable = installed(project) / "node_modules" / ".bin" / command
    return subprocess.run(
        [str(executable), *args], cwd=project, capture_output=True, text=True, timeout=180
    )


def run_script(project: Path, script: str) -> subprocess.CompletedProcess[str]:
    """`npm run <script>` in `project`, as its package.json defines it."""
    npm = shutil.which("npm")
    if npm is None:
        missing_dependency("npm is not installed (the client and example tests need it)")
    assert npm is not None
    return subprocess.run(
        [npm, "run", "--silent", script],
        cwd=installed(project),
        capture_output=True,
        text=True,
        timeout=180,
    )
