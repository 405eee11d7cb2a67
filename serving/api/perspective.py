"""``POST /v1alpha1/comments:analyze``: Perspective API's AnalyzeComment, answered by the served model.

The shapes and the attribute mapping are in ``serving/perspective.py``. This endpoint only scores: it stores
nothing (whatever ``doNotStore`` says), writes no audit record and logs no text. Every error it answers is in
Google's error shape, so a Perspective client reads it as it reads Perspective's.

Keys: an intake key (admins always), sent in a header as elsewhere or, as Perspective clients send theirs, in
the ``key`` query parameter. A key in a URL can end up in proxy and load-balancer logs: prefer the header.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from model.scorer import to_scores
from serving.auth import Principal, Role
from serving.deps import MISSING_KEY, ServiceDep, StateDep, admit, presented_key
from serving.errors import ApiError, field_path
from serving.perspective import (
    AnalyzeCommentRequest,
    AnalyzeCommentResponse,
    GoogleErrorBody,
    PerspectiveError,
    build_response,
    check_languages,
    check_request,
    span_texts,
)
from serving.schemas import ErrorBody


class PerspectiveRoute(APIRoute):
    """Answers every error of its routes in Google's shape (``PerspectiveError.body``), and counts each call
    in ``triage_perspective_calls_total`` by outcome."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except Exception as exc:
                error = _as_perspective_error(exc)
                if error is None:
                    raise
                _count(request, error.google_status.lower())
                response = JSONResponse(error.body(), status_code=error.status, headers=error.headers)
            else:
                _count(request, "scored" if response.status_code < 400 else str(response.status_code))
            # Scores of a comment, like any /v1 answer: never kept by a browser or a proxy.
            response.headers.setdefault("cache-control", "no-store")
            return response

        return route_handler


def _as_perspective_error(exc: Exception) -> PerspectiveError | None:
    if isinstance(exc, PerspectiveError):
        return exc
    if isinstance(exc, RequestValidationError):
        return _validation_error(exc.errors())
    if isinstance(exc, ApiError):
        fields = [(f.field, f.message) for f in exc.fields or []]
        message = exc.message
        if exc.status == 401 and message == MISSING_KEY:  # a Perspective client sends its key in the URL
            message = "missing API key: send an intake key as ?key=<key>, or as 'Authorization: Bearer <key>'"
        return PerspectiveError(exc.status, message, fields=fields, headers=exc.headers)
    if isinstance(exc, StarletteHTTPException) and exc.status_code == 400:
        message = "the request body could not be decoded: send UTF-8 encoded JSON"
        return PerspectiveError(400, message, error_type="INVALID_REQUEST", fields=[("body", message)])
    if isinstance(exc, DBAPIError):  # the key lookup: the database is down
        return PerspectiveError(503, "the database is unavailable; retry later", headers={"Retry-After": "5"})
    return None


def _validation_error(errors: Any) -> PerspectiveError:
    """Google's answer to a malformed request: 400 INVALID_ARGUMENT, each field named, the input never echoed
    (it may be the comment)."""
    fields = []
    for err in errors:
        loc = err.get("loc", ())
        if err.get("type") == "json_invalid":
            where = f" at character {loc[1]}" if len(loc) > 1 else ""
            fields.append(("body", f"invalid JSON{where}"))
        else:
            fields.append((field_path(loc), str(err.get("msg", "invalid value")).removeprefix("Value error, ")))
    summary = "; ".join(f"{field}: {message}" for field, message in fields[:5])
    return PerspectiveError(400, f"Invalid JSON payload received. {summary}", error_type="INVALID_REQUEST",
                            fields=fields)


def _count(request: Request, outcome: str) -> None:
    request.app.state.triage.metrics.perspective_calls.labels(outcome).inc()


router = APIRouter(prefix="/v1alpha1", tags=["perspective"], route_class=PerspectiveRoute)


async def perspective_key(
    request: Request, state: StateDep,
    key: Annotated[str | None, Query(description="An intake key, as Perspective clients send theirs "
                                                 "(`?key=...`). A header key wins. Keys in URLs can end up "
                                                 "in proxy logs: prefer the Authorization header.")] = None,
) -> Principal:
    return await admit(request, state, presented_key(request) or key, (Role.INTAKE,))


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": GoogleErrorBody, "description": text} for code, text in {
        400: "Invalid request, in Google's shape: `details` holds Perspective's `errorType` (COMMENT_EMPTY, "
             "COMMENT_TOO_LONG, NO_REQUESTED_ATTRIBUTES, LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE, "
             "LANGUAGE_DETECTION_FAILED, INVALID_REQUEST) and a google.rpc.BadRequest naming the field.",
        401: "No API key, or an invalid or revoked one (UNAUTHENTICATED).",
        403: "The key's role may not do this (PERMISSION_DENIED).",
        429: "This key is over its rate limit (RESOURCE_EXHAUSTED); retry after Retry-After seconds.",
        503: "No model loaded yet, or the database is down (UNAVAILABLE); retry after Retry-After seconds.",
    }.items()
}
# Answered before the route runs, so in the service's own error shape rather than Google's.
ERRORS[413] = {"model": ErrorBody, "description": "The request body is larger than TRIAGE_MAX_REQUEST_BYTES."}


@router.post("/comments:analyze", response_model=AnalyzeCommentResponse, response_model_exclude_none=True,
             responses=ERRORS, summary="Perspective API compatible: score a comment (stores nothing)")
def analyze_comment(
    body: AnalyzeCommentRequest,
    _: Annotated[Principal, Depends(perspective_key)],
    service: ServiceDep,
    alt: Annotated[Literal["json"], Query(description="Sent by Google's API clients; only json.")] = "json",
) -> AnalyzeCommentResponse:
    """Perspective's AnalyzeComment: TOXICITY, SEVERE_TOXICITY, IDENTITY_ATTACK, INSULT, THREAT and
    SEXUALLY_EXPLICIT, read from the served model's calibrated probabilities (see the README's mapping)."""
    analysis = check_request(body)
    meta = service.model.scorer.meta
    detection = service.detector.detect(analysis.normalized)
    languages = check_languages(analysis, detection.language, meta.languages)
    spans = span_texts(analysis)
    # One batcher request: the comment, then each sentence when spans were asked for.
    probabilities = service.batcher.submit([analysis.text, *(analysis.text[b:e] for b, e in spans)]).result()
    summary, *sentences = to_scores(meta, *probabilities)
    return build_response(analysis, summary, [(b, e, s) for (b, e), s in zip(spans, sentences, strict=True)],
                          languages, detection.language, body.client_token)
