"""Step timers: one line per timed step of a request, under the request's tracking ID.

    with trackstack.step("db.users", action="db_query"):
        rows = db.fetch_users()

    @trackstack.step("pricing.quote")
    def quote(order): ...

Each step writes one line when it ends (logger ``trackstack.steps``): ``event.action``
("step" unless ``action`` names it), ``labels.step`` (the step's name: ECS has no field for
a span's name, and ``labels.*`` is ECS's place for such keywords), ``event.duration``
(nanoseconds, ECS), ``event.outcome`` (success, or failure when the block raised; the
exception is not caught). The line carries the current tracking ID, trace and user like any
other. Works in threads, greenlets and coroutines: nothing is shared between two timings.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

log = logging.getLogger("trackstack.steps")
F = TypeVar("F", bound=Callable[..., Any])


class step:  # a lower-case class: used like a function, with step(...) / @step(...)
    """``step(name, action="step", level=logging.INFO)``: a context manager (sync or
    ``async with``) and a decorator (plain or async functions) that times a block."""

    def __init__(self, name: str, action: str = "step", level: int = logging.INFO) -> None:
        self.name = name
        self.action = action
        self.level = level
        self._started: list[int] = []  # a stack: the same step may be entered re-entrantly

    def __enter__(self) -> step:
        self._started.append(time.perf_counter_ns())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        duration_ns = time.perf_counter_ns() - self._started.pop()
        log.log(
            self.level,
            "step %s took %.1f ms",
            self.name,
            duration_ns / 1e6,
            extra={
                "event.action": self.action,
                "labels.step": self.name,
                "event.duration": duration_ns,
                "event.outcome": "failure" if exc_type is not None else "success",
            },
        )

    async def __aenter__(self) -> step:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        # A fresh timer per call: two greenlets in one decorated function never share one.
        name, action, level = self.name, self.action, self.level
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                with step(name, action, level):
                    return await func(*args, **kwargs)

            return timed_async  # type: ignore[return-value]

        @functools.wraps(func)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with step(name, action, level):
                return func(*args, **kwargs)

        return timed  # type: ignore[return-value]
