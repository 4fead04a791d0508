"""Route helpers of the create endpoints of feedback and traces (single and batch).

Both resources are created the same way: ``POST ""`` stores one item (201; a repeat of a
stored client ``id`` answers 200 with the stored row), ``POST /batch`` stores up to 1000
all-or-nothing (201, results in the order sent).

Example:
    >>> @post_single(router, TraceResult)                                # doctest: +SKIP
    ... async def create_trace(body: TraceCreate, response: Response, ...) -> TraceResult:
    ...     (record,) = await record_traces(session, [body])
    ...     return single_result(record, response)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from fastapi import APIRouter, Response, status
from fastapi.types import DecoratedCallable
from pydantic import BaseModel

__all__ = ["Recorded", "post_batch", "post_single", "single_result"]

ResultT = TypeVar("ResultT", covariant=True)


class Recorded(Protocol[ResultT]):
    """A stored item as the services return it."""

    @property
    def result(self) -> ResultT: ...

    @property
    def created(self) -> bool: ...


def post_single(
    router: APIRouter, model: type[BaseModel]
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """``POST ""`` on ``router``: 201 with ``model``, or 200 for a repeat of a stored id."""
    return router.post(
        "",
        status_code=status.HTTP_201_CREATED,
        response_model=model,
        responses={200: {"model": model, "description": "A repeat of a stored id"}},
    )


def post_batch(
    router: APIRouter, model: type[BaseModel]
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """``POST /batch`` on ``router``: 201 with the list of ``model``, in the order sent."""
    items = list[model]  # type: ignore[valid-type]  # a runtime type, for FastAPI
    return router.post("/batch", status_code=status.HTTP_201_CREATED, response_model=items)


def single_result(record: Recorded[ResultT], response: Response) -> ResultT:
    """The record's result; the answer becomes 200 when it repeated a stored id."""
    if not record.created:
        response.status_code = status.HTTP_200_OK
    return record.result
