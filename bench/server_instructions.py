"""Instructions per request of a whole server process, on the real database: what a busy or
noisy machine does not move.

`request_instructions.py` counts the API's own request handling with the database stubbed;
this counts everything the serving process executes for a request: the HTTP protocol, the
app, the pool checkout, asyncpg's encoding and decoding, the access log's writer thread. Each
app runs under valgrind's callgrind with counting off; the benchmark's requests of one kind
are sent one after another on one keep-alive connection, and only the measured ones are
counted (`callgrind_control -i on/off`). Repeated runs agree within about 1%; on a 2-core
machine shared with other work, timings move by a third (bench/README.md).

    python bench/server_instructions.py                     # the API and the reference app
    python bench/server_instructions.py --baseline 3ecefa5 --baseline-reference bfa79b3

Seeds (and so **wipes**) the benchmark database, as `run.py` does. Kernel time (system calls)
and PostgreSQL's own work are not counted: compare them with `run.py`'s throughput.
"""

import argparse
import asyncio
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import (
    API_PATHS,
    DEFAULT_DATABASE_URL,
    REFERENCE_PATHS,
    RESULTS_DIR,
    ROOT,
    SECRET,
    WORK_DIR,
    api_command,
    api_env,
    baseline_checkout,
    delete_benchmark_rows,
    reference_command,
    reference_env,
)
from bench.seed import Seeded, seed

KINDS = ("list", "get", "create", "toggle", "replace")
CREATE_BODY = b'{"title": "Benchmark task", "description": "Created by wrk"}'
REPLACE_BODY = b'{"title": "Replaced by wrk", "description": "Full replacement", "completed": true}'
# One request at a time needs one connection; the benchmark's pool size, all the same.
POOL_SIZE = 10
_ENTRY = re.compile(r'path="([^"]+)".*?auth="([^"]+)", tasks=\{([^}]*)\}')


def _first_user(seeded: Seeded) -> tuple[str, str, list[int]]:
    """The first benchmark user's task path, Authorization value and task ids."""
    entry = _ENTRY.search(seeded.users_file.read_text())
    assert entry is not None
    return entry[1], entry[2], [int(task_id) for task_id in entry[3].split(",")]


def drive(port: int, seeded: Seeded, kind: str, requests: int) -> None:
    """`requests` requests of `kind`, one after another; every one must succeed."""
    path, authorization, task_ids = _first_user(seeded)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": authorization}
    json_headers = {**headers, "Content-Type": "application/json"}
    for index in range(requests):
        task = f"{path}/{task_ids[index % len(task_ids)]}"
        if kind == "list":
            connection.request("GET", f"{path}?limit=20", headers=headers)
        elif kind == "get":
            connection.request("GET", task, headers=headers)
        elif kind == "create":
            connection.request("POST", path, body=CREATE_BODY, headers=json_headers)
        elif kind == "toggle":
            connection.request("PATCH", f"{task}/complete", headers=headers)
        else:
            connection.request("PUT", task, body=REPLACE_BODY, headers=json_headers)
        response = connection.getresponse()
        body = response.read()
        if response.status >= 300:
            raise RuntimeError(f"{kind}: {response.status} {body[:200]!r}")
    connection.close()


def count(
    command: list[str], env: dict[str, str], cwd: Path, port: int, seeded: Seeded, kind: str, n: int
) -> float:
    """Instructions per request of `command`'s process (and its threads) serving `kind`."""
    log = WORK_DIR / f"callgrind-{port}.log"
    valgrind = [
        "valgrind", "--tool=callgrind", "--instr-atstart=no",
        f"--callgrind-out-file={WORK_DIR / f'callgrind-{port}.out'}", f"--log-file={log}",
    ]  # fmt: skip
    process = subprocess.Popen(
        [*valgrind, *command],
        env={**os.environ, **env},
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_ready(process, port, seeded)
        drive(port, seeded, kind, 100)
        subprocess.run(["callgrind_control", "-i", "on", str(process.pid)], check=True)
        drive(port, seeded, kind, n)
        subprocess.run(["callgrind_control", "-i", "off", str(process.pid)], check=True)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=120)
    collected = re.search(r"Collected : ([\d,]+)", log.read_text())
    if collected is None:
        raise RuntimeError(f"no count in {log}")
    return int(collected[1].replace(",", "")) / n


def _wait_ready(process: subprocess.Popen[bytes], port: int, seeded: Seeded) -> None:
    path, authorization, _ = _first_user(seeded)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server on port {port} exited")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("GET", path, headers={"Authorization": authorization})
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(1)
    raise RuntimeError(f"the server on port {port} never answered")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--requests", type=int, default=300, help="measured requests per kind")
    parser.add_argument("--baseline", metavar="REV", help="also count the API at this revision")
    parser.add_argument(
        "--baseline-reference", metavar="REF", help="also count the reference app at REF"
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", 18600)))
    args = parser.parse_args()
    database_url = args.database_url or DEFAULT_DATABASE_URL
    kinds = [kind for kind in args.kinds.split(",") if kind]
    WORK_DIR.mkdir(exist_ok=True)
    seeded = seed(database_url, SECRET, WORK_DIR)
    with ExitStack() as stack:
        apps: dict[str, tuple[list[str], dict[str, str], Path]] = {
            "api": (
                api_command(args.port + 1, 1),
                api_env(database_url, POOL_SIZE, ROOT),
                WORK_DIR,
            ),
            "reference": (
                reference_command(args.port + 2, 1),
                reference_env(database_url, POOL_SIZE, ROOT),
                ROOT,
            ),
        }
        if args.baseline:
            before = stack.enter_context(baseline_checkout(args.baseline, paths=API_PATHS))
            env = api_env(database_url, POOL_SIZE, before.source)
            apps["baseline"] = (api_command(args.port + 4, 1), env, WORK_DIR)
        if args.baseline_reference:
            floor = stack.enter_context(
                baseline_checkout(args.baseline_reference, paths=REFERENCE_PATHS)
            )
            env = reference_env(database_url, POOL_SIZE, floor.source)
            apps["baseline-reference"] = (reference_command(args.port + 5, 1), env, floor.source)
        results: dict[str, dict[str, float]] = {}
        for name, (command, env, cwd) in apps.items():
            port = int(command[command.index("--port") + 1])
            for kind in kinds:
                per_request = count(command, env, cwd, port, seeded, kind, args.requests)
                results.setdefault(kind, {})[name] = per_request
                asyncio.run(delete_benchmark_rows(database_url, seeded.max_seeded_id))
                print(f"{name} {kind}: {per_request:,.0f}", flush=True)
    write_report(results, args)


def write_report(results: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    names = list(next(iter(results.values())))
    header, rule = "| request | " + " | ".join(names) + " |", "|---|" + "--:|" * len(names)
    rows = [
        f"| {kind} | " + " | ".join(f"{row[name]:,.0f}" for name in names) + " |"
        for kind, row in results.items()
    ]
    if "baseline" in names and "baseline-reference" in names:
        # Throughput goes as one over the instructions: the API's ratio is reference / API.
        header += " API/ref, after | before | change |"
        rule += "--:|--:|--:|"
        for index, row in enumerate(results.values()):
            after = row["reference"] / row["api"]
            before = row["baseline-reference"] / row["baseline"]
            rows[index] += f" {after:.3f} | {before:.3f} | {after / before - 1:+.1%} |"
    lines = [
        f"# Instructions per request, whole server process (commit {commit})",
        "",
        f"`python bench/server_instructions.py {' '.join(sys.argv[1:])}`: {args.requests} "
        "requests of each kind after 100 uncounted ones, one connection, PostgreSQL, one worker "
        "with production defaults (the API) as `run.py` starts it.",
        "",
        header,
        rule,
        *rows,
    ]
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%MZ")
    out = RESULTS_DIR / f"{stamp}-{commit}-server-instructions.md"
    out.write_text("\n".join(lines) + "\n")
    (out.with_suffix(".json")).write_text(json.dumps(results, indent=2))
    print("\n".join(lines))
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
