"""sympy's ``parse_expr`` with its default namespace built once, not on every call.

Given no ``global_dict``, ``parse_expr`` builds one with ``from sympy import *`` plus Python's
built-in functions, on every call. latex2sympy reads every number as ``sympy.Number(text)``,
which goes through ``sympify`` to ``parse_expr``, so on a GRPO batch that import is a large
share of math-verify's time. Installed, ``parse_expr`` called without a namespace gets a fresh copy
of the one sympy itself built on a first call (captured there), so every call still starts
from an untouched namespace holding the same objects, and evaluates the same code in it.

Installed by every scoring process when it starts, and only on the sympy versions
``tests/test_faster_parsing.py`` found no difference on.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata
from typing import Any

VERIFIED_SYMPY = ("1.14.0",)


def versions_verified() -> bool:
    """Whether the installed sympy is a version the test passed on."""
    try:
        return metadata.version("sympy") in VERIFIED_SYMPY
    except metadata.PackageNotFoundError:
        return False


def _default_namespace(parse_expr: Callable[..., Any]) -> dict[str, Any]:
    """The namespace ``parse_expr`` builds when given none, as its transformations see it."""
    captured: dict[str, Any] = {}

    def capture(tokens: list, local_dict: dict, global_dict: dict) -> list:
        captured.update(global_dict)
        return tokens

    parse_expr("0", transformations=(capture,))
    return captured


def install() -> bool:
    """Make ``parse_expr`` (as sympy's ``sympify`` and math-verify call it) reuse its default
    namespace; returns whether that is on. Idempotent; on other sympy versions it changes
    nothing and returns False."""
    if not versions_verified():
        return False
    import math_verify.parser
    import sympy.parsing.sympy_parser as sympy_parser

    plain = sympy_parser.parse_expr
    if getattr(plain, "namespace_reused", False):
        return True
    namespace = _default_namespace(plain)

    def parse_expr(
        s: str,
        local_dict: dict | None = None,
        transformations: Any = sympy_parser.standard_transformations,
        global_dict: dict | None = None,
        evaluate: bool = True,
    ) -> Any:
        """sympy's ``parse_expr``, given a fresh copy of its default namespace if none."""
        if global_dict is None:
            global_dict = dict(namespace)
        return plain(s, local_dict, transformations, global_dict, evaluate)

    parse_expr.namespace_reused = True
    sympy_parser.parse_expr = parse_expr
    if math_verify.parser.parse_expr is plain:
        math_verify.parser.parse_expr = parse_expr
    return True
