"""One error shape for every 4xx and 5xx: ``{"error": code, "message": ..., "fields": [...]}``.

Validation errors name the field as a client would write it (``reports[3].text``) and never echo the
input back: it may be report text, which is sensitive.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving.idempotency import HEADER as IDEMPOTENCY_HEADER
from serving.idempotency import KeyReused
from serving.queues import QueueError
from serving.schemas import ErrorBody, FieldError
from serving.service import ReportConflict

log = logging.getLogger(__name__)

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
               422: "invalid_request", 429: "rate_limited", 503: "unavailable"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, code: str | None = None,
                 headers: dict[str, str] | None = None, fields: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _HTTP_CODES.get(status, "error")
        self.message = message
        self.headers = headers
        self.fields = fields


def error_response(status: int, code: str, message: str, fields: list[FieldError] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(error=code, message=message, fields=fields)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


def field_path(loc: Sequence[Any]) -> str:
    """``("body", "reports", 3, "text")`` -> ``reports[3].text``; ``("body",)`` -> ``body``."""
    parts = list(loc[1:]) if loc and loc[0] in ("body", "query", "path") else list(loc)
    if not parts:
        return "body"
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _validation_fields(errors: Sequence[Any]) -> list[FieldError]:
    fields = []
    for err in errors:
        loc = err.get("loc", ())
        if err.get("type") == "json_invalid":
            detail = (err.get("ctx") or {}).get("error", "")
            where = f" at character {loc[1]}" if len(loc) > 1 else ""
            fields.append(FieldError(field="body", message=f"invalid JSON{where}: {detail}".rstrip(": ")))
            continue
        message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        fields.append(FieldError(field=field_path(loc), message=message))
    return fields


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = _validation_fields(exc.errors())
        summary = "; ".join(f"{f.field}: {f.message}" for f in fields[:5])
        return error_response(422, "invalid_request", f"invalid request: {summary}", fields)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.fields, exc.headers)

    @app.exception_handler(QueueError)
    async def _queue(_: Request, exc: QueueError) -> JSONResponse:
        return error_response(exc.status, _HTTP_CODES.get(exc.status, "error"), exc.message)

    @app.exception_handler(KeyReused)
    async def _key_reused(_: Request, exc: KeyReused) -> JSONResponse:
        return error_response(422, "invalid_request", str(exc),
                              [FieldError(field=f"headers.{IDEMPOTENCY_HEADER}", message=str(exc))])

    @app.exception_handler(ReportConflict)
    async def _conflict(_: Request, exc: ReportConflict) -> JSONResponse:
        return error_response(409, "conflict", str(exc), [FieldError(field=exc.field, message=str(exc))])

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # FastAPI's answer to a body that is not UTF-8 (or otherwise undecodable).
            message = "the request body could not be decoded: send UTF-8 encoded JSON"
            return error_response(400, "invalid_request", message, [FieldError(field="body", message=message)])
        code = _HTTP_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(DataError)
    async def _bad_value(_: Request, exc: DataError) -> JSONResponse:
        # The database refused a value (e.g. a NUL character in PostgreSQL text): the request is at fault, not
        # the database. The schemas refuse what they can name; this is the net under them.
        log.warning("database refused a value: %s", type(exc.orig).__name__ if exc.orig is not None else "DataError")
        return error_response(422, "invalid_request", "a value in the request cannot be stored (for example a NUL "
                              "character); nothing was stored")

    @app.exception_handler(DBAPIError)
    async def _database(_: Request, exc: DBAPIError) -> JSONResponse:
        log.error("database error: %s", type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__)
        return error_response(503, "unavailable", "the database is unavailable; nothing was stored, retry later",
                              headers={"Retry-After": "5"})
