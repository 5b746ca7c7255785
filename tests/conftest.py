"""Shared fixtures for the reward library's tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def module_dir(tmp_path, monkeypatch):
    """A directory on ``sys.path`` for small modules named as ``"module:function"`` rewards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path
