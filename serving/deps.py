"""FastAPI dependencies: the app's state, the caller's API key and role, the scoring service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from model.settings import Settings
from serving.auth import KeyCache, Principal, Role, authenticate
from serving.batching import MicroBatcher
from serving.errors import ApiError
from serving.language import LanguageDetector
from serving.metrics import Metrics
from serving.model_loader import LoadedModel
from serving.policy import RoutingPolicy
from serving.ratelimit import Limiter, RateLimiter
from serving.service import ScoringService

#: Length bucketing of a merged batch: the scorer runs it shortest text first, and a text joins the current
#: onnxruntime call only if that adds at most this many pad tokens to it (a call's fixed cost is about 8 tokens'
#: worth). Measured on the demo model (2 cores, CPU per report): groups of 8 requests of mixed length 29 ms padded
#: in one call, 19 ms bucketed; one report per call 20.5 ms.
MODEL_CALL_MAX_PADDING = 8


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    policy: RoutingPolicy
    metrics: Metrics
    detector: LanguageDetector = field(default_factory=LanguageDetector)
    model: LoadedModel | None = None
    service: ScoringService | None = None
    model_error: str | None = None
    #: Why the registry version the alias names now is not the one served ("version 3: ..."); None when it is.
    reload_error: str | None = None
    #: Set at shutdown: a model loaded after that gets no batching thread.
    closed: bool = False
    keys: KeyCache = field(default_factory=lambda: KeyCache(0))
    #: Per-key rate limit (off unless create_app sets it from the settings: TRIAGE_RATE_LIMIT_STORE).
    limiter: Limiter = field(default_factory=lambda: RateLimiter(0, 0))

    def serve(self, model: LoadedModel) -> None:
        """Serve ``model`` from now on. Requests in flight keep the service they already hold, so the swap
        needs no lock: each request reads ``service`` once (``get_service``). The old service's batcher
        scores what it holds and stops (without waiting here: this may run on the event loop); a request
        that reaches it later scores unbatched."""
        settings = self.settings
        call = partial(model.scorer.probabilities, batch_size=settings.batch_max_size,
                       max_padding=MODEL_CALL_MAX_PADDING)
        batcher = MicroBatcher(call, max_wait_ms=settings.batch_max_wait_ms, max_batch=settings.batch_max_size,
                               metrics=self.metrics, name=f"triage-batcher-{model.version}")
        previous = self.service
        self.service = ScoringService(model, self.policy, self.detector, self.sessions, self.metrics,
                                      batcher=batcher, webhook_events=settings.webhook_url is not None,
                                      group_commit_max_reports=settings.group_commit_max_reports)
        if previous is not None:
            previous.close(wait=False)
        if self.closed:  # a load that finished after shutdown began
            batcher.close(wait=False)
        self.model, self.model_error, self.reload_error = model, None, None
        self.metrics.model_info.clear()
        self.metrics.model_info.labels(model.name, model.version, model.source).set(1)

    def close(self) -> None:
        """At shutdown, once requests have finished: stop the batching thread."""
        self.closed = True
        if self.service is not None:
            self.service.close()


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.triage
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else None
    return request.headers.get("x-api-key")


def _authenticate(state: AppState, key: str) -> Principal | None:
    with state.sessions() as session:
        principal = authenticate(session, key)
    if principal is not None:
        state.keys.put(key, principal)
    return principal


MISSING_KEY = "missing API key: send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"


async def admit(request: Request, state: AppState, key: str | None, roles: tuple[Role, ...]) -> Principal:
    """The principal of ``key`` if it may act as one of ``roles`` (admins always); otherwise 401 or 403, or 429
    when the key is over its rate limit (``TRIAGE_RATE_LIMIT_PER_SECOND``; checked before the role, so that
    refused requests count too).

    Runs on the event loop: a key seen in the last ``TRIAGE_AUTH_CACHE_SECONDS`` costs no database read and no
    thread hop; otherwise the lookup runs in the thread pool. The rate limit costs nothing more with the
    ``memory`` store, one Redis round trip (asynchronous) with ``redis``, one statement in the thread pool with
    ``database``; a shared store that fails is never an error here (``serving.ratelimit``)."""
    if not key:
        raise ApiError(401, MISSING_KEY, headers={"WWW-Authenticate": "Bearer"})
    principal = state.keys.get(key) or await run_in_threadpool(_authenticate, state, key)
    if principal is None:
        raise ApiError(401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    request.state.key_id = principal.key_id
    limited = await state.limiter.admit(principal.key_id)
    if not limited.allowed:
        state.metrics.rate_limited.labels(principal.role.value).inc()
        raise ApiError(429, f"rate limit exceeded for this key: {state.limiter.describe()} "
                            f"({state.limiter.scope}); retry after {limited.retry_after_header} s",
                       headers={"Retry-After": limited.retry_after_header})
    if not principal.may(*roles):
        allowed = ", ".join(r.value for r in (*roles, Role.ADMIN) if r is Role.ADMIN or r in roles)
        raise ApiError(403, f"this key has role {principal.role.value!r}; "
                            f"{request.method} {request.url.path} needs one of: {allowed}")
    return principal


def require(*roles: Role) -> Callable[[Request, AppState], Awaitable[Principal]]:
    """A dependency that admits a valid key, sent in a header, of one of ``roles`` (see ``admit``)."""

    async def dependency(request: Request, state: StateDep) -> Principal:
        return await admit(request, state, presented_key(request), roles)

    return dependency


IntakeKey = Annotated[Principal, Depends(require(Role.INTAKE))]
ReaderKey = Annotated[Principal, Depends(require(Role.INTAKE, Role.REVIEWER))]
ReviewerKey = Annotated[Principal, Depends(require(Role.REVIEWER))]
AdminKey = Annotated[Principal, Depends(require())]


async def get_service(state: StateDep) -> ScoringService:
    if state.service is None:
        reason = state.model_error or "the model is still loading"
        raise ApiError(503, f"not ready to score: {reason}", headers={"Retry-After": "5"})
    return state.service


ServiceDep = Annotated[ScoringService, Depends(get_service)]
