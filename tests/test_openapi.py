"""The OpenAPI document and Swagger UI: complete enough to generate a client from."""

from httpx import AsyncClient

from support import SECRET, ApiUser


async def test_every_task_operation_documents_bearer_auth_and_its_errors(
    client: AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()

    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        if path.startswith("/api/")
        for method, operation in item.items()
    ]
    assert len(operations) == 10
    for path, method, operation in operations:
        assert operation["security"] == [{"HTTPBearer": []}], (path, method)
        assert {"401", "403", "429", "503"} <= set(operation["responses"]), (path, method)
        if "{task_id}" in path or "{name}" in path:
            assert "404" in operation["responses"], (path, method)
        if method in ("post", "put") or (
            path.endswith(("{task_id}", "{name}")) and method == "patch"
        ):
            assert {"400", "413", "415", "422"} <= set(operation["responses"]), (path, method)


async def test_document_holds_no_secret(client: AsyncClient) -> None:
    response = await client.get("/openapi.json")

    assert SECRET not in response.text


async def test_swagger_ui_is_served(client: AsyncClient) -> None:
    response = await client.get("/docs")

    assert response.status_code == 200
    assert "swagger-ui" in response.text


OPERATION_IDS = {
    ("/api/{user_id}/tags", "get"): "list_tags",
    ("/api/{user_id}/tags/{name}", "patch"): "rename_tag",
    ("/api/{user_id}/tags/{name}", "delete"): "delete_tag",
    ("/api/{user_id}/tasks", "get"): "list_tasks",
    ("/api/{user_id}/tasks", "post"): "create_task",
    ("/api/{user_id}/tasks/{task_id}", "get"): "get_task",
    ("/api/{user_id}/tasks/{task_id}", "put"): "replace_task",
    ("/api/{user_id}/tasks/{task_id}", "patch"): "update_task",
    ("/api/{user_id}/tasks/{task_id}", "delete"): "delete_task",
    ("/api/{user_id}/tasks/{task_id}/complete", "patch"): "toggle_task",
    ("/healthz", "get"): "healthz",
    ("/readyz", "get"): "readyz",
}


async def test_operations_have_clean_ids_and_document_their_headers(client: AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]

    assert {
        (path, method): operation["operationId"]
        for path, item in paths.items()
        for method, operation in item.items()
    } == OPERATION_IDS
    listing = paths["/api/{user_id}/tasks"]["get"]["responses"]["200"]["headers"]
    assert {"X-Total-Count", "Link"} <= set(listing)
    created = paths["/api/{user_id}/tasks"]["post"]["responses"]
    assert {"Location", "ETag"} <= set(created["201"]["headers"])
    assert {"400", "409", "422"} <= set(created)
    task = paths["/api/{user_id}/tasks/{task_id}"]
    assert "ETag" in task["get"]["responses"]["200"]["headers"]
    assert "304" in task["get"]["responses"]
    for method in ("put", "patch", "delete"):
        assert task[method]["responses"]["412"]["headers"]["ETag"], method
        assert any(p["name"] == "If-Match" for p in task[method]["parameters"]), method
    assert any(p["name"] == "If-None-Match" for p in task["get"]["parameters"])


async def test_links_lead_from_a_created_task_to_every_operation_on_it(
    client: AsyncClient,
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]

    links = paths["/api/{user_id}/tasks"]["post"]["responses"]["201"]["links"]

    assert {link["operationId"] for link in links.values()} == {
        "get_task",
        "replace_task",
        "update_task",
        "toggle_task",
        "delete_task",
    }
    for link in links.values():
        assert link["parameters"]["task_id"] == "$response.body#/id"
        assert link["parameters"]["user_id"] == "$request.path.user_id"


async def test_optional_parameters_are_never_documented_as_null(client: AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]

    parameters = [
        parameter
        for item in paths.values()
        for operation in item.values()
        for parameter in operation.get("parameters", [])
    ]
    assert parameters
    for parameter in parameters:
        assert "anyOf" not in parameter["schema"], parameter["name"]
    key = next(p for p in parameters if p["name"] == "Idempotency-Key")
    assert key["schema"]["maxLength"] == 255


async def test_unsupported_methods_are_405_with_allow(alice: ApiUser) -> None:
    task = await alice.create(title="x")

    response = await alice.request("POST", f"/{task['id']}", json={})

    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PATCH, PUT"


async def test_an_oversized_body_is_a_documented_413_on_any_operation(alice: ApiUser) -> None:
    document = (await alice.client.get("/openapi.json")).json()

    response = await alice.request("DELETE", "/1", content=b"x" * (2 * 1024 * 1024))

    assert response.status_code == 413
    delete = document["paths"]["/api/{user_id}/tasks/{task_id}"]["delete"]
    assert "413" in delete["responses"]
