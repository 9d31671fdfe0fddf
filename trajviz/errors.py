"""trajviz's own exceptions, and the guard that names a user's code when it fails.

The CLI turns each into one line (`trajviz.cli.main`): a `UsageError` exits 2, a
`UserCodeError` or an `OSError` exits 1, a `Terminated` exits ``128 + signal``.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import types
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class UsageError(ValueError):
    """Input that cannot be used as given; the message names the valid choices."""


class UsageTypeError(UsageError, TypeError):
    """An argument of the wrong type (``steps=2.5``, ``surface=42``): a `UsageError` that
    is also a `TypeError`, so either ``except`` catches it."""


class UserCodeError(RuntimeError):
    """An exception raised inside the user's own code (a surface, optimizer, scheduler or
    loss loaded by import path or passed in). The original is its ``__cause__``.

    Attributes:
        kind: ``surface``, ``optimizer``, ``scheduler`` or ``loss``.
        name: how the user named it (``mypackage.mymodule:my_surface``).
        error: the exception their code raised.
    """

    def __init__(self, kind: str, name: str, error: BaseException) -> None:
        self.kind, self.name, self.error = kind, name, error
        detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
        super().__init__(f"error in your {kind} {name!r}: {type(error).__name__}"
                         + (f": {detail}" if detail else ""))


class Cancelled(Exception):
    """A run ended early because its ``cancel`` event was set (`trajviz.run`)."""


class Terminated(BaseException):
    """SIGTERM or SIGHUP, raised like `KeyboardInterrupt` so that every ``finally`` and
    every atomic write cleans up the same way (see `trajviz._io.terminating_signals`)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"terminated by {signal.Signals(signum).name}")


@contextlib.contextmanager
def user_code(kind: str, name: str) -> Iterator[None]:
    """Runs a block of the user's code: any exception it raises (other than trajviz's own
    errors, which pass through) becomes a `UserCodeError` naming ``kind`` and ``name``."""
    try:
        yield
    except (UsageError, UserCodeError):
        raise
    except (Exception, SystemExit) as e:  # sys.exit() in their code is their failure too
        raise UserCodeError(kind, name, e) from e


def guarded(fn: F, kind: str, name: str) -> F:
    """``fn`` with its exceptions reported as the user's (see `user_code`)."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        with user_code(kind, name):
            return fn(*args, **kwargs)

    return call  # type: ignore[return-value]


def guard_method(obj: Any, method: str, kind: str, name: str) -> None:
    """Replaces ``obj.method`` by a guarded bound method (a bound method, not a plain
    function, because torch's LR schedulers re-bind ``optimizer.step.__func__``)."""
    original = getattr(obj, method)

    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        with user_code(kind, name):
            return original(*args, **kwargs)

    setattr(obj, method, types.MethodType(functools.wraps(original)(call), obj))
