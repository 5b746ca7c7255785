"""What math-verify makes of some answers, plain or with the scoring process's accelerations
(:data:`rollscore.rewards.verifier.stack.ACCELERATIONS`); run in a fresh process by
``tests/test_faster_parsing.py``, which compares the two:

    python tests/parse_outcomes.py plain|scoring-process < INPUT.json

INPUT is ``{"texts": [...], "pairs": [[gold index, prediction index], ...]}``. Writes JSON to
stdout: the library versions; per text, math-verify's ``parse`` under the scoring process's gold
and prediction configurations; every call math-verify made to latex2sympy and what it gave;
per pair, ``verify``'s verdict on the parsed gold and prediction. Results are written as
``srepr`` and ``str``, exceptions as type and message. No time limit inside math-verify, as in
the scoring process; a harness alarm ends a runaway call as the outcome "timed out".
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from importlib import metadata
from typing import Any

from rollscore.rewards.verifier.scoring_process import _gold_targets, _prediction_targets
from rollscore.rewards.verifier.stack import ACCELERATIONS

CALL_SECONDS = 30
"""Far above any normal call: an alarm this late only ends a runaway sympy computation."""
LIBRARIES = ("antlr4-python3-runtime", "latex2sympy2_extended", "math-verify", "sympy")


class TimedOut(BaseException):
    """Raised by the harness's alarm; a BaseException, so math-verify lets it by."""


def _time_out(signum: int, frame: object) -> None:
    raise TimedOut


def _described(value: Any) -> Any:
    """A result, or one of its items, as comparable JSON."""
    from sympy import srepr

    if isinstance(value, (str, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_described(item) for item in value]
    return [srepr(value), str(value)]


def _raised(error: Exception) -> str:
    return f"raised {type(error).__name__}: {error}"


def _outcome(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """A call's result described and the result itself; or what it raised, or "timed out"
    past the alarm, and None."""
    signal.alarm(CALL_SECONDS)
    try:
        result = function(*args, **kwargs)
        return _described(result), result
    except TimedOut:
        return "timed out", None
    except Exception as error:  # what is raised is an outcome to compare too
        return _raised(error), None
    finally:
        signal.alarm(0)


def _record_latex2sympy_calls(calls: list) -> None:
    """Note every call math-verify makes to latex2sympy, with what it returned or raised."""
    import math_verify.parser

    plain = math_verify.parser.latex2sympy

    def recorded(latex: str, *args: Any, **kwargs: Any) -> Any:
        try:
            result = plain(latex, *args, **kwargs)
        except Exception as error:
            calls.append([latex, _raised(error)])
            raise
        calls.append([latex, _described(result)])
        return result

    math_verify.parser.latex2sympy = recorded


def main(mode: str) -> None:
    from math_verify import parse, verify

    inputs = json.load(sys.stdin)
    installed = {
        name: mode == "scoring-process" and acceleration.install()
        for name, acceleration in ACCELERATIONS.items()
    }
    signal.signal(signal.SIGALRM, _time_out)
    calls: list = []
    _record_latex2sympy_calls(calls)
    texts = inputs["texts"]
    gold = [_outcome(parse, text, _gold_targets(), parsing_timeout=None) for text in texts]
    prediction = [
        _outcome(parse, text, _prediction_targets(), parsing_timeout=None) for text in texts
    ]
    verdicts = [
        _outcome(verify, gold[i][1] or [], prediction[j][1] or [], timeout_seconds=None)[0]
        for i, j in inputs["pairs"]
    ]
    json.dump(
        {
            "versions": {name: metadata.version(name) for name in LIBRARIES},
            "installed": installed,
            "gold": [described for described, _ in gold],
            "prediction": [described for described, _ in prediction],
            "latex2sympy_calls": calls,
            "verdicts": verdicts,
        },
        sys.stdout,
        ensure_ascii=False,
    )


if __name__ == "__main__":
    main(sys.argv[1])
