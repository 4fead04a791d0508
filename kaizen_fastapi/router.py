"""``kaizen_router``: the end-user feedback and score endpoints an app mounts.

``POST {prefix}/feedback`` and ``POST {prefix}/score`` take a feedback token the app handed
out with an LLM result (see :func:`kaizen_fastapi.record_llm_call`) and answer 202 at once;
the feedback reaches the CT server through the delivery queue. The endpoints face the
public internet, so, checked in this order, before anything is queued:

- floods: a per-client token bucket -> 429 with ``Retry-After``;
- oversized bodies -> 413 (``Content-Length`` or counted while reading);
- malformed bodies, unknown fields, scores outside [0, 1], comments over 2000 chars -> 422;
- missing/forged/expired tokens -> 401; a token used before -> 409;
- a full delivery queue -> 503 with ``Retry-After`` (the token stays usable).

Every error is an RFC 7807 ``application/problem+json`` body; the API key never leaves the
server. The prefix defaults to ``/kaizen`` (``create_kaizen_router(prefix=...)`` changes it).

Example:
    >>> from fastapi import FastAPI
    >>> app = FastAPI()
    >>> app.include_router(kaizen_router)
    >>> app.url_path_for(FEEDBACK_ROUTE_NAME), app.url_path_for(SCORE_ROUTE_NAME)
    ('/kaizen/feedback', '/kaizen/score')
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Coroutine
from functools import partial
from http import HTTPStatus
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import Message

from kaizen_fastapi.dependencies import KaizenNotRunningError, get_kaizen_runtime
from kaizen_fastapi.lifespan import kaizen_lifespan
from kaizen_fastapi.problems import FieldError, problem_doc, problem_response
from kaizen_fastapi.runtime import (
    ClientFactory,
    KaizenRuntime,
    default_client,
    runtime_from_state,
)
from kaizen_fastapi.settings import KaizenSettings
from kaizen_fastapi.tokens import ExpiredTokenError, FeedbackTokenError, TokenClaims
from kaizen_sdk import FeedbackItem
from kaizen_sdk.wire_values import StorableText

__all__ = [
    "DEFAULT_PREFIX",
    "FEEDBACK_ROUTE_NAME",
    "SCORE_ROUTE_NAME",
    "FeedbackAccepted",
    "FeedbackRequest",
    "ScoreRequest",
    "create_kaizen_router",
    "kaizen_router",
]

logger = logging.getLogger("kaizen_fastapi")

DEFAULT_PREFIX = "/kaizen"
FEEDBACK_ROUTE_NAME = "kaizen_feedback"
"""Route name of the feedback endpoint: ``request.url_for(FEEDBACK_ROUTE_NAME)`` is its URL."""
SCORE_ROUTE_NAME = "kaizen_score"
MAX_COMMENT_CHARS = 2000
MAX_TOKEN_CHARS = 2048


class FeedbackRequest(BaseModel):
    """An end user's rating of one result the app served them."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"token": "eyJ0Ijoic3VtbWFyaXplIn0.c2lnbmF0dXJl", "rating": "up"},
                {
                    "token": "eyJ0Ijoic3VtbWFyaXplIn0.c2lnbmF0dXJl",
                    "score": 0.4,
                    "comment": "Missed the customer's second question.",
                },
            ]
        },
    )

    token: str = Field(
        min_length=1,
        max_length=MAX_TOKEN_CHARS,
        description="The feedback token the app returned with the result being rated.",
    )
    rating: Literal["up", "down"] | None = Field(
        default=None, description="Thumbs up (score 1.0) or down (0.0); or give `score`."
    )
    score: float | None = Field(
        default=None,
        strict=True,
        ge=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="Quality in [0, 1] (a JSON number); or give `rating`.",
    )
    comment: StorableText | None = Field(
        default=None, max_length=MAX_COMMENT_CHARS, description="Optional free text."
    )

    @model_validator(mode="after")
    def _one_of_rating_or_score(self) -> FeedbackRequest:
        if (self.rating is None) == (self.score is None):
            raise ValueError("give exactly one of `rating` ('up'/'down') or `score` (0..1)")
        return self

    @property
    def effective_score(self) -> float:
        """The score to store: ``score``, or 1.0/0.0 for a thumbs up/down."""
        if self.score is not None:
            return self.score
        return 1.0 if self.rating == "up" else 0.0


class ScoreRequest(BaseModel):
    """A numeric score of one result the app served (e.g. from an app's own UI widget)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"token": "eyJ0Ijoic3VtbWFyaXplIn0.c2lnbmF0dXJl", "score": 0.85}]
        },
    )

    token: str = Field(min_length=1, max_length=MAX_TOKEN_CHARS)
    score: float = Field(
        strict=True, ge=0.0, le=1.0, allow_inf_nan=False, description="Quality in [0, 1]."
    )


class FeedbackAccepted(BaseModel):
    """The feedback was accepted and will reach the CT server (exactly once)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"status": "accepted", "feedback_id": "0d5c7a4e-26c3-5bd0-9a55-7e0f3f1f2c11"}
            ]
        }
    )

    status: Literal["accepted"] = "accepted"
    feedback_id: str


class _ProblemError(Exception):
    def __init__(
        self, status: int, title: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.headers = status, title, detail, headers


_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: problem_doc("The body is not JSON, or the client disconnected before sending it."),
    401: problem_doc("Missing, forged or expired feedback token."),
    409: problem_doc("The feedback token was already used."),
    413: problem_doc("Request body too large."),
    422: problem_doc("Invalid body: unknown field, score outside [0, 1], comment too long."),
    429: problem_doc("Too many requests from this client; see Retry-After."),
    503: problem_doc("Feedback queue full; retry after Retry-After seconds."),
}


class _PublicEndpointRoute(APIRoute):
    """Guards shared by the public endpoints: rate limit, body size, RFC 7807 errors."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            runtime = runtime_from_state(request.scope.get("state"))
            if runtime is None:  # a deployment error: say so, never a bare 500
                logger.error("%s", KaizenNotRunningError())
                return problem_response(
                    503,
                    "Feedback unavailable",
                    "Feedback cannot be accepted right now.",
                    instance=request.url.path,
                )
            try:
                _check_rate(runtime, request)
                request = await _limited_body(request, runtime.settings.max_body_bytes)
                return await handler(request)
            except _ProblemError as exc:
                if exc.status in (401, 409):
                    runtime.metrics.inc("tokens_rejected")
                return problem_response(
                    exc.status,
                    exc.title,
                    exc.detail,
                    instance=request.url.path,
                    headers=exc.headers,
                )
            except RequestValidationError as exc:
                return _validation_problem(exc, request.url.path)
            except HTTPException as exc:  # FastAPI's own, e.g. 400 for a body that is not JSON
                return problem_response(
                    exc.status_code,
                    HTTPStatus(exc.status_code).phrase,
                    str(exc.detail),
                    instance=request.url.path,
                    headers=exc.headers,
                )

        return guarded


def _check_rate(runtime: KaizenRuntime, request: Request) -> None:
    client = request.client.host if request.client else "unknown"
    wait = runtime.rate_limiter.acquire(client)
    if wait > 0:
        runtime.metrics.inc("requests_rate_limited")
        raise _ProblemError(
            429,
            "Too many requests",
            f"Too many feedback requests from this client; retry in {math.ceil(wait)} s.",
            headers={"Retry-After": str(math.ceil(wait))},
        )


async def _limited_body(request: Request, limit: int) -> Request:
    """Read the body, refusing more than ``limit`` bytes; a request replaying what was read."""
    too_large = _ProblemError(
        413, "Request body too large", f"The body must not exceed {limit} bytes."
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    body = b""
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise too_large
    except ClientDisconnect:
        raise _ProblemError(400, "Client disconnected", "The body was not received.") from None

    async def replay() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, replay)


def _validation_problem(exc: RequestValidationError, instance: str) -> Response:
    errors = [
        FieldError(
            loc=[part for part in error.get("loc", ()) if isinstance(part, str | int)],
            msg=str(error.get("msg", "invalid")),
        )
        for error in exc.errors()
    ]
    detail = (
        "; ".join(f"{'.'.join(str(part) for part in e.loc) or 'body'}: {e.msg}" for e in errors)
        or "The request body is invalid."
    )
    return problem_response(422, "Invalid request body", detail, instance=instance, errors=errors)


def _verified_claims(runtime: KaizenRuntime, token: str) -> TokenClaims:
    try:
        claims = runtime.tokens.verify(token)
    except ExpiredTokenError:
        raise _ProblemError(
            401,
            "Expired feedback token",
            "The feedback token has expired; it can no longer be used.",
        ) from None
    except FeedbackTokenError as exc:
        raise _ProblemError(401, "Invalid feedback token", str(exc).capitalize() + ".") from None
    if runtime.used_tokens.is_used(claims):
        raise _ProblemError(
            409, "Feedback token already used", "Each feedback token rates one result once."
        )
    return claims


def _accept(runtime: KaizenRuntime, claims: TokenClaims, item: FeedbackItem) -> FeedbackAccepted:
    if not runtime.used_tokens.consume(claims):
        raise _ProblemError(
            409, "Feedback token already used", "Each feedback token rates one result once."
        )
    if not runtime.queue.offer(item):
        runtime.used_tokens.release(claims)
        raise _ProblemError(
            503,
            "Feedback queue full",
            "Feedback cannot be accepted right now; retry shortly.",
            headers={"Retry-After": "5"},
        )
    return FeedbackAccepted(feedback_id=claims.feedback_id)


def create_kaizen_router(
    settings: KaizenSettings | None = None,
    *,
    prefix: str | None = None,
    client_factory: ClientFactory = default_client,
) -> APIRouter:
    """An ``APIRouter`` with the end-user endpoints that also runs the Kaizen lifespan.

    Args:
        settings: Settings to run with; default: read when the app starts (see
            :mod:`kaizen_fastapi.lifespan`).
        prefix: URL prefix; default ``settings.router_prefix`` or ``/kaizen``.
        client_factory: Builds the shared client (tests can inject a transport).

    Example:
        >>> router = create_kaizen_router(KaizenSettings(api_key="kz-key"), prefix="/rate")
        >>> [route.path for route in router.routes]
        ['/rate/feedback', '/rate/score']
    """
    if prefix is None:
        prefix = settings.router_prefix if settings is not None else DEFAULT_PREFIX
    router = APIRouter(
        prefix=prefix,
        tags=["kaizen"],
        route_class=_PublicEndpointRoute,
        lifespan=partial(kaizen_lifespan, settings=settings, client_factory=client_factory),
        responses=_ERROR_RESPONSES,
    )

    @router.post(
        "/feedback",
        status_code=202,
        response_model=FeedbackAccepted,
        name=FEEDBACK_ROUTE_NAME,
        summary="Rate a result the app served (thumbs up/down or a score)",
    )
    async def post_feedback(
        body: Annotated[FeedbackRequest, Body()], request: Request
    ) -> FeedbackAccepted:
        runtime = get_kaizen_runtime(request)
        claims = _verified_claims(runtime, body.token)
        metadata: dict[str, Any] = {"channel": "kaizen_router"}
        if body.rating is not None:
            metadata["rating"] = body.rating
        if body.comment:
            metadata["comment"] = body.comment
        item = FeedbackItem(
            task_id=claims.task_id,
            trace_id=claims.trace_id,
            score=body.effective_score,
            source=runtime.settings.feedback_source,
            metadata=metadata,
            id=claims.feedback_id,
        )
        return _accept(runtime, claims, item)

    @router.post(
        "/score",
        status_code=202,
        response_model=FeedbackAccepted,
        name=SCORE_ROUTE_NAME,
        summary="Score a traced LLM call in [0, 1]",
    )
    async def post_score(
        body: Annotated[ScoreRequest, Body()], request: Request
    ) -> FeedbackAccepted:
        runtime = get_kaizen_runtime(request)
        claims = _verified_claims(runtime, body.token)
        item = FeedbackItem(
            task_id=claims.task_id,
            trace_id=claims.trace_id,
            score=body.score,
            source=runtime.settings.feedback_source,
            metadata={"channel": "kaizen_router"},
            id=claims.feedback_id,
        )
        return _accept(runtime, claims, item)

    return router


kaizen_router = create_kaizen_router(prefix=DEFAULT_PREFIX)
"""The default router: prefix ``/kaizen``, settings read when the app starts. Include it after
the app's own routes (FastAPI tries routes in order, so the app's requests then never try
these). For another
prefix, include ``create_kaizen_router(prefix=...)`` (or ``create_kaizen_router(KaizenSettings())``
for ``KAIZEN_ROUTER_PREFIX``). Its URLs, wherever it is mounted:
``request.url_for(FEEDBACK_ROUTE_NAME)`` / ``request.url_for(SCORE_ROUTE_NAME)``."""
