"""Shared fixtures: a module folder for users' reward functions, a real Dask cluster, a corpus."""

from __future__ import annotations

import pytest

from bench.corpus import write_corpus


@pytest.fixture
def module_dir(tmp_path, monkeypatch):
    """A directory on ``sys.path`` for small modules named as ``"module:function"`` rewards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@pytest.fixture(scope="session")
def client():
    """A real two-process Dask cluster on 127.0.0.1, shared by the tests that only use it."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
        ) as cluster,
        Client(cluster) as session_client,
    ):
        yield session_client


@pytest.fixture
def broken_math_verify(tmp_path, monkeypatch):
    """A ``PYTHONPATH`` whose ``math_verify`` fails to import, as a broken install would: the
    scoring children started from here (or from processes started here) cannot start."""
    folder = tmp_path / "broken"
    (folder / "math_verify").mkdir(parents=True)
    (folder / "math_verify" / "__init__.py").write_text(
        "raise ImportError('this math_verify is broken')\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(folder))
    return folder


@pytest.fixture(scope="session")
def corpus_path(tmp_path_factory):
    """A small GRPO-shaped corpus: 40 prompts x 8 samples, as JSONL."""
    return write_corpus(tmp_path_factory.mktemp("corpus") / "rollouts.jsonl", 40, 8)
