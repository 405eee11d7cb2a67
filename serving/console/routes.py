"""The review console's pages: sign-in with a reviewer key, queue overview, item page, decisions.

Sessions are signed cookies (``TRIAGE_SESSION_SECRET``; no default, the console is off without it) that
name the key id only; the key is checked on every request, so revoking it signs the reviewer out. Every
form carries a CSRF token bound to the session. Pages are sent with ``Cache-Control: no-store`` and a
strict Content-Security-Policy: they show sensitive content. Viewing, revealing, claiming, releasing and
deciding are all audited (the last three by ``serving.queues``).
"""

from __future__ import annotations

import hmac
import re
import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy import select
from starlette.middleware.sessions import SessionMiddleware

from model.schema import ReviewAction, ReviewDecision
from model.settings import Settings
from model.taxonomy import get_taxonomy
from serving import audit, queues
from serving.api.queues import count_appeal_outcomes, decide_item, item_out, queue_overview
from serving.api.trends import trends_out
from serving.auth import Principal, Role, authenticate
from serving.db.engine import transaction
from serving.db.models import ApiKeyRow, QueueItemRow, utcnow
from serving.deps import AppState, get_state
from serving.policy import MARKET_NAME_PATTERN, QUEUE_NAME_PATTERN
from serving.qa import agreement_report
from serving.schemas import ItemOut

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(prefix="/review", include_in_schema=False)

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self'; "
                               "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class SignInRequired(Exception):
    pass


class ConsoleError(Exception):
    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


def install(app: FastAPI, settings: Settings) -> None:
    """Mount the console on ``app``: pages, static files, sessions, its error pages."""
    app.mount("/review/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.include_router(router)
    if settings.session_secret is not None:
        app.add_middleware(
            SessionMiddleware, secret_key=settings.session_secret.get_secret_value(),
            session_cookie="triage_review", max_age=settings.session_max_age_hours * 3600, same_site="strict",
            https_only=settings.session_https_only,
        )

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _: SignInRequired) -> Response:
        return RedirectResponse(request.url_for("console-login"), status_code=303)

    @app.exception_handler(ConsoleError)
    async def _error(request: Request, exc: ConsoleError) -> Response:
        return page(request, "error.html", {"title": exc.title, "message": exc.message, "status": exc.status},
                    status=exc.status)


def _session(request: Request) -> dict[str, Any]:
    if "session" not in request.scope:
        raise ConsoleError(503, "The review console is off",
                           "Set TRIAGE_SESSION_SECRET (32 or more random characters) and restart the server.")
    session: dict[str, Any] = request.session
    return session


def csrf_token(request: Request) -> str:
    session = _session(request)
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    token: str = session["csrf"]
    return token


def check_csrf(request: Request, token: str) -> None:
    expected = _session(request).get("csrf")
    if not expected or not hmac.compare_digest(str(expected), token):
        raise ConsoleError(403, "This form has expired", "Reload the page and try again (CSRF token mismatch).")


def page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    reviewer = getattr(request.state, "reviewer", None)
    flash = _session(request).pop("flash", None) if "session" in request.scope else None
    base = {"reviewer": reviewer, "csrf_token": csrf_token(request) if "session" in request.scope else "",
            "flash": flash[0] if flash else None, "flash_error": bool(flash and flash[1])}
    response = templates.TemplateResponse(request, template, {**base, **context}, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def flash(request: Request, message: str, error: bool = False) -> None:
    _session(request)["flash"] = (message, error)


def redirect(request: Request, name: str, **params: Any) -> RedirectResponse:
    response = RedirectResponse(request.url_for(name, **params), status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response


def signed_in(request: Request, state: Annotated[AppState, Depends(get_state)]) -> Principal:
    key_id = _session(request).get("key_id")
    if not key_id:
        raise SignInRequired
    with state.sessions() as session:
        row = session.scalars(select(ApiKeyRow).where(ApiKeyRow.key_id == key_id)).one_or_none()
    if row is None or row.revoked_at is not None or row.role not in (Role.REVIEWER, Role.ADMIN):
        _session(request).clear()
        raise SignInRequired
    principal = Principal.of(row)
    request.state.reviewer = principal
    request.state.key_id = principal.key_id
    return principal


Reviewer = Annotated[Principal, Depends(signed_in)]
State = Annotated[AppState, Depends(get_state)]
Csrf = Annotated[str, Form(alias="csrf_token")]


@router.get("/login", name="console-login")
def login_form(request: Request) -> HTMLResponse:
    _session(request)  # the console is off without a session secret: say how to turn it on
    return page(request, "login.html", {})


@router.post("/login", name="console-login-submit")
def login(request: Request, state: State, token: Csrf, key: Annotated[str, Form(max_length=200)]) -> Response:
    check_csrf(request, token)
    with transaction(state.sessions) as session:
        principal = authenticate(session, key.strip())
        if principal is None or not principal.may(Role.REVIEWER):
            return page(request, "login.html", {"flash": "That key is not an active reviewer key.",
                                                "flash_error": True}, status=401)
        audit.record(session, principal.key_id, "console.signed_in", "api_key", principal.key_id, {})
    _session(request).clear()
    _session(request).update({"key_id": principal.key_id, "csrf": secrets.token_urlsafe(32)})
    return redirect(request, "console-queues")


@router.post("/logout", name="console-logout")
def logout(request: Request, token: Csrf) -> Response:
    check_csrf(request, token)
    _session(request).clear()
    return redirect(request, "console-login")


@router.get("", name="console-queues")
def queues_page(request: Request, state: State, reviewer: Reviewer) -> HTMLResponse:
    now = utcnow()
    with state.sessions() as session:
        listed = queue_overview(session, now)
        mine = list(session.scalars(select(QueueItemRow).where(
            QueueItemRow.status == queues.CLAIMED, QueueItemRow.claimed_by == reviewer.key_id,
            QueueItemRow.lease_expires_at >= now)))
        qa = agreement_report(session)
    markets = state.policy.markets
    languages = {market: sorted(codes) for market, codes in markets.languages.items()}
    yours = {market for market, codes in markets.languages.items() if codes & reviewer.languages}
    return page(request, "queues.html", {"queues": listed, "mine": mine, "qa": qa, "market_languages": languages,
                                         "other_market": markets.other, "your_markets": yours})


#: Queue and market names as the routing policy allows them (``serving.policy``), checked as the API checks
#: them: anything else names nothing and is refused, never passed to the database.
QUEUE_NAME = re.compile(QUEUE_NAME_PATTERN)
MARKET_NAME = re.compile(MARKET_NAME_PATTERN)


@router.post("/queues/{queue}/claim", name="console-claim")
def claim(request: Request, queue: str, state: State, reviewer: Reviewer, token: Csrf,
          market: Annotated[str, Form()] = "") -> Response:
    """The next item of ``queue`` (of its language ``market`` only, when the form names one): one in the
    reviewer's languages first, then the most urgent."""
    check_csrf(request, token)
    if not QUEUE_NAME.fullmatch(queue):
        raise ConsoleError(422, "No such queue", "Queue names are lower-case letters, digits and underscores.")
    if market and not MARKET_NAME.fullmatch(market):
        raise ConsoleError(422, "No such language market",
                           "Market names are lower-case letters, digits and underscores, 32 at most.")
    with transaction(state.sessions) as session:
        item = queues.claim_next(session, queue, reviewer, state.policy, market=market or None)
        item_id = item.id if item is not None else None
    if item_id is None:
        flash(request, f"Nothing to claim in {queue}{f' · {market}' if market else ''}.")
        return redirect(request, "console-queues")
    return redirect(request, "console-item", item_id=item_id)


def _explanation(state: AppState, item: ItemOut) -> dict[str, Any] | None:
    if state.service is None:
        return None
    from model.explain import explain

    # Each word is masked and the text re-scored alone (batch_size 1: int8 scores shift with the company a
    # text keeps in a batch); 30 words at most keeps the page under about a second on two cores.
    result = explain(state.service.model.scorer, item.report.text, max_words=30, batch_size=1)
    scale = max((abs(w.weight) for w in result.words), default=0.0) or 1.0

    def colour(weight: float) -> str:
        alpha = min(abs(weight) / scale, 1.0) * 0.55
        return f"rgba(179, 38, 30, {alpha:.2f})" if weight > 0 else f"rgba(31, 95, 191, {alpha:.2f})"

    return {"target": result.target, "baseline": result.baseline, "truncated": result.truncated,
            "words": [{"text": w.text, "weight": w.weight, "colour": colour(w.weight)} for w in result.words]}


def _item_page(request: Request, state: AppState, reviewer: Principal, item_id: int,
               form: dict[str, Any] | None = None, status: int = 200) -> HTMLResponse:
    try:
        with transaction(state.sessions) as session:
            item = item_out(session, queues.view_item(session, item_id, reviewer))
    except queues.QueueError as exc:
        raise ConsoleError(exc.status, "Not available", exc.message) from exc
    d = item.decision
    contested = item.appeal.contested.decision if item.appeal is not None else None
    if form is None and contested is not None:  # an appeal starts from the labels it contests, not the model's
        form = {"risk_tier": contested.risk_tier, "action": "", "policy_areas": contested.policy_areas, "note": ""}
    form = form or {"risk_tier": d.risk.tier, "action": "",
                    "policy_areas": [a.area for a in d.policy_areas if a.predicted], "note": ""}
    taxonomy = get_taxonomy()
    return page(request, "item.html", {
        "item": item, "form": form, "tiers": taxonomy.tier_names, "areas": taxonomy.area_names,
        "actions": [a.value for a in ReviewAction], "explanation": _explanation(state, item),
    }, status=status)


@router.get("/items/{item_id}", name="console-item")
def item_page(request: Request, item_id: int, state: State, reviewer: Reviewer) -> HTMLResponse:
    return _item_page(request, state, reviewer, item_id)


@router.post("/items/{item_id}/reveal", name="console-reveal")
def reveal(request: Request, item_id: int, state: State, reviewer: Reviewer, token: Csrf) -> Response:
    check_csrf(request, token)
    with transaction(state.sessions) as session:
        audit.record(session, reviewer.key_id, "item.content_revealed", "queue_item", str(item_id), {})
    return Response(status_code=204)


@router.post("/items/{item_id}/release", name="console-release")
def release(request: Request, item_id: int, state: State, reviewer: Reviewer, token: Csrf) -> Response:
    check_csrf(request, token)
    try:
        with transaction(state.sessions) as session:
            queues.release(session, item_id, reviewer)
    except queues.QueueError as exc:
        raise ConsoleError(exc.status, "Not released", exc.message) from exc
    flash(request, f"Released item {item_id}.")
    return redirect(request, "console-queues")


@router.post("/items/{item_id}/decide", name="console-decide")
def decide(
    request: Request, item_id: int, state: State, reviewer: Reviewer, token: Csrf,
    risk_tier: Annotated[str, Form()] = "",
    action: Annotated[str, Form()] = "",
    policy_areas: Annotated[list[str] | None, Form()] = None,
    note: Annotated[str, Form(max_length=4000)] = "",
    next_item: Annotated[str, Form(alias="next")] = "",
) -> Response:
    check_csrf(request, token)
    form = {"risk_tier": risk_tier, "action": action, "policy_areas": policy_areas or [], "note": note}
    try:
        decision = ReviewDecision.model_validate({**form, "note": note.strip() or None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'decision'}: "
                             f"{str(e['msg']).removeprefix('Value error, ')}" for e in exc.errors())
        flash(request, f"Not decided: {problems}", error=True)
        return _item_page(request, state, reviewer, item_id, form=form, status=422)
    outcomes: list[str] = []
    try:
        with transaction(state.sessions) as session:
            item = queues.get_item(session, item_id)
            queue = item.queue
            decide_item(session, state, item_id, reviewer, decision, outcomes)
    except queues.QueueError as exc:
        raise ConsoleError(exc.status, "Not decided", exc.message) from exc
    count_appeal_outcomes(state, outcomes)
    appeal = f" The appeal is {outcomes[0]}." if outcomes else ""
    flash(request, f"Decided item {item_id}: {decision.action.value.replace('_', ' ')}.{appeal}")
    if next_item:
        return claim(request, queue, state, reviewer, token)
    return redirect(request, "console-queues")


@router.get("/trends", name="console-trends")
def trends_page(request: Request, state: State, _: Reviewer, window_minutes: int = 60,
                windows: int = 24) -> HTMLResponse:
    window_minutes, windows = min(max(window_minutes, 5), 7 * 24 * 60), min(max(windows, 2), 336)
    return page(request, "trends.html", {"trends": trends_out(state, window_minutes, windows)})
