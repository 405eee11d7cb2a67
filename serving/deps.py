"""FastAPI dependencies: the app's state, the caller's API key and role, the scoring service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from model.settings import Settings
from serving.auth import Principal, Role, authenticate
from serving.errors import ApiError
from serving.language import LanguageDetector
from serving.metrics import Metrics
from serving.model_loader import LoadedModel
from serving.policy import RoutingPolicy
from serving.service import ScoringService


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

    def serve(self, model: LoadedModel) -> None:
        """Serve ``model`` from now on. Requests in flight keep the service they already hold, so the swap
        needs no lock: each request reads ``service`` once (``get_service``)."""
        self.service = ScoringService(model, self.policy, self.detector, self.sessions, self.metrics)
        self.model, self.model_error, self.reload_error = model, None, None
        self.metrics.model_info.clear()
        self.metrics.model_info.labels(model.name, model.version, model.source).set(1)


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.triage
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else None
    return request.headers.get("x-api-key")


def require(*roles: Role) -> Callable[[Request, AppState], Principal]:
    """A dependency that admits a valid key of one of ``roles`` (admins always) and answers 401 or 403."""
    allowed = ", ".join(r.value for r in (*roles, Role.ADMIN) if r is Role.ADMIN or r in roles)

    def dependency(request: Request, state: StateDep) -> Principal:
        key = presented_key(request)
        if not key:
            raise ApiError(401, "missing API key: send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
                           headers={"WWW-Authenticate": "Bearer"})
        with state.sessions() as session:
            principal = authenticate(session, key)
        if principal is None:
            raise ApiError(401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"})
        request.state.key_id = principal.key_id
        if not principal.may(*roles):
            raise ApiError(403, f"this key has role {principal.role.value!r}; "
                                f"{request.method} {request.url.path} needs one of: {allowed}")
        return principal

    return dependency


IntakeKey = Annotated[Principal, Depends(require(Role.INTAKE))]
ReaderKey = Annotated[Principal, Depends(require(Role.INTAKE, Role.REVIEWER))]
ReviewerKey = Annotated[Principal, Depends(require(Role.REVIEWER))]
AdminKey = Annotated[Principal, Depends(require())]


def get_service(state: StateDep) -> ScoringService:
    if state.service is None:
        reason = state.model_error or "the model is still loading"
        raise ApiError(503, f"not ready to score: {reason}", headers={"Retry-After": "5"})
    return state.service


ServiceDep = Annotated[ScoringService, Depends(get_service)]
