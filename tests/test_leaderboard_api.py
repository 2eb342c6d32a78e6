"""The JSON API against its own OpenAPI schema, with schemathesis: generated requests to every
operation (with and without a valid token) never cause a server error, and every answer has a
documented status code, content type and body schema."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis import checks

from rclicks.leaderboard.db import create_token
from rclicks.leaderboard.server import Settings, create_app
from tests.test_leaderboard import bundle_of


@pytest.fixture(scope="module")
def api(tiny_benchmark, tmp_path_factory):
    """An app with its tables, the benchmark's reference and one accepted submission."""
    reg, run = tiny_benchmark
    root = tmp_path_factory.mktemp("api")
    app = create_app(
        Settings(f"sqlite:///{root / 'lb.db'}", root / "data", str(reg), max_upload=1 << 20)
    )
    with TestClient(app) as client:  # runs the start-up: tables and reference
        with app.state.sessions() as s:
            token = create_token(s, "schemathesis")
        r = client.post(
            "/api/submissions",
            content=bundle_of(run),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/zip"},
        )
        assert r.status_code == 201, r.text
    return app, token


@pytest.fixture(scope="module")
def api_schema(api):
    return schemathesis.openapi.from_asgi("/openapi.json", api[0])


def test_the_schema_documents_every_endpoint(api_schema):
    paths = api_schema.raw_schema["paths"]
    assert {"/api/benchmarks", "/api/leaderboard", "/api/submissions",
            "/api/submissions/{submission_id}"} <= set(paths)  # fmt: skip
    post = paths["/api/submissions"]["post"]
    assert "application/zip" in post["requestBody"]["content"]
    assert {"400", "401", "409", "413", "422"} <= set(post["responses"])


# a bundle is opaque bytes to the schema: generate and send it like any binary body
schemathesis.serializer.alias("application/zip", "application/octet-stream")


def _operations(api_schema) -> list:
    return [result.ok() for result in api_schema.get_all_operations()]


# schemathesis' own pytest integration (`from_fixture`) does not run under pytest 9, so each
# operation's strategies are driven with hypothesis directly, positive and negative data.
def _fuzz(op, mode: str, token: str) -> None:
    from hypothesis import given

    post = op.method.upper() == "POST"

    @given(case=op.as_strategy(generation_mode=schemathesis.GenerationMode(mode)))
    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case) -> None:
        if post:  # past the token, into the bundle checks. Any bytes fit the schema of a
            # binary body, so "schema-valid data is accepted" cannot hold: a random body is
            # rightly a 400; every other check applies.
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
            case.call_and_validate(excluded_checks=[checks.positive_data_acceptance])
        else:
            case.call_and_validate()

    check()


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_api_conforms_to_its_openapi_schema(mode, api, api_schema):
    _app, token = api
    operations = _operations(api_schema)
    assert len(operations) == 5
    for op in operations:
        if mode == "negative" and op.method.upper() != "POST" and op.path != "/api/leaderboard":
            continue  # nothing to get wrong: no body, and only an integer path parameter
        _fuzz(op, mode, token)
