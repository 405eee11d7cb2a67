"""The FastAPI application: ``create_app(settings)``; ``triage serve`` runs it under uvicorn.

Start-up order: the routing policy is validated (a bad file stops the process), the database is migrated
(``TRIAGE_DATABASE_MIGRATE_ON_START``), then the model loads in the background: ``/health`` answers at
once, ``/ready`` and scoring answer 503 until the model is loaded (or say why it failed to load).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from model.settings import Settings
from serving.api import health, queues, reports, trends
from serving.console import routes as console
from serving.db.engine import current_revision, head_revision, make_engine, make_sessionmaker, upgrade
from serving.deps import AppState
from serving.errors import error_response, install_error_handlers
from serving.metrics import Metrics
from serving.model_loader import LoadedModel, ModelLoadError, load_model
from serving.policy import load_policy

log = logging.getLogger("serving")
access_log = logging.getLogger("serving.access")


def create_app(settings: Settings, *, model: LoadedModel | None = None) -> FastAPI:
    """The app for ``settings``. Tests pass an already loaded ``model`` to skip loading one."""
    policy = load_policy(settings.routing_policy)
    engine = make_engine(settings.resolved_database_url)
    state = AppState(settings=settings, engine=engine, sessions=make_sessionmaker(engine), policy=policy,
                     metrics=Metrics())
    state.metrics.policy_info.labels(policy.version).set(1)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(_prepare_database, state)
        loading = asyncio.create_task(asyncio.to_thread(_load, state, model))
        try:
            yield
        finally:
            loading.cancel()
            engine.dispose()

    app = FastAPI(
        title="Triage",
        version="0.1.0",
        summary="Risk scoring and routing of content reports for trust & safety teams.",
        lifespan=lifespan,
    )
    app.state.triage = state
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(reports.router)
    app.include_router(queues.router)
    app.include_router(trends.router)
    console.install(app, settings)
    app.add_middleware(RequestMiddleware, metrics=state.metrics, max_body=settings.max_request_bytes)
    return app


def app_from_env() -> FastAPI:
    """The app for uvicorn's factory mode (``serving.app:app_from_env``): settings from the environment."""
    from model.settings import get_settings

    return create_app(get_settings())


def _prepare_database(state: AppState) -> None:
    if state.settings.database_migrate_on_start:
        upgrade(state.engine)
        return
    current, head = current_revision(state.engine), head_revision()
    if current != head:
        raise RuntimeError(f"the database is at migration {current}, this code needs {head}: "
                           "run `triage db upgrade` (or set TRIAGE_DATABASE_MIGRATE_ON_START=true)")


def _load(state: AppState, preloaded: LoadedModel | None) -> None:
    started = time.perf_counter()
    try:
        model = preloaded or load_model(state.settings)
        state.detector.load()
    except ModelLoadError as exc:
        state.model_error = str(exc)
        log.error("model not loaded: %s", exc)
        return
    except Exception as exc:  # a registry or network failure: say so in /ready instead of dying silently
        state.model_error = f"{type(exc).__name__}: {exc}"
        log.exception("model not loaded")
        return
    state.serve(model)
    log.info("model loaded", extra={"model": model.name, "version": model.version, "source": model.source,
                                    "seconds": round(time.perf_counter() - started, 2)})


class _BodyTooLarge(Exception):
    pass


class RequestMiddleware:
    """Request id, access log (no bodies, no keys), Prometheus counters and latency, body size limit."""

    def __init__(self, app: ASGIApp, metrics: Metrics, max_body: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        status = 500
        response_started = False
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await self._too_large(scope, receive, send)
            self._observe(scope, 413, started, request_id)
            return

        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise _BodyTooLarge
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_id)
        except _BodyTooLarge:
            if not response_started:
                status = 413
                await self._too_large(scope, receive, send)
        finally:
            self._observe(scope, status, started, request_id)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, "payload_too_large",
                                  f"the request body is larger than {self.max_body} bytes")
        await response(scope, receive, send)

    def _observe(self, scope: Scope, status: int, started: float, request_id: str) -> None:
        elapsed = time.perf_counter() - started
        route: Any = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        method = scope["method"]
        self.metrics.requests.labels(method, template, str(status)).inc()
        self.metrics.latency.labels(method, template).observe(elapsed)
        key_id = scope.get("state", {}).get("key_id")  # set by the auth dependency: the public id only
        access_log.info("request", extra={"request_id": request_id, "method": method, "route": template,
                                          "status": status, "ms": round(elapsed * 1000, 2), "key_id": key_id})
