"""The OpenAPI document and Swagger UI: complete enough to generate a client from."""

from httpx import AsyncClient

from conftest import SECRET


async def test_every_task_operation_documents_bearer_auth_and_its_errors(
    client: AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()

    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]
    assert len(operations) == 7
    for path, method, operation in operations:
        assert operation["security"] == [{"HTTPBearer": []}], (path, method)
        assert {"401", "403"} <= set(operation["responses"]), (path, method)
        if "{task_id}" in path:
            assert "404" in operation["responses"], (path, method)
        if method in ("post", "put") or (path.endswith("{task_id}") and method == "patch"):
            assert {"400", "413", "415", "422"} <= set(operation["responses"]), (path, method)


async def test_document_holds_no_secret(client: AsyncClient) -> None:
    response = await client.get("/openapi.json")

    assert SECRET not in response.text


async def test_swagger_ui_is_served(client: AsyncClient) -> None:
    response = await client.get("/docs")

    assert response.status_code == 200
    assert "swagger-ui" in response.text
