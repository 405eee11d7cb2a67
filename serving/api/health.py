"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from serving.db.engine import ping
from serving.deps import AdminKey, StateDep
from serving.schemas import ErrorBody

router = APIRouter(tags=["operations"])


@router.get("/health", summary="The process is alive")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="A model is loaded and the database answers (503 until then)",
            responses={503: {"description": "Not ready: the body says what is missing."}})
async def ready(state: StateDep) -> JSONResponse:
    body: dict[str, Any] = {"model": None, "database": "ok", "policy_version": state.policy.version}
    ok = True
    try:
        await run_in_threadpool(ping, state.engine)
    except Exception as exc:  # any driver error means "not ready", and the reason is what an operator needs
        ok, body["database"] = False, f"unavailable: {type(exc).__name__}"
    model = state.model  # read once: a reload may swap it meanwhile
    if model is None:
        ok = False
        body["model"] = {"status": "error", "error": state.model_error} if state.model_error else {"status": "loading"}
    else:
        # A failed reload leaves the previous model serving, so the service stays ready; the body says why the
        # version the registry names is not the one served.
        body["model"] = {"status": "loaded", "name": model.name, "version": model.version, "source": model.source}
        if state.reload_error:
            body["model"]["reload_error"] = state.reload_error
    body["status"] = "ready" if ok else "not_ready"
    return JSONResponse(body, status_code=200 if ok else 503, headers=None if ok else {"Retry-After": "5"})


@router.get("/metrics", summary="Prometheus metrics (admin key)", response_class=PlainTextResponse,
            responses={code: {"model": ErrorBody, "description": text} for code, text in {
                401: "No API key, or an invalid or revoked one.",
                403: "Only admin keys may read the metrics.",
                429: "This key is over its rate limit; retry after Retry-After seconds.",
            }.items()})
def metrics(state: StateDep, _: AdminKey) -> Response:
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
