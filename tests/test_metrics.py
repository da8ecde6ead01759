"""`/metrics`: Prometheus text by route template, auth failures by reason, the DB pool; and
one consistent view when several worker processes serve."""

import re
from pathlib import Path

import httpx
from httpx import AsyncClient

from backend.main import create_app

from processes import running_server
from support import SECRET, ApiUser, make_settings, serving, token_for


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series in the exposition text (0 when absent)."""
    wanted = {f'{key}="{value}"' for key, value in labels.items()}
    for line in text.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if match and match[1] == name:
            found = set(re.findall(r'\w+="[^"]*"', match[2] or ""))
            if wanted <= found and len(found) == len(wanted):
                return float(match[3])
    return 0.0


async def test_requests_are_counted_by_route_template_method_and_status(alice: ApiUser) -> None:
    created = await alice.create(title="Count me")
    await alice.request("GET", f"/{created['id']}")
    await alice.request("GET", "/999999")

    text = (await alice.client.get("/metrics")).text

    route = "/api/{user_id}/tasks/{task_id}"
    assert sample(text, "http_requests_total", route=route, method="GET", status="200") == 1
    assert sample(text, "http_requests_total", route=route, method="GET", status="404") == 1
    assert (
        sample(
            text, "http_requests_total", route="/api/{user_id}/tasks", method="POST", status="201"
        )
        == 1
    )
    assert (
        sample(
            text,
            "http_request_duration_seconds_count",
            route=route,
            method="GET",
            status="200",
        )
        == 1
    )
    assert "alice-id" not in text


async def test_auth_failures_are_counted_by_reason(client: AsyncClient) -> None:
    await client.get("/api/alice-id/tasks")
    await client.get("/api/alice-id/tasks")
    expired = token_for("alice-id", expires_in=-3600)
    await client.get("/api/alice-id/tasks", headers={"Authorization": f"Bearer {expired}"})
    forged = token_for("alice-id", secret="another-secret-" + "x" * 32)
    await client.get("/api/alice-id/tasks", headers={"Authorization": f"Bearer {forged}"})

    text = (await client.get("/metrics")).text

    assert sample(text, "auth_failures_total", reason="missing") == 2
    assert sample(text, "auth_failures_total", reason="expired") == 1
    assert sample(text, "auth_failures_total", reason="bad_signature") == 1


async def test_database_pool_connections_are_reported(alice: ApiUser) -> None:
    await alice.create()

    text = (await alice.client.get("/metrics")).text

    assert sample(text, "db_pool_connections", state="in_use") == 0
    assert sample(text, "db_pool_connections", state="idle") >= 1


async def test_metrics_can_be_turned_off(database_url: str) -> None:
    app = create_app(make_settings(database_url, metrics_enabled=False))

    async with serving(app) as client:
        response = await client.get("/metrics")
        refused = await client.get("/api/alice-id/tasks")

    assert response.status_code == 404
    assert refused.status_code == 401


def test_several_workers_report_one_sum(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'tasks.db'}",
        "BETTER_AUTH_SECRET": SECRET,
        "RATE_LIMIT_ENABLED": "false",
    }
    for name in ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir"):
        env.pop(name, None)
    requests = 24
    with running_server(env, tmp_path, workers=2) as server:
        for _ in range(requests):
            # A new connection each time, so the kernel may hand it to either worker.
            assert httpx.get(f"{server.base_url}/healthz").status_code == 200
        scrapes = [httpx.get(f"{server.base_url}/metrics").text for _ in range(6)]

    counts = {
        sample(text, "http_requests_total", route="/healthz", method="GET", status="200")
        for text in scrapes
    }
    # The readiness wait of running_server adds its own /healthz requests before ours.
    assert len(counts) == 1
    assert counts.pop() >= requests
    assert "http_request_duration_seconds_bucket" in scrapes[0]


async def test_unknown_methods_share_one_label(client: AsyncClient) -> None:
    for method in ("BREW", "PROPFIND", "BREW"):
        assert (await client.request(method, "/healthz")).status_code == 405

    text = (await client.get("/metrics")).text

    assert sample(text, "http_requests_total", route="/healthz", method="OTHER", status="405") == 3
    assert "BREW" not in text
