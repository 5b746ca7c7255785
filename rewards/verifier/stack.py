"""The verifier stack: the library versions math-verify's verdicts depend on, and which of
rollscore's parsing accelerations are on.

The verdict on an answer depends on the libraries under math-verify: with
``antlr4-python3-runtime`` 4.13.2, ``\\boxed{10\\%}`` against ``\\boxed{10%}`` is 1.0, with 4.9.3
(which omegaconf and hydra pin) it is 0.0. So a run records its stack, and one dataset never
mixes the verdicts of two.
"""

from __future__ import annotations

from importlib import metadata
from types import ModuleType

from rollscore.rewards.verifier import sympy_namespace, two_stage_parsing

STACK_PACKAGES = (
    "rollscore",
    "math-verify",
    "latex2sympy2_extended",
    "antlr4-python3-runtime",
    "sympy",
)
"""The packages whose versions make up the stack: rollscore's own first."""
ACCELERATIONS: dict[str, ModuleType] = {
    "two_stage_parsing": two_stage_parsing,
    "sympy_namespace": sympy_namespace,
}
"""rollscore's exact accelerations of math-verify's parsing, each on only on the library
versions a differential test compared it on (``versions_verified()``), installed by every
scoring process when it starts."""

VerifierStack = dict[str, object]
"""``{"versions": {package: version or None}, "accelerations": {name: on}}``."""


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def verifier_stack() -> VerifierStack:
    """This environment's stack: each package's version (None when not installed) and whether
    each acceleration is on."""
    return {
        "versions": {package: _version(package) for package in STACK_PACKAGES},
        "accelerations": {
            name: module.versions_verified() for name, module in ACCELERATIONS.items()
        },
    }


def stack_differences(recorded: VerifierStack, current: VerifierStack) -> list[str]:
    """What differs between two stacks, one phrase each (``sympy 1.13.3 -> 1.14.0``)."""
    changes = []
    for section in ("versions", "accelerations"):
        before, after = recorded.get(section) or {}, current.get(section) or {}
        for name in sorted(set(before) | set(after)):
            if before.get(name) != after.get(name):
                changes.append(f"{name} {_shown(before.get(name))} -> {_shown(after.get(name))}")
    return changes


def _shown(value: object) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def describe_stack(stack: VerifierStack) -> str:
    """The stack in lines, as ``rollscore --version`` prints it."""
    versions = stack["versions"]
    accelerations = stack["accelerations"]
    width = max(map(len, [*versions, *accelerations]))
    lines = [f"{name:<{width}}  {_shown(version)}" for name, version in versions.items()]
    lines += [
        f"{name:<{width}}  {'on' if on else 'off (math-verify parses as it always does)'}"
        for name, on in accelerations.items()
    ]
    return "\n".join(lines)
