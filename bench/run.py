"""The benchmark: the task API as production runs it, against the reference app, under wrk.

Seeds PostgreSQL (bench/seed.py), starts `python -m backend serve --workers N` and the reference
app (uvicorn, same worker count, same pool size), and for each scenario runs a warm-up and then a
measured wrk run on each (alternating which goes first), checking every response's status. Then
the extras: page-1 list latency at 100 and 100,000 tasks, RSS of a worker after 10k and 200k
requests, and the CPU cost of HS256 and EdDSA verification. Prints a table and writes it, with
the machine, load, date and commit, to bench/results/. With `--baseline REV` the API's
`backend/` at REV runs as a third app ("before") beside the checkout's ("after"). When the API
has gained work since REV (more fields in every task), `--baseline-reference REF` measures
"before" against the reference app at REF, one that does the job the API did at REV, so each
ratio compares an API with a floor doing the same job.

    python bench/run.py            # the full run (about 20 minutes with --repeat 3)
    python bench/run.py --baseline main   # the API at main (before) and now (after), ~27 min
    python bench/run.py --quick    # a smoke check of the whole harness (about 2 minutes)
    python bench/run.py --profile list   # py-spy profile of one API worker under that scenario
"""

import argparse
import asyncio
import collections
import dataclasses
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(ROOT))

from bench import jwt_cost  # noqa: E402
from bench.reference_app import LEAVES_OUT  # noqa: E402
from bench.seed import Seeded, seed  # noqa: E402

SCENARIOS = ("list", "filtered", "get", "create", "toggle", "replace", "mixed", "many_users")
# `many_users` is `mixed` spread over the seed's crowd of 20,000 users (bench/seed.py).
CROWD_SCENARIO = "many_users"
WRITES_NEW_ROWS = {"create", "mixed", CROWD_SCENARIO}
FIRST_CONTACT_REQUESTS_PER_USER = 2
PROFILE_RATE = 250  # py-spy samples per second
SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
# Production defaults (JSON access log, metrics, rate limiting: all on) with only the quotas
# raised out of the benchmark's way: every request is still counted, none is refused.
RAISED_QUOTAS = {
    "RATE_LIMIT_READS": "1000000000",
    "RATE_LIMIT_WRITES": "1000000000",
    "RATE_LIMIT_ANONYMOUS": "1000000000",
}
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/tasks_bench"
WRK_SCRIPT = BENCH_DIR / "wrk" / "tasks.lua"
WORK_DIR = BENCH_DIR / ".work"
RESULTS_DIR = BENCH_DIR / "results"
# `make bench` installs py-spy into the venv running this script.
PY_SPY = str(Path(sys.executable).with_name("py-spy"))


@dataclass
class Options:
    database_url: str
    workers: list[int]
    scenarios: list[str]
    duration: int
    warmup: int
    connections: int
    threads: int
    repeat: int
    pool_size: int
    port_base: int
    rss_checkpoints: tuple[int, int]
    page_duration: int
    extras: bool
    scenario_runs: bool
    label: str
    baseline: str | None
    baseline_reference: str | None = None


@dataclass(frozen=True)
class Baseline:
    """The API's `backend/` at another revision, checked out where its server imports it."""

    rev: str
    commit: str
    subject: str
    source: Path
    # The reference app "before" is measured against, when not this checkout's.
    reference: "Baseline | None" = None


def parse_args() -> tuple[Options, str | None, bool]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario (medians)")
    parser.add_argument("--pool-size", type=int, default=10, help="DB pool size, both apps")
    parser.add_argument("--port-base", type=int, default=int(os.environ.get("BENCH_PORT", 18600)))
    parser.add_argument("--no-extras", action="store_true", help="skip page/RSS/JWT checks")
    parser.add_argument("--extras-only", action="store_true", help="only page/RSS/JWT checks")
    parser.add_argument("--label", default="", help="a note stored with the results")
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also run the API's backend/ at this git revision ('before'), same venv",
    )
    parser.add_argument(
        "--baseline-reference",
        metavar="REF",
        help="measure 'before' against bench/reference_app.py at this revision (its job)",
    )
    parser.add_argument("--quick", action="store_true", help="short runs: a harness smoke check")
    parser.add_argument("--profile", choices=SCENARIOS, help="profile one API worker instead")
    args = parser.parse_args()
    quick = args.quick
    options = Options(
        database_url=args.database_url or DEFAULT_DATABASE_URL,
        workers=[int(value) for value in args.workers.split(",")],
        scenarios=[value for value in args.scenarios.split(",") if value],
        duration=2 if quick else args.duration,
        warmup=1 if quick else args.warmup,
        connections=args.connections,
        threads=args.threads,
        repeat=1 if quick else args.repeat,
        pool_size=args.pool_size,
        port_base=args.port_base,
        rss_checkpoints=(2_000, 10_000) if quick else (10_000, 200_000),
        page_duration=2 if quick else 5,
        extras=not args.no_extras,
        scenario_runs=not args.extras_only,
        label=args.label,
        baseline=args.baseline,
        baseline_reference=args.baseline_reference,
    )
    unknown = set(options.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {sorted(unknown)}")
    if args.baseline_reference and not args.baseline:
        parser.error("--baseline-reference needs --baseline")
    if args.baseline and (args.extras_only or args.profile):
        parser.error("--baseline compares scenario runs: not with --extras-only or --profile")
    return options, args.profile, quick


# --- servers -----------------------------------------------------------------------------------


class Server:
    """A server process group we started, stopped by its own process group id."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], cwd: Path, port: int):
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = WORK_DIR / f"{name}-{port}.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                command,
                env={**os.environ, **env},
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, path: str, authorization: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        request = urllib.request.Request(self.url + path, headers={"Authorization": authorization})
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log}")
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer within {timeout}s; see {self.log}")

    def rss_kib(self) -> int:
        """Resident memory of the serving process (with one worker, uvicorn serves in-process)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        assert match is not None
        return int(match.group(1))

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def api_env(database_url: str, pool_size: int, source: Path) -> dict[str, str]:
    """The API's settings; `backend` is imported from `source` (this checkout or a baseline's)."""
    return {
        **RAISED_QUOTAS,
        "DATABASE_URL": database_url,
        "BETTER_AUTH_SECRET": SECRET,
        "ENVIRONMENT": "production",
        "DB_POOL_SIZE": str(pool_size),
        # Ahead of the venv's editable install of this checkout.
        "PYTHONPATH": str(source),
    }


def start_api(
    options: Options,
    workers: int,
    port: int,
    source: Path = ROOT,
    name: str = "api",
    settings: dict[str, str] | None = None,
) -> Server:
    """The API as production runs it; `settings` override some of its environment."""
    # Run where no project .env is found, so only these settings apply.
    env = {**api_env(options.database_url, options.pool_size, source), **(settings or {})}
    return Server(name, api_command(port, workers), env, WORK_DIR, port)


def api_command(port: int, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "backend",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def reference_env(database_url: str, pool_size: int, source: Path) -> dict[str, str]:
    """The reference app's settings; it is imported from `source`."""
    return {
        "REFERENCE_DATABASE_URL": database_url,
        "REFERENCE_SECRET": SECRET,
        "REFERENCE_POOL_SIZE": str(pool_size),
        "PYTHONPATH": str(source),
    }


def reference_command(port: int, workers: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "bench.reference_app:app", "--port", str(port),
        "--workers", str(workers), "--loop", "uvloop", "--http", "httptools",
        "--no-access-log", "--no-server-header", "--no-proxy-headers", "--log-level", "warning",
    ]  # fmt: skip


def start_reference(
    options: Options, workers: int, port: int, source: Path = ROOT, name: str = "reference"
) -> Server:
    """The reference app of `source` (this checkout, or a baseline reference's worktree)."""
    env = reference_env(options.database_url, options.pool_size, source)
    return Server(name, reference_command(port, workers), env, source, port)


def _git(*args: str) -> str:
    command = ["git", "-C", str(ROOT), *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def _remove_worktree(path: Path) -> None:
    """Remove our throwaway worktree, also what a crashed run left (registered or not)."""
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)],
        capture_output=True,
        check=False,
    )
    shutil.rmtree(path, ignore_errors=True)


# What a baseline worktree holds: the API, and for a baseline reference the reference app too.
API_PATHS = ("backend",)
REFERENCE_PATHS = ("backend", "bench/__init__.py", "bench/reference_app.py")


@contextmanager
def baseline_checkout(
    rev: str, work_dir: Path = WORK_DIR, paths: tuple[str, ...] = API_PATHS
) -> Iterator[Baseline]:
    """`paths` (`backend/`, by default) of `rev` in a throwaway git worktree under
    bench/.work/, removed afterwards.

    The servers run on this venv (the same pinned dependencies) and on the database this
    checkout migrated.
    """
    commit = _git("rev-parse", "--verify", f"{rev}^{{commit}}")
    kind = "baseline" if paths == API_PATHS else "baseline-reference"
    path = work_dir / f"{kind}-{commit[:12]}"
    _remove_worktree(path)
    # --force: a crashed run may have left the path registered but gone.
    _git("worktree", "add", "--force", "--detach", "--no-checkout", str(path), commit)
    try:
        subprocess.run(["git", "-C", str(path), "checkout", commit, "--", *paths], check=True)
        imported = subprocess.run(
            [sys.executable, "-c", "import backend; print(backend.__file__)"],
            env={**os.environ, "PYTHONPATH": str(path)},  # as `api_env` sets it
            cwd=work_dir,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if not Path(imported).is_relative_to(path):
            raise RuntimeError(f"the baseline server would import {imported}, not {path}")
        yield Baseline(rev, commit, _git("log", "-1", "--format=%s", commit), path)
    finally:
        _remove_worktree(path)


@contextmanager
def servers(
    options: Options, seeded: Seeded, workers: int, baseline: Baseline | None = None
) -> Iterator[dict[str, Server]]:
    """The apps of one worker count: "api" (this checkout), "reference" and, given a baseline,
    "baseline" (the API at the baseline's revision) and, given one, "baseline-reference"."""
    started: dict[str, Server] = {}
    try:
        started["api"] = start_api(options, workers, options.port_base + 1)
        started["reference"] = start_reference(options, workers, options.port_base + 2)
        if baseline is not None:
            started["baseline"] = start_api(
                options, workers, options.port_base + 4, baseline.source, "baseline"
            )
            if baseline.reference is not None:
                started["baseline-reference"] = start_reference(
                    options,
                    workers,
                    options.port_base + 5,
                    baseline.reference.source,
                    "baseline-reference",
                )
        for server in started.values():
            server.wait_ready(seeded.probe_path, seeded.probe_authorization)
        yield started
    finally:
        for server in started.values():
            server.stop()


# --- load --------------------------------------------------------------------------------------


def wrk(
    url: str,
    data_file: Path,
    scenario: str,
    seconds: int,
    connections: int,
    threads: int,
    timeout: int = 5,
) -> dict[str, Any]:
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", f"--timeout={timeout}s",
        "-s", str(WRK_SCRIPT), url, "--", str(data_file), scenario,
    ]  # fmt: skip
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("BENCH_RESULT "))
    raw = json.loads(line.removeprefix("BENCH_RESULT "))
    return {
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "requests": raw["requests"],
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "errors": raw["bad_status"] + raw["socket_errors"],
    }


async def delete_benchmark_rows(database_url: str, max_seeded_id: int) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("DELETE FROM task WHERE id > $1", max_seeded_id)
    finally:
        await connection.close()


def workload(seeded: Seeded, scenario: str) -> tuple[Path, str]:
    """The data file and the wrk script's scenario a benchmark scenario runs."""
    if scenario == CROWD_SCENARIO:
        if seeded.crowd_file is None:
            raise RuntimeError("many_users needs the crowd: seed with crowd=True")
        return seeded.crowd_file, "mixed"
    return seeded.users_file, scenario


def measure(options: Options, seeded: Seeded, server: Server, scenario: str) -> dict[str, Any]:
    load = (options.connections, options.threads)
    data_file, script_scenario = workload(seeded, scenario)
    wrk(server.url, data_file, script_scenario, options.warmup, *load)
    result = wrk(server.url, data_file, script_scenario, options.duration, *load)
    if scenario in WRITES_NEW_ROWS:
        # Keep every user at 20 tasks, so list results stay comparable between runs.
        asyncio.run(delete_benchmark_rows(options.database_url, seeded.max_seeded_id))
    return result


def first_contact(
    options: Options, seeded: Seeded, server: Server, workers: int, crowd: bool = False
) -> None:
    """Send every user (and the crowd's, with `crowd`) to every worker a few times, so that
    first-request work (token check, user row provisioning) is done before anything is
    measured.

    Each wrk thread walks the users in order from its own offset, starting afresh with every
    run, so one run must be long enough for each thread to pass every user that many times:
    a short probe run gives the rate, then one run of the length that rate needs.
    """
    threads = 2
    groups = [(seeded.users_file, seeded.users)]
    if crowd and seeded.crowd_file is not None:
        groups.append((seeded.crowd_file, seeded.crowd_users))
    for data_file, users in groups:
        probe = wrk(server.url, data_file, "list", 2, options.connections, threads)
        rate = max(probe["requests"] / 2, 1)
        per_thread = FIRST_CONTACT_REQUESTS_PER_USER * users * workers
        seconds = math.ceil(per_thread * threads / rate) + 1
        wrk(server.url, data_file, "list", seconds, options.connections, threads)


def run_order(names: list[str], repeat: int) -> list[str]:
    """Each repeat starts one app later: with 3 repeats of 3 apps each app is once first, once
    second, once last (2 apps simply alternate)."""
    shift = repeat % len(names)
    return names[shift:] + names[:shift]


# Connections a worker may hold beyond its pool (readiness, provisioning), and the harness's own.
SPARE_CONNECTIONS_PER_WORKER = 1
HARNESS_CONNECTIONS = 4


async def _free_connections(database_url: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        limit = int(await connection.fetchval("SHOW max_connections"))
        reserved = int(await connection.fetchval("SHOW superuser_reserved_connections"))
        used = int(await connection.fetchval("SELECT count(*) FROM pg_stat_activity"))
        return limit - reserved - used
    finally:
        await connection.close()


def check_connections(options: Options, apps: int) -> None:
    """Refuse, before anything starts, a run whose servers would exhaust PostgreSQL's
    connections (four apps at 2 workers with pools of 10 do, on a default server)."""
    needed = apps * max(options.workers) * (options.pool_size + SPARE_CONNECTIONS_PER_WORKER)
    free = asyncio.run(_free_connections(options.database_url))
    if needed + HARNESS_CONNECTIONS > free:
        per_worker = (free - HARNESS_CONNECTIONS) // (apps * max(options.workers))
        fitting = per_worker - SPARE_CONNECTIONS_PER_WORKER
        raise SystemExit(
            f"{apps} apps x {max(options.workers)} workers x pools of {options.pool_size} need "
            f"about {needed} connections; PostgreSQL has {free} free: pass --pool-size "
            f"{max(fitting, 1)} or fewer, or raise max_connections"
        )


def run_scenarios(
    options: Options, seeded: Seeded, baseline: Baseline | None = None
) -> list[dict[str, Any]]:
    apps = 2 + (baseline is not None) + (baseline is not None and baseline.reference is not None)
    check_connections(options, apps)
    rows = []
    for workers in options.workers:
        with servers(options, seeded, workers, baseline) as started:
            crowd = CROWD_SCENARIO in options.scenarios
            for server in started.values():
                first_contact(options, seeded, server, workers, crowd)
            for scenario in options.scenarios:
                runs: dict[str, list[dict[str, Any]]] = {name: [] for name in started}
                for repeat in range(options.repeat):
                    for name in run_order(list(started), repeat):
                        runs[name].append(measure(options, seeded, started[name], scenario))
                row = summarise(workers, scenario, runs)
                print(format_row(row), flush=True)
                rows.append(row)
    return rows


def summarise(workers: int, scenario: str, runs: dict[str, list[dict[str, Any]]]) -> dict:
    """Medians over repeats; the ratios to the reference are taken within each repeat, then
    their median: `rps_ratio`, `p99_ratio` for the API, `baseline_...` for a baseline (to the
    baseline reference when there is one), whose `..._change` is how much the API's ratio moved
    from the baseline's."""
    row: dict[str, Any] = {"workers": workers, "scenario": scenario, "runs": runs}
    for name, results in runs.items():
        row[name] = {
            "rps": statistics.median(r["rps"] for r in results),
            "p50_ms": statistics.median(r["p50_ms"] for r in results),
            "p99_ms": statistics.median(r["p99_ms"] for r in results),
            "errors": sum(r["errors"] for r in results),
        }
    for name, prefix in (("api", ""), ("baseline", "baseline_")):
        if name in runs:
            floor = (
                "baseline-reference"
                if name == "baseline" and "baseline-reference" in runs
                else "reference"
            )
            pairs = list(zip(runs[name], runs[floor], strict=True))
            row[f"{prefix}rps_ratio"] = statistics.median(a["rps"] / r["rps"] for a, r in pairs)
            row[f"{prefix}p99_ratio"] = statistics.median(
                a["p99_ms"] / r["p99_ms"] for a, r in pairs
            )
    if "baseline" in runs:
        row["rps_ratio_change"] = row["rps_ratio"] / row["baseline_rps_ratio"] - 1
        row["p99_ratio_change"] = row["p99_ratio"] / row["baseline_p99_ratio"] - 1
    return row


# --- extras ------------------------------------------------------------------------------------


def page_latency(options: Options, seeded: Seeded) -> dict[str, Any]:
    """Page-1 list latency for a user with 100 tasks and one with 100,000 (one connection).

    One user asks thousands of times a second here, far past the production read quota: the
    raised quotas every API run has keep this check about the query, not the quota.
    """
    results: dict[str, Any] = {}
    api = start_api(options, 1, options.port_base + 3)
    try:
        api.wait_ready(seeded.probe_path, seeded.probe_authorization)
        for count, data_file in sorted(seeded.page_files.items()):
            wrk(api.url, data_file, "list", 1, 1, 1, timeout=60)
            results[str(count)] = wrk(
                api.url, data_file, "list", options.page_duration, 1, 1, timeout=60
            )
    finally:
        api.stop()
    small, big = (results[str(count)] for count in sorted(seeded.page_files))
    results["p50_ratio"] = big["p50_ms"] / small["p50_ms"]
    return results


def access_log_cost(options: Options, seeded: Seeded) -> dict[str, Any]:
    """`get` at 1 worker with the access log on (the default) and off, taking turns: the
    median of the per-run ratios on/off is what the log costs."""
    started = {
        "on": start_api(options, 1, options.port_base + 1, name="access-log-on"),
        "off": start_api(
            options, 1, options.port_base + 2, name="access-log-off", settings={"ACCESS_LOG": "0"}
        ),
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in started}
    try:
        for server in started.values():
            server.wait_ready(seeded.probe_path, seeded.probe_authorization)
            first_contact(options, seeded, server, 1)
        for repeat in range(max(options.repeat, 3)):
            for name in run_order(list(started), repeat):
                runs[name].append(measure(options, seeded, started[name], "get"))
    finally:
        for server in started.values():
            server.stop()
    ratios = [on["rps"] / off["rps"] for on, off in zip(runs["on"], runs["off"], strict=True)]
    return {
        "on_rps": statistics.median(run["rps"] for run in runs["on"]),
        "off_rps": statistics.median(run["rps"] for run in runs["off"]),
        "ratio": statistics.median(ratios),
        "runs": runs,
    }


def rss_growth(options: Options, seeded: Seeded) -> dict[str, Any]:
    """RSS of one API worker after N1 and after N2 requests (mixed scenario, from a cold start)."""
    first, second = options.rss_checkpoints
    api = start_api(options, 1, options.port_base + 3)
    try:
        api.wait_ready(seeded.probe_path, seeded.probe_authorization)
        served, checkpoints = 1, {}  # the readiness probe
        for target in (first, second):
            while served < target:
                chunk = wrk(api.url, seeded.users_file, "mixed", 5, options.connections, 2)
                served += chunk["requests"]
                if chunk["errors"]:
                    raise RuntimeError(f"{chunk['errors']} errors during the RSS run")
            checkpoints[str(target)] = {"requests": served, "rss_mib": api.rss_kib() / 1024}
    finally:
        api.stop()
        asyncio.run(delete_benchmark_rows(options.database_url, seeded.max_seeded_id))
    low, high = (checkpoints[str(target)]["rss_mib"] for target in (first, second))
    return {"checkpoints": checkpoints, "growth": high / low - 1}


# --- profile -----------------------------------------------------------------------------------


def profile(options: Options, seeded: Seeded, scenario: str) -> None:
    """Sample one API worker with py-spy under load; print where the time goes."""
    out = RESULTS_DIR / f"profile-{scenario}-{stamp()}.txt"
    raw = WORK_DIR / "profile.collapsed"
    with servers(options, seeded, 1) as started:
        api = started["api"]
        data_file, script_scenario = workload(seeded, scenario)
        first_contact(options, seeded, api, 1, scenario == CROWD_SCENARIO)
        wrk(api.url, data_file, script_scenario, options.warmup, options.connections, 2)
        spy_command = [
            PY_SPY, "record", "--pid", str(api.process.pid), "--rate", str(PROFILE_RATE),
            "--duration", str(options.duration), "--format", "raw", "--output", str(raw),
            "--nonblocking",
        ]  # fmt: skip
        spy = subprocess.Popen(spy_command)
        result = wrk(api.url, data_file, script_scenario, options.duration, options.connections, 2)
        spy.wait()
    report = summarise_profile(raw.read_text(), result, options.duration)
    RESULTS_DIR.mkdir(exist_ok=True)
    out.write_text(report)
    print(report)
    print(f"written to {out.relative_to(ROOT)}")


def summarise_profile(collapsed: str, load: dict[str, Any], seconds: int, top: int = 45) -> str:
    """Inclusive share of samples per function, from py-spy's collapsed stacks."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = [
            re.sub(r" \(.*?(site-packages/|/work/[^/]+/)?", " (", frame)
            for frame in stack.split(";")
        ]
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    lines = [
        f"py-spy, 1 API worker, {load['rps']:.0f} req/s, {load['errors']} errors, {total} samples",
        "",
        "inclusive %  self %  function",
    ]
    for frame, count in inclusive.most_common(top):
        lines.append(f"{100 * count / total:10.1f}  {100 * own[frame] / total:6.1f}  {frame}")
    lines += ["", "self %  inclusive %  function (by self time: C calls show in their caller)"]
    for frame, count in own.most_common(top // 2):
        lines.append(f"{100 * count / total:6.1f}  {100 * inclusive[frame] / total:11.1f}  {frame}")
    # Samples are taken while the process is not idle: their count gives its busy time.
    busy_us_per_request = total / PROFILE_RATE / (load["rps"] * seconds) * 1e6
    packages: collections.Counter[str] = collections.Counter()
    for frame, count in own.items():
        match = re.search(r"\(([^/ :)]+)", frame)
        packages[match.group(1) if match else "?"] += count
    lines += [
        "",
        f"self time by package (busy time ~{busy_us_per_request:.0f} µs per request)",
        "self %  µs/request  package",
    ]
    for package, count in packages.most_common(15):
        share = count / total
        lines.append(f"{100 * share:6.1f}  {share * busy_us_per_request:10.0f}  {package}")
    return "\n".join(lines) + "\n"


# --- report ------------------------------------------------------------------------------------


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")


def _command(*command: str) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError:
        return "unavailable"
    return (
        (result.stdout or result.stderr).strip().splitlines()[0]
        if result.stdout or result.stderr
        else ""
    )


def machine(options: Options) -> dict[str, Any]:
    cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
    memory = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
    commit = _command("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD")
    dirty = bool(_command("git", "-C", str(ROOT), "status", "--porcelain"))

    async def server_version() -> str:
        connection = await asyncpg.connect(options.database_url)
        try:
            return str(await connection.fetchval("SHOW server_version"))
        finally:
            await connection.close()

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit + ("+dirty" if dirty else ""),
        "cpu": cpu.group(1) if cpu else platform.processor(),
        "cores": os.cpu_count(),
        "memory_gib": round(int(memory.group(1)) / 2**20, 1) if memory else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": asyncio.run(server_version()),
        "wrk": _command("wrk", "--version"),
        "load_before": _command("uptime"),
    }


def format_row(row: dict[str, Any]) -> str:
    if "baseline" in row:
        return format_before_after_row(row)
    api, ref = row["api"], row["reference"]
    return (
        f"| {row['workers']} | {row['scenario']} | {api['rps']:.0f} | {api['p50_ms']:.1f} | "
        f"{api['p99_ms']:.1f} | {api['errors']} | {ref['rps']:.0f} | {ref['p50_ms']:.1f} | "
        f"{ref['p99_ms']:.1f} | {ref['errors']} | **{row['rps_ratio']:.2f}** | "
        f"{row['p99_ratio']:.2f} |"
    )


TABLE_HEADER = (
    "| workers | scenario | API req/s | API p50 ms | API p99 ms | API errors | ref req/s | "
    "ref p50 ms | ref p99 ms | ref errors | req/s API/ref | p99 API/ref |\n"
    "|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
)


def format_before_after_row(row: dict[str, Any]) -> str:
    before, after, ref = row["baseline"], row["api"], row["reference"]
    # With a baseline reference, each reference column reads "before's / after's".
    before_ref = row.get("baseline-reference")
    rps, p99, errors = f"{ref['rps']:.0f}", f"{ref['p99_ms']:.1f}", str(ref["errors"])
    if before_ref is not None:
        rps = f"{before_ref['rps']:.0f} / {rps}"
        p99 = f"{before_ref['p99_ms']:.1f} / {p99}"
        errors = f"{before_ref['errors']}+{errors}"
    return (
        f"| {row['workers']} | {row['scenario']} | {before['rps']:.0f} | {after['rps']:.0f} | "
        f"{rps} | {before['p99_ms']:.1f} | {after['p99_ms']:.1f} | "
        f"{p99} | {before['errors']}/{after['errors']}/{errors} | "
        f"{row['baseline_rps_ratio']:.2f} | **{row['rps_ratio']:.2f}** | "
        f"{row['rps_ratio_change']:+.1%} | {row['baseline_p99_ratio']:.2f} | "
        f"{row['p99_ratio']:.2f} | {row['p99_ratio_change']:+.1%} |"
    )


BEFORE_AFTER_HEADER = (
    "| workers | scenario | before req/s | after req/s | ref req/s | before p99 ms | "
    "after p99 ms | ref p99 ms | errors before/after/ref | req/s before/ref | "
    "req/s after/ref | change | p99 before/ref | p99 after/ref | change |\n"
    "|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
)


def crowd_lines(rows: list[dict[str, Any]]) -> list[str]:
    """What the API serves with 20,000 active users against with 1,000 (`many_users` over
    `mixed`, the same request mix), per worker count, when both ran."""
    by_key = {(row["workers"], row["scenario"]): row for row in rows}
    lines = []
    for (workers, scenario), crowd in by_key.items():
        few = by_key.get((workers, "mixed"))
        if scenario == CROWD_SCENARIO and few is not None:
            share = crowd["api"]["rps"] / few["api"]["rps"]
            reference = crowd["reference"]["rps"] / few["reference"]["rps"]
            lines.append(
                f"- {workers} worker(s): with 20,000 users the API serves **{share:.0%}** of its "
                f"1,000-user `mixed` figure (the reference {reference:.0%})."
            )
    return ["", *lines] if lines else []


def table_header(baseline: Baseline | None) -> str:
    return TABLE_HEADER if baseline is None else BEFORE_AFTER_HEADER


def setup_notes(baseline: Baseline | None) -> list[str]:
    """What ran: the apps' settings, what the reference leaves out, the revisions compared."""
    notes = [
        "API: `python -m backend serve`, `ENVIRONMENT=production` with production defaults "
        "(JSON access log, metrics, rate limiting on); only the quotas raised "
        f"({', '.join(f'{name}={value}' for name, value in RAISED_QUOTAS.items())}).",
        "Reference (`bench/reference_app.py`): caches verified tokens and provisions each user "
        "once as the API does; it leaves out " + "; ".join(LEAVES_OUT) + ".",
    ]
    if baseline is not None:
        notes.append(
            f"Before: the API's `backend/` at `{baseline.rev}` ({baseline.commit[:12]}: "
            f"{baseline.subject}), same venv and settings; after: this checkout. Ratios are "
            "medians of per-run ratios to the reference; change = after/ref over before/ref - 1."
        )
        if baseline.reference is not None:
            reference = baseline.reference
            notes.append(
                f"Before is measured against the reference app at `{reference.rev}` "
                f"({reference.commit[:12]}: {reference.subject}), which does the job the API "
                "did then; after against this checkout's. Reference columns read "
                "before's / after's."
            )
    return notes


def report(
    options: Options,
    info: dict[str, Any],
    rows: list,
    extras: dict[str, Any],
    baseline: Baseline | None = None,
) -> str:
    label = f" {options.label}" if options.label else ""
    lines = [
        f"# Benchmark {info['date']} (commit {info['commit']}){label}",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB, "
        f"Linux {info['kernel']}, Python {info['python']}, PostgreSQL {info['postgresql']}, "
        f"{info['wrk']}.",
        f"Load before: `{info['load_before']}`; after: `{info['load_after']}`.",
        f"wrk: {options.connections} connections, {options.threads} threads, "
        f"{options.duration} s per run after {options.warmup} s of warm-up, "
        f"median of {options.repeat} run(s); DB pool {options.pool_size} per worker.",
        *setup_notes(baseline),
        "",
        table_header(baseline),
        *(format_row(row) for row in rows),
        *crowd_lines(rows),
    ]
    if "page" in extras:
        page = extras["page"]
        lines += [
            "",
            "Page-1 list latency, one connection (`GET /api/{id}/tasks?limit=100`):",
            "",
            "| tasks of the user | req/s | p50 ms | p99 ms | errors |",
            "|--:|--:|--:|--:|--:|",
            *(
                f"| {count} | {page[count]['rps']:.1f} | {page[count]['p50_ms']:.2f} | "
                f"{page[count]['p99_ms']:.2f} | {page[count]['errors']} |"
                for count in ("100", "100000")
            ),
            "",
            f"p50 at 100,000 / p50 at 100: **{page['p50_ratio']:.2f}**",
        ]
    if "access_log" in extras:
        cost = extras["access_log"]
        lines += [
            "",
            f"Access log, `get` at 1 worker: {cost['on_rps']:.0f} req/s on, "
            f"{cost['off_rps']:.0f} off; on/off **{cost['ratio']:.2f}** (median of per-run "
            "ratios).",
        ]
    if "rss" in extras:
        rss = extras["rss"]
        points = ", ".join(
            f"{point['rss_mib']:.1f} MiB after {point['requests']} requests"
            for point in rss["checkpoints"].values()
        )
        lines += ["", f"RSS of one API worker (mixed): {points}; growth **{rss['growth']:+.1%}**."]
    if "jwt" in extras:
        cost = extras["jwt"]
        lines += [
            "",
            f"Token verification, CPU per call: HS256 {cost['hs256_decode_us']:.0f} µs, "
            f"EdDSA {cost['eddsa_decode_us']:.0f} µs (PyJWT decode with an Ed25519 key object, "
            "as the JWKS key cache holds it); the API's verifier (secret + JWKS sources) on a "
            f"token it has already verified: HS256 {cost['api_verifier_cached_us']:.1f} µs, "
            f"EdDSA {cost['api_verifier_cached_eddsa_us']:.1f} µs.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    options, profile_scenario, quick = parse_args()
    WORK_DIR.mkdir(exist_ok=True)
    crowd = (options.scenario_runs and CROWD_SCENARIO in options.scenarios) or (
        profile_scenario == CROWD_SCENARIO
    )
    seeded = seed(options.database_url, SECRET, WORK_DIR, crowd=crowd)
    if profile_scenario:
        profile(options, seeded, profile_scenario)
        return
    info = machine(options)
    with ExitStack() as stack:
        baseline = None
        if options.baseline:
            baseline = stack.enter_context(baseline_checkout(options.baseline))
            info["baseline"] = {"rev": baseline.rev, "commit": baseline.commit}
            if options.baseline_reference:
                reference = stack.enter_context(
                    baseline_checkout(options.baseline_reference, paths=REFERENCE_PATHS)
                )
                baseline = dataclasses.replace(baseline, reference=reference)
                info["baseline_reference"] = {"rev": reference.rev, "commit": reference.commit}
        print(f"load: {info['load_before']}", flush=True)
        print("\n".join(setup_notes(baseline)), flush=True)
        print(table_header(baseline), flush=True)
        rows = run_scenarios(options, seeded, baseline) if options.scenario_runs else []
    extras: dict[str, Any] = {}
    if options.extras:
        extras["jwt"] = jwt_cost.measure()
        extras["page"] = page_latency(options, seeded)
        extras["rss"] = rss_growth(options, seeded)
        extras["access_log"] = access_log_cost(options, seeded)
    info["load_after"] = _command("uptime")
    text = report(options, info, rows, extras, baseline)
    print(text)
    # A quick run is a smoke check of the harness, not a result worth keeping.
    results_dir = WORK_DIR / "results" if quick else RESULTS_DIR
    results_dir.mkdir(parents=True, exist_ok=True)
    name = f"{info['date'][:16].replace(':', '')}Z-{info['commit']}"
    if baseline is not None:
        name += f"-before-{baseline.commit[:7]}"
    if options.label:
        name += "-" + re.sub(r"[^a-z0-9]+", "-", options.label.lower()).strip("-")
    (results_dir / f"{name}.md").write_text(text)
    payload = {"machine": info, "options": options.__dict__, "rows": rows, "extras": extras}
    (results_dir / f"{name}.json").write_text(json.dumps(payload, indent=2, default=str))
    print(f"written to {(results_dir / name).relative_to(ROOT)}.md and .json")


if __name__ == "__main__":
    main()
