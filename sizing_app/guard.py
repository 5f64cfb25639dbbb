"""The one place where a failure becomes a message: every entry point of a run (the page, and each
fragment, which Streamlit can rerun on its own) goes through `guarded`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec

import streamlit as st

from sizing_app import services as svc

P = ParamSpec("P")


def show_problem(exc: BaseException) -> None:
    lines = svc.problem_lines(exc)
    st.error("Check the inputs:\n\n" + "\n".join(f"- {line}" for line in lines), icon="⚠️")


def guarded(fn: Callable[P, None]) -> Callable[P, None]:
    """Run `fn`; an exception (never Streamlit's own stop/rerun signals, which are BaseExceptions) is
    shown as one line per problem instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            fn(*args, **kwargs)
        except Exception as exc:
            show_problem(exc)

    return wrapper
