"""Shared fixtures: a module folder for users' reward functions, a real Dask cluster, a corpus,
a tokenizer made on the spot, ``rollscore serve`` processes."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from distributed import Client, LocalCluster
from rollscore.pipeline.cluster import local_cluster

from bench.corpus import write_corpus


@pytest.fixture
def module_dir(tmp_path, monkeypatch):
    """A directory on ``sys.path`` for small modules named as ``"module:function"`` rewards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@pytest.fixture(scope="session")
def client():
    """A real two-process Dask cluster on 127.0.0.1, as rollscore starts them, shared by the
    tests that only use it."""
    with local_cluster(2, "127.0.0.1:0") as cluster, Client(cluster) as session_client:
        yield session_client


@pytest.fixture(scope="session")
def users_cluster():
    """The address of a cluster of the user's own, reached by address: Dask's own
    ``LocalCluster`` (plain TCP, no credentials) of two single-threaded workers on 127.0.0.1."""
    with LocalCluster(
        n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address="127.0.0.1:0"
    ) as cluster:
        yield cluster.scheduler_address


WORD_TOKENS = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }} : {{ message['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}assistant : {% endif %}"
)
"""A chat template of the words a word tokenizer knows: ``role : content`` per message."""


@pytest.fixture
def word_tokenizer():
    """Makes a left-padding transformers tokenizer of the whitespace-separated words of some
    texts (plus the chat template's), with pad, unk, bos and eos tokens: no download."""

    def make(texts: list[str]):
        from tokenizers import Tokenizer, models, pre_tokenizers, trainers
        from transformers import PreTrainedTokenizerFast

        words = Tokenizer(models.WordLevel(unk_token="[UNK]"))
        words.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        trainer = trainers.WordLevelTrainer(special_tokens=WORD_TOKENS)
        words.train_from_iterator([*texts, "user assistant :"], trainer=trainer)
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=words,
            pad_token="[PAD]",
            unk_token="[UNK]",
            bos_token="[BOS]",
            eos_token="[EOS]",
            padding_side="left",
        )
        tokenizer.chat_template = CHAT_TEMPLATE
        return tokenizer

    return make


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


def dask_command() -> str:
    """The ``dask`` command of the Python running the tests (its environment's, not another's
    earlier on the PATH)."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return shutil.which("dask", path=path) or pytest.fail("the dask command is not installed")


def read_scheduler_file(scheduler_file: Path, scheduler: subprocess.Popen) -> dict:
    """The scheduler file's contents once whole: a scheduler creates the file before it
    writes it, so an empty or partial file is read again."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return json.loads(scheduler_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            if scheduler.poll() is not None:
                pytest.fail(f"dask scheduler exited with {scheduler.returncode}")
            if time.monotonic() > deadline:
                pytest.fail(f"dask scheduler wrote no {scheduler_file.name} in 60 s")
            time.sleep(0.1)


class DaskProcesses:
    """``dask scheduler`` and ``dask worker`` processes on 127.0.0.1, started as a user starts
    them (with ``environment`` added to this process's at the time each starts); :meth:`stop`
    stops every one still running."""

    def __init__(self, folder: Path, environment: dict[str, str] | None = None) -> None:
        self.folder = folder
        self.command = dask_command()
        self.environment = environment or {}
        self.processes: list[subprocess.Popen] = []
        self.scheduler: subprocess.Popen | None = None
        self.address = ""
        self.dashboard = ""
        """The scheduler's dashboard, ``http://127.0.0.1:PORT``."""

    def start_scheduler(self) -> str:
        """Start a scheduler; returns its address once it listens."""
        scheduler_file = self.folder / f"scheduler-{len(self.processes)}.json"
        self.scheduler = self._start(
            "scheduler", "--host", "127.0.0.1", "--port", "0",
            "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(scheduler_file),
        )  # fmt: skip
        started = read_scheduler_file(scheduler_file, self.scheduler)
        self.address = started["address"]
        self.dashboard = f"http://127.0.0.1:{started['services']['dashboard']}"
        return self.address

    def start_workers(self, count: int) -> None:
        """Start ``count`` single-threaded workers and wait until the scheduler has them."""
        for _ in range(count):
            self._start(
                "worker", self.address, "--nthreads", "1", "--host", "127.0.0.1",
                "--no-dashboard",
            )  # fmt: skip
        with Client(self.address) as client:
            client.wait_for_workers(count, timeout=60)

    def _start(self, *arguments: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [self.command, *arguments],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **self.environment},
        )
        self.processes.append(process)
        return process

    def stop(self) -> None:
        """Interrupt the workers, then the scheduler (a worker whose scheduler left first
        waits for it to come back), as one stops them by hand."""
        schedulers = [process for process in self.processes if "scheduler" in process.args]
        workers = [process for process in self.processes if process not in schedulers]
        for group in (workers, schedulers):
            for process in group:
                if process.poll() is None:
                    process.send_signal(signal.SIGINT)
            for process in group:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@pytest.fixture
def dask_cluster(tmp_path):
    """Start and stop ``dask`` processes by hand (:class:`DaskProcesses`)."""
    processes = DaskProcesses(tmp_path)
    try:
        yield processes
    finally:
        processes.stop()


@pytest.fixture
def dask_processes(dask_cluster):
    """A ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1; yields the address."""
    address = dask_cluster.start_scheduler()
    dask_cluster.start_workers(2)
    return address


class ServeProcess:
    """A ``rollscore serve`` process on 127.0.0.1 and a free port, started as a user starts
    it (leading a process group of its own, as a shell starts a job); :attr:`url` once it is
    ready, :attr:`lines` what it printed on stderr."""

    def __init__(self, *arguments: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rollscore.pipeline.cli", "serve", "--port", "0", *arguments],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.url = ""
        listening = threading.Event()

        def read_stderr() -> None:
            assert self.process.stderr is not None
            for line in self.process.stderr:
                self.lines.append(line)
                found = re.search(r"listening on (http://\S+?)[;\s]", line)
                if found:
                    self.url = found.group(1)
                    listening.set()
            listening.set()

        self.reader = threading.Thread(target=read_stderr, daemon=True)
        self.reader.start()
        listening.wait(120)
        if not self.url:
            self.stop()
            pytest.fail("rollscore serve did not start:\n" + "".join(self.lines))
        self.wait_until_ready()

    def wait_until_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=5) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        pytest.fail("rollscore serve never became ready:\n" + "".join(self.lines))

    def stop(self) -> int:
        """SIGTERM, as a process manager stops it; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()
        finally:
            self.reader.join(timeout=5)


@pytest.fixture(scope="module")
def serve_folder(tmp_path_factory):
    """A folder for one test module's server files."""
    return tmp_path_factory.mktemp("serve")


@pytest.fixture(scope="module")
def start_server():
    """Starts :class:`ServeProcess` es; stops those still running when the module is done."""
    started: list[ServeProcess] = []

    def start(*arguments: str, env: dict[str, str] | None = None) -> ServeProcess:
        started.append(ServeProcess(*arguments, env=env))
        return started[-1]

    yield start
    for process in started:
        process.stop()
