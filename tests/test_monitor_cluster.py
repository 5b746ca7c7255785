"""Watching rollscore on a real cluster: a ``dask scheduler`` and ``dask worker`` processes
started here, the ``rollscore`` command run against them, a worker killed mid-run; the
scheduler's ``/metrics`` scraped over HTTP, its dashboard page opened in Chromium, its fine
performance metrics read; a training session on the same cluster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import dask
import dask.dataframe as dd
import pandas as pd
import pytest
from conftest import DaskProcesses, read_scheduler_file
from distributed import Client, wait
from prometheus_client.parser import text_string_to_metric_families
from rollscore.env.session import ScoringSession
from rollscore.pipeline.kernel import score_partition, scores_meta
from rollscore.pipeline.monitor.page import PAGE
from rollscore.pipeline.monitor.plugin import install_monitor, new_span
from rollscore.rewards import load_config
from test_report_browser import CHROMIUM, CHROMIUM_ARGS, require_browser

from bench.corpus import write_corpus

pytestmark = pytest.mark.slow  # real dask processes, the command, a browser

SLOW_REWARD = '''
import time


def slow_exact(ground_truth, response):
    """A user's reward that takes its time: 1.0 when the answer tag holds the ground truth."""
    time.sleep(0.02)
    return (1.0 if f"<answer>{ground_truth}</answer>" in response else 0.0), None
'''
CONFIG = {
    "sample_timeout": 2.0,
    "reward_functions": [
        {"name": "format", "weight": 0.2},
        {"name": "math_expr", "weight": 0.6},
        {"name": "slow_reward:slow_exact", "weight": 0.2},
    ],
}
HOSTILE = "<think>x</think><answer>9^{9^{9^{9^{9}}}}</answer>"
"""An answer math-verify cannot finish within the run's time limit: a timeout."""
ACTIVITIES = {"reading", "math-verify", "user-functions", "other-rewards", "writing"}
RUN = "score watched"
"""The run's name: ``score`` and its output folder's."""

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(dashboard: str) -> Samples:
    """The scheduler's ``/metrics``, fetched over HTTP and parsed: each sample by name and
    labels."""
    with urllib.request.urlopen(f"{dashboard}/metrics", timeout=30) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(value for (n, found), value in samples.items() if n == name and wanted <= set(found))


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read().decode()


def wait_for(condition: Callable[[], object], timeout: float = 60) -> object:
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.1)
    return found


@pytest.fixture(scope="module")
def reward_folder(tmp_path_factory) -> Path:
    """A folder holding a user's reward module, on the module path of every process here."""
    folder = tmp_path_factory.mktemp("user-rewards")
    (folder / "slow_reward.py").write_text(SLOW_REWARD)
    return folder


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, reward_folder):
    """A ``dask scheduler`` and two ``dask worker`` processes, shared by this module's tests."""
    processes = DaskProcesses(tmp_path_factory.mktemp("dask"), {"PYTHONPATH": str(reward_folder)})
    try:
        processes.start_scheduler()
        processes.start_workers(2)
        yield processes
    finally:
        processes.stop()


def rollouts(folder: Path) -> Path:
    """The test corpus, with a row that times out, one without a ground truth, one that does
    not parse."""
    path = write_corpus(folder / "rollouts.jsonl", 40, 8)
    hostile = [
        {"prompt": "hostile", "ground_truth": "5", "response": HOSTILE, "data_source": "hostile"},
        {"prompt": "hostile", "response": "<answer>1</answer>", "data_source": "hostile"},
    ]
    with path.open("a", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in hostile)
        handle.write("{not json\n")
    return path


@pytest.fixture(scope="module")
def watched_run(cluster, reward_folder, tmp_path_factory):
    """The command scoring the corpus on the cluster, ``/metrics`` scraped while it runs, one
    worker killed mid-run; yields the scrape during the run, the one after, the metrics."""
    folder = tmp_path_factory.mktemp("run")
    config = folder / "config.yaml"
    config.write_text(json.dumps(CONFIG))
    out = folder / "watched"
    run = subprocess.Popen(
        [sys.executable, "-m", "rollscore.pipeline.cli", "score", str(rollouts(folder)),
         "--config", str(config), "--output", str(out), "--scheduler", cluster.address,
         "--partition-rows", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(reward_folder)},
    )  # fmt: skip
    try:
        during = wait_for(
            lambda: (
                (samples := scrape(cluster.dashboard))
                and total(samples, "rollscore_rows_total", run=RUN)
                and samples
            )
        )
        with Client(cluster.address) as client:
            pids = client.run(os.getpid)
        killed_while_running = run.poll() is None
        os.kill(next(iter(pids.values())), signal.SIGKILL)
        _, stderr = run.communicate(timeout=300)
    finally:
        run.kill()
    assert run.returncode == 0, stderr
    assert killed_while_running, "the run ended before a worker could be killed"
    after = scrape(cluster.dashboard)
    return during, after, json.loads((out / "metrics.json").read_text())


def test_metrics_scraped_during_and_after_a_run_are_its_figures_though_a_worker_died(
    watched_run,
):
    during, after, metrics = watched_run

    rows = total(after, "rollscore_rows_total", run=RUN)
    assert 0 < total(during, "rollscore_rows_total", run=RUN) < rows == metrics["rows"] == 323
    for source, figures in metrics["by_data_source"].items():
        assert total(after, "rollscore_rows_total", run=RUN, data_source=source) == figures["rows"]
        for kind, count in figures["errors_by_kind"].items():
            found = total(after, "rollscore_errors_total", run=RUN, data_source=source, kind=kind)
            assert found == count, (source, kind)
    for kind, count in metrics["errors_by_kind"].items():
        assert total(after, "rollscore_errors_total", run=RUN, kind=kind) == count, kind
    # the hostile row times out, and others may under load: whatever they are, the same
    assert total(after, "rollscore_timeouts_total", run=RUN) == metrics["timeouts"] >= 1
    assert metrics["errors_by_kind"]["bad_input"] == metrics["errors_by_kind"]["unreadable_row"]
    errors = total(after, "rollscore_rows_total", run=RUN, outcome="error")
    assert errors == metrics["errors"] >= 3
    rewarded = total(after, "rollscore_reward_bucket", run=RUN, le="+Inf")
    assert rewarded == rows
    assert total(after, "rollscore_math_verify_seconds_count", run=RUN) > 0
    assert total(after, "rollscore_math_verify_memo_hits_total", run=RUN) > 0


def test_a_runs_fine_performance_metrics_say_where_its_time_went(cluster, watched_run):
    def activities(dask_scheduler) -> list[str]:
        spans = dask_scheduler.extensions["spans"]
        merged = spans.merge_by_tags(RUN).cumulative_worker_metrics
        return sorted({key[2] for key in merged if key[0] == "execute" and key[-1] == "seconds"})

    with Client(cluster.address) as client:
        deadline = time.monotonic() + 30  # the workers send their metrics with heartbeats
        while not (found := set(client.run_on_scheduler(activities))) >= ACTIVITIES:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)

    assert found >= ACTIVITIES, found


def test_the_page_is_listed_served_and_shows_the_run_in_chromium(cluster, watched_run, tmp_path):
    require_browser()
    from playwright.sync_api import sync_playwright

    metrics = watched_run[2]
    listed = json.loads(fetch(f"{cluster.dashboard}/individual-plots.json"))
    assert listed["Individual Rollscore"] == PAGE
    assert f'href="{PAGE.strip("/")}"' in fetch(f"{cluster.dashboard}/status")  # "More..."
    assert "Bokeh" in fetch(f"{cluster.dashboard}{PAGE}")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on("console", lambda line: line.type == "error" and errors.append(line.text))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{cluster.dashboard}{PAGE}", wait_until="load")
            page.get_by_text(f"rollscore: {RUN}").wait_for(timeout=30_000)
            page.get_by_text(f"{metrics['rows']:,}", exact=True).wait_for(timeout=30_000)
            hostile = page.locator(".slick-row", has_text="hostile").inner_text(timeout=30_000)
            screenshot = page.screenshot(path=str(tmp_path / "rollscore-page.png"), full_page=True)
        finally:
            browser.close()

    assert errors == []
    assert screenshot.startswith(b"\x89PNG")
    hostile_figures = metrics["by_data_source"]["hostile"]
    assert hostile.split()[:2] == ["hostile", str(hostile_figures["rows"])]


def rows_of(path: Path) -> pd.DataFrame:
    return pd.read_json(path, lines=True)[["ground_truth", "response", "data_source"]]


def test_a_training_session_and_a_partition_scored_again_count_once(cluster, tmp_path):
    frame = rows_of(write_corpus(tmp_path / "rollouts.jsonl", 12, 8))
    config = load_config({**CONFIG, "reward_functions": CONFIG["reward_functions"][:2]})
    quiet = load_config({**config.to_mapping(), "monitor": False})
    with Client(cluster.address) as client:
        session = ScoringSession(config, client, name="trainer")
        session.score(frame)
        session.score(frame.iloc[:40])
        unwatched = ScoringSession(quiet, client, name="unwatched")
        unwatched.score(frame)

        # a step's partitions, scored; the worker holding some dies before they are gathered
        step = new_span("rescored")
        partitions = dd.from_pandas(frame, npartitions=4, sort=False).map_partitions(
            score_partition, config, meta=scores_meta(config), token="rollscore-step"
        )
        delayed = partitions.to_delayed()
        with dask.annotate(span=step):
            futures = client.compute(delayed)
        wait(futures)
        holder = next(iter(client.who_has(futures).values()))[0]
        os.kill(client.run(os.getpid, workers=[holder])[holder], signal.SIGKILL)
        gathered = pd.concat(client.gather(futures))

        def spans_named(dask_scheduler, name: str) -> int:
            return len(dask_scheduler.extensions["spans"].spans_search_by_name[("rollscore", name)])

        session_spans = client.run_on_scheduler(spans_named, name=session.span_name)

    samples = scrape(cluster.dashboard)
    assert len(gathered) == len(frame)
    assert session_spans == 1  # both batches in the session's one span
    assert total(samples, "rollscore_rows_total", run=session.span_name) == len(frame) + 40
    assert total(samples, "rollscore_rows_total", run=unwatched.span_name) == 0
    assert total(samples, "rollscore_rows_total", run="rescored") == len(frame)
    assert total(samples, "rollscore_partitions_total", run="rescored") == 4
    correct = (gathered["correct"] & gathered["error"].isna()).sum()
    assert total(samples, "rollscore_rows_total", run="rescored", outcome="correct") == correct


def test_a_scheduler_without_rollscore_scores_unwatched_with_one_warning(tmp_path):
    scheduler_file = tmp_path / "scheduler.json"
    scheduler = subprocess.Popen(
        [sys.executable, "-S", "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", "0", "--no-dashboard", "--scheduler-file", str(scheduler_file)],
        env={**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"]},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip  # -S: no site hooks, so no editable install of rollscore either
    try:
        address = read_scheduler_file(scheduler_file, scheduler)["address"]
        with Client(address) as client, pytest.warns(RuntimeWarning) as warned:
            installed = install_monitor(client)
    finally:
        scheduler.send_signal(signal.SIGINT)
        scheduler.wait(timeout=30)

    assert installed is False
    [warning] = warned
    assert "No module named 'rollscore'" in str(warning.message)
    assert "install rollscore where the scheduler runs" in str(warning.message)
