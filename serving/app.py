"""The FastAPI application: ``create_app(settings)``; ``triage serve`` runs it under uvicorn.

Start-up order: the routing policy and the on-call rotas are validated (a bad file stops the process), the
database is migrated (``TRIAGE_DATABASE_MIGRATE_ON_START``), then the model loads in the background: ``/health``
answers at once, ``/ready`` and scoring answer 503 until the model is loaded (or say why it failed to load).

A model from the registry is then followed: every ``TRIAGE_MODEL_POLL_SECONDS`` the server asks which
version the alias names, and when that changes it loads the new version beside the old one and swaps them
(requests in flight finish on the old one). A version that fails to load is never served: the old model
keeps serving, ``/ready`` shows ``reload_error``, and the next poll tries again. Each process (worker)
polls and loads on its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from model.registry import ModelLoadError, RegistryUnavailable, redact, registry_source, resolve_alias
from model.settings import Settings
from serving import webhooks
from serving.api import appeals, health, perspective, queues, reports, trends
from serving.api import webhooks as webhooks_api
from serving.auth import KeyCache
from serving.console import routes as console
from serving.db.engine import current_revision, head_revision, make_engine, make_sessionmaker, upgrade
from serving.deps import MISSING_KEY, AppState
from serving.errors import ApiError, error_response, install_error_handlers
from serving.metrics import Metrics
from serving.model_loader import LoadedModel, load_model, load_registry_version
from serving.oncall import load_rotas
from serving.policy import load_policy
from serving.ratelimit import build_limiter

log = logging.getLogger("serving")
access_log = logging.getLogger("serving.access")


def create_app(settings: Settings, *, model: LoadedModel | None = None) -> FastAPI:
    """The app for ``settings``. Tests pass an already loaded ``model`` to skip loading one."""
    policy = load_policy(settings.routing_policy)
    rotas = load_rotas(settings.on_call_rota_dir, policy)  # on-call contacts per queue; a bad file stops start-up
    engine = make_engine(settings.resolved_database_url)
    state = AppState(settings=settings, engine=engine, sessions=make_sessionmaker(engine), policy=policy,
                     metrics=Metrics(), keys=KeyCache(settings.auth_cache_seconds))
    unavailable = state.metrics.rate_limit_store_unavailable
    state.limiter = build_limiter(settings, on_unavailable=lambda store: unavailable.labels(store).inc())
    state.metrics.policy_info.labels(policy.version).set(1)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(_prepare_database, state)
        log.info("rate limit: %s, %s", state.limiter.describe(), state.limiter.scope,
                 extra={"store": state.limiter.where()})
        serving = asyncio.create_task(_serve_model(state, model), name="triage-model")
        dispatcher = webhooks.dispatcher_for(settings, state.sessions, state.metrics, rotas)  # None: webhooks off
        if dispatcher is not None:
            dispatcher.start()
        try:
            yield
        finally:
            if dispatcher is not None:  # the batch in flight finishes; unsent events wait in the outbox
                await dispatcher.stop()
            # Cancelling stops the poll loop at once; a registry call already running in a worker thread is
            # abandoned (its result discarded), not interrupted.
            serving.cancel()
            await asyncio.wait({serving})
            await asyncio.to_thread(state.close)  # the batching thread, once the requests have finished
            await state.limiter.aclose()
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
    app.include_router(appeals.router)
    app.include_router(trends.router)
    app.include_router(webhooks_api.router)
    app.include_router(perspective.router)
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


async def _serve_model(state: AppState, preloaded: LoadedModel | None) -> None:
    """Load the model; then, when it comes from the registry, follow the alias until cancelled.

    Polling starts whether or not the first load succeeded: a server started before any promotion becomes
    ready once ``champion`` is set."""
    await asyncio.to_thread(_load, state, preloaded)
    settings = state.settings
    if preloaded is not None or settings.model_path is not None or settings.model_poll_seconds <= 0:
        return
    log.info("watching the registry for a new model", extra={"alias": settings.model_alias,
                                                            "poll_seconds": settings.model_poll_seconds})
    while True:
        await asyncio.sleep(settings.model_poll_seconds)
        try:
            await _poll_registry(state)
        except Exception:  # a bug here must not end the polling, nor the server
            log.exception("registry poll failed")


async def _poll_registry(state: AppState) -> None:
    """One poll: if the alias chain names another version than the one served, load it and swap it in."""
    settings = state.settings
    served = state.model
    try:
        version, alias = await asyncio.to_thread(resolve_alias, settings, quiet=True)
    except RegistryUnavailable as exc:
        log.warning("registry unavailable; still serving the loaded model: %s", exc,
                    extra={"version": served.version if served else None})
        return
    except ModelLoadError as exc:
        if served is not None:  # the alias was deleted: keep serving what it named
            log.warning("registry: the alias names no version; still serving the loaded model: %s", exc,
                        extra={"version": served.version, "source": served.source})
        return
    source = registry_source(alias)
    if served is not None and (served.version, served.source) == (version, source):
        state.reload_error = None  # e.g. the alias was moved back after a failed reload
        return

    started = time.perf_counter()
    try:
        model = await asyncio.to_thread(_load_version, state, version, alias)
    except Exception as exc:  # ModelLoadError, or a download or network failure: never serve half a model
        reason = redact(str(exc) if isinstance(exc, ModelLoadError) else f"{type(exc).__name__}: {exc}")
        state.reload_error = f"version {version}: {reason}"
        if state.model is None:
            state.model_error = state.reload_error
        state.metrics.model_reload_failures.inc()
        log.error("model reload failed: %s", state.reload_error, extra={
            "version": version, "source": source, "served_version": served.version if served else None})
        return
    state.serve(model)
    log.info("model reloaded" if served else "model loaded", extra={
        "model": model.name, "version": model.version, "source": model.source,
        "previous_version": served.version if served else None, "previous_source": served.source if served else None,
        "seconds": round(time.perf_counter() - started, 2)})


def _load_version(state: AppState, version: str, alias: str) -> LoadedModel:
    state.detector.load()  # not loaded yet when the first load failed
    return load_registry_version(state.settings, version, alias)


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
        # No traceback: MLflow's messages repeat the tracking URI, which may hold a password.
        state.model_error = redact(f"{type(exc).__name__}: {exc}")
        log.error("model not loaded: %s", state.model_error)
        return
    state.serve(model)
    log.info("model loaded", extra={"model": model.name, "version": model.version, "source": model.source,
                                    "seconds": round(time.perf_counter() - started, 2)})


class _BodyTooLarge(Exception):
    pass


class _NoKey(ApiError, HTTPException):  # type: ignore[misc]  # both have headers: a dict is a Mapping
    """401 for a request without a key whose body the app starts to read. An ``HTTPException``, so that
    FastAPI's body parsing lets it through instead of answering 400; an ``ApiError``, so that each API answers
    it in its own error shape (Perspective's included) with its own handler."""

    def __init__(self) -> None:
        ApiError.__init__(self, 401, MISSING_KEY, headers={"WWW-Authenticate": "Bearer"})
        self.status_code, self.detail = 401, MISSING_KEY


def _presents_key(scope: Scope) -> bool:
    """Whether the request carries an API key anywhere one is read (headers, or Perspective's ``?key=``)."""
    headers = dict(scope["headers"])
    if b"authorization" in headers or b"x-api-key" in headers:
        return True
    return "key" in parse_qs(scope.get("query_string", b"").decode("latin-1"))


def _key_free(path: str) -> bool:
    """The paths whose bodies are read without a key: the console's forms (its sign-in reads the key from one)."""
    return path == "/review" or path.startswith("/review/")


#: On every response, unless the route set its own.
SECURITY_HEADERS = ((b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"))
#: On every response that is not an HTML page: JSON (or metrics text) needs no script, style or frame. Pages set
#: their own (the console a strict one; /docs loads Swagger UI's scripts and keeps the browser's default).
API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
#: On every answer but the few below: the API's answers carry report data (scores, queue items, even errors name
#: report ids), which no browser or proxy may keep.
NO_STORE = (b"cache-control", b"no-store")
#: What may be cached: liveness, the API description, Swagger UI, the console's scripts and styles.
CACHEABLE = ("/health", "/openapi.json", "/docs", "/redoc", "/review/static/")


def with_security_headers(path: str, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` plus the security headers the route did not set itself (the route's own value wins)."""
    present = {name.lower() for name, _ in headers}
    content_type = next((value for name, value in headers if name.lower() == b"content-type"), b"")
    wanted = [*SECURITY_HEADERS]
    if not content_type.lower().startswith(b"text/html"):
        wanted.append(API_CSP)
    if not path.startswith(CACHEABLE):
        wanted.append(NO_STORE)
    return [*headers, *(header for header in wanted if header[0] not in present)]


class RequestMiddleware:
    """Request id, access log (no bodies, no keys), Prometheus counters and latency, body size limit, security
    headers.

    A request that presents no key is refused (401) when the app starts to read its body: FastAPI parses a body
    before it runs the dependencies that check the key, so otherwise a caller without a key would learn that its
    JSON is invalid (400, 422) rather than that it needs a key."""

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

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*with_security_headers(scope["path"], list(message.get("headers", []))),
                                      (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await self._too_large(scope, receive, send_with_id)
            self._observe(scope, 413, started, request_id)
            return

        seen = 0
        keyless = not _presents_key(scope) and not _key_free(scope["path"])

        async def limited_receive() -> Message:
            nonlocal seen
            if keyless:
                raise _NoKey
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send_with_id)
        except _BodyTooLarge:
            if not response_started:
                status = 413
                await self._too_large(scope, receive, send_with_id)
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
