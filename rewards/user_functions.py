"""Users' ``"package.module:function"`` rewards: found as ``python -m`` would find the module.

A user names a module of their own, often one beside the config in the current folder, and
expects it found as ``python -m module`` finds it: the current folder first, then the rest of
the module search path. rollscore's own packages are ``rollscore.*``, so a user's ``rewards.py``
(or ``env.py``, ``pipeline.py``) never stands for one of them, nor they for it.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Callable, Sequence

from rollscore.rewards.errors import UnknownReward

_SEARCH_PATH_LOCK = threading.Lock()


def user_module_path() -> tuple[str, ...]:
    """The module search path a user's module is imported with: the current folder, then this
    process's own path."""
    here = os.getcwd()
    return (here, *(entry for entry in sys.path if entry not in ("", here)))


def split_name(name: str) -> tuple[str, str]:
    """``(module, function)`` of a ``"package.module:function"`` name; raises
    :class:`UnknownReward` for a name of another shape."""
    module_name, colon, attribute = name.partition(":")
    if not colon or not module_name or not attribute:
        raise UnknownReward(f"{name!r} is not a 'package.module:function' name")
    return module_name, attribute


def import_user_function(name: str, search_path: Sequence[str] | None = None) -> Callable:
    """The function a ``"package.module:function"`` name stands for, its module imported with
    ``search_path`` (:func:`user_module_path` by default) as the module search path; raises
    :class:`UnknownReward` saying why there is none."""
    module_name, attribute = split_name(name)
    path = list(search_path if search_path is not None else user_module_path())
    with _SEARCH_PATH_LOCK:
        saved = sys.path[:]
        sys.path[:] = path
        importlib.invalidate_caches()
        try:
            module = importlib.import_module(module_name)
        except Exception as error:  # a user module may fail to import in any way
            raise UnknownReward(
                f"cannot import module {module_name!r} for {name!r}: "
                f"{type(error).__name__}: {error}"
            ) from None
        finally:
            sys.path[:] = saved
    function = getattr(module, attribute, None)
    if not callable(function):
        raise UnknownReward(f"module {module_name!r} has no function {attribute!r}")
    return function
