"""What the scoring tells the monitor: a partition's tally, sent once from its task; each
partition counted once on the scheduler's side; the Prometheus text of the figures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from distributed import Client
from distributed.protocol import dumps, loads
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from rollscore.pipeline.cluster import local_cluster
from rollscore.pipeline.kernel import score_partition
from rollscore.pipeline.metrics import ERROR_KINDS
from rollscore.pipeline.monitor.prometheus import RollscoreCollector
from rollscore.pipeline.monitor.report import TOPIC, report_tally
from rollscore.pipeline.monitor.runs import RunFigureBook
from rollscore.pipeline.monitor.tally import (
    MATH_VERIFY_BOUNDS,
    REWARD_BOUNDS,
    Tally,
    partition_tally,
)
from rollscore.rewards import load_config
from rollscore.rewards.batch import BatchScores, BatchStats


def made_scores() -> tuple[list[object], BatchScores]:
    """Six rows of two data sources (and one without), with every outcome and two errors."""
    sources = ["math", "math", "math", "choice", None, 7]
    scores = BatchScores(
        reward=[1.0, 0.05, 0.0, -1.0, 1.5, 0.0],
        correct=[True, False, False, False, True, False],
        error=[None, None, "took over 5 s", None, None, "ground_truth is missing"],
        error_kind=[None, None, "timeout", None, None, "bad_input"],
        stats=BatchStats(
            {"math-verify": 2.0, "user-functions": 0.0, "other-rewards": 0.5},
            [0.004, 0.3, 30.0],
            memo_hits=5,
        ),
    )
    return sources, scores


def test_a_partitions_tally_counts_rows_by_source_outcome_kind_and_bucket():
    tally = partition_tally(*made_scores())

    assert sorted(tally.sources) == ["(none)", "choice", "math"]
    math = tally.sources["math"]
    assert math.outcomes == [1, 1, 1]  # correct, incorrect, error
    assert math.errors_of("timeout") == 1 and sum(math.errors) == 1
    assert math.reward_sum == pytest.approx(1.05)
    buckets = dict(zip([*REWARD_BOUNDS, "above"], math.rewards))
    assert (buckets[0.0], buckets[0.1], buckets[1.0]) == (1, 1, 1)
    assert tally.sources["choice"].rewards[REWARD_BOUNDS.index(-1.0)] == 1
    unnamed = tally.sources["(none)"]  # no data source, or one that is not text
    assert unnamed.outcomes == [1, 0, 1] and unnamed.errors_of("bad_input") == 1
    assert unnamed.rewards[-1] == 1  # 1.5: above the last bound
    assert tally.math_verify == [1] + [0] * 5 + [1] + [0] * 4 + [1]  # 0.004, 0.3, 30 s
    assert len(tally.math_verify) == len(MATH_VERIFY_BOUNDS) + 1
    assert (tally.memo_hits, tally.seconds, tally.partitions) == (5, [2.0, 0.0, 0.5], 1)
    assert tally.rows == 6


def test_a_tally_crosses_the_network_as_itself():
    tally = partition_tally(*made_scores())

    carried = loads(dumps({"tally": tally.to_message()}))["tally"]  # as Dask's comms carry it

    assert Tally.from_message(carried) == tally


@pytest.mark.parametrize(
    "message",
    [{}, {"sources": {"x": [[1, 2], [], [], 0.0]}}, {**Tally().to_message(), "seconds": [1.0]}],
)
def test_a_message_that_is_not_a_tally_is_refused(message):
    with pytest.raises(ValueError, match="not a rollscore tally"):
        Tally.from_message(message)


def tally_of(rows: int, source: str = "math", errors: int = 0) -> Tally:
    sources = [source] * rows
    scores = BatchScores(
        reward=[1.0] * rows,
        correct=[True] * (rows - errors) + [False] * errors,
        error=[None] * (rows - errors) + ["took over 5 s"] * errors,
        error_kind=[None] * (rows - errors) + ["timeout"] * errors,
    )
    return partition_tally(sources, scores)


def test_a_partition_counts_once_its_result_is_in_memory_and_a_rescored_one_replaces_it():
    book = RunFigureBook()
    book.reported(("step", 0), "span-1", "train 1", 100.0, tally_of(10, errors=2), False, 101.0)
    assert book.runs["span-1"].tally.rows == 0  # not in memory yet

    book.in_memory(("step", 0), 102.0)
    book.reported(("step", 1), "span-1", "train 1", 100.5, tally_of(5), True, 103.0)
    assert book.runs["span-1"].tally.rows == 15

    # its worker died with the result: scored again elsewhere, it replaces what it counted
    book.reported(("step", 0), "span-1", "train 1", 104.0, tally_of(10, errors=0), False, 104.5)
    assert book.runs["span-1"].tally.rows == 15  # the earlier count stands until then
    book.in_memory(("step", 0), 105.0)
    run = book.runs["span-1"]
    assert run.tally.rows == 15 and run.tally.partitions == 2
    assert run.tally.sources["math"].errors_of("timeout") == 0  # the rows as last scored

    # forgotten, the same key is a new batch: it counts again
    book.forgotten(("step", 0))
    book.reported(("step", 0), "span-1", "train 1", 106.0, tally_of(10), True, 107.0)
    assert book.runs["span-1"].tally.rows == 25
    assert (run.started, run.updated) == (100.0, 107.0)
    assert run.rows_per_second() == 25 / 7.0


def test_a_cancelled_partition_never_counts():
    book = RunFigureBook()
    book.reported("score-0", "span-1", "score out", 1.0, tally_of(10), False, 2.0)

    book.forgotten("score-0")
    book.in_memory("score-0", 3.0)

    assert book.runs["span-1"].tally.rows == 0


def test_the_latest_runs_are_kept():
    book = RunFigureBook(max_runs=2)
    for index, now in enumerate([5.0, 3.0, 4.0]):
        book.reported(f"k{index}", f"span-{index}", f"run {index}", 1.0, tally_of(1), True, now)

    assert list(book.runs) == ["span-1", "span-2"]
    assert book.latest().name == "run 2"


def scraped(book: RunFigureBook) -> dict[tuple[str, tuple], float]:
    """The Prometheus text of ``book``'s figures, parsed: each sample by name and labels."""
    registry = CollectorRegistry()
    RollscoreCollector(registry).watch(book)
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_prometheus_shows_each_runs_figures_under_its_name():
    book = RunFigureBook()
    book.reported("a", "span-1", "score out", 1.0, partition_tally(*made_scores()), True, 2.0)
    book.reported("b", "span-2", "score out", 1.0, tally_of(4, "choice", errors=1), True, 3.0)
    book.reported("c", "span-3", "trainer", 1.0, tally_of(3), True, 4.0)

    samples = scraped(book)

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    run = {"run": "score out"}  # two runs of one name add up
    assert value("rollscore_rows_total", **run, data_source="choice", outcome="correct") == 3
    assert value("rollscore_rows_total", **run, data_source="choice", outcome="error") == 1
    assert value("rollscore_errors_total", **run, data_source="choice", kind="timeout") == 1
    assert value("rollscore_timeouts_total", **run, data_source="math") == 1
    assert value("rollscore_errors_total", **run, data_source="(none)", kind="bad_input") == 1
    assert value("rollscore_rows_total", run="trainer", data_source="math", outcome="correct") == 3
    assert value("rollscore_reward_bucket", **run, data_source="math", le="0.0") == 1
    assert value("rollscore_reward_bucket", **run, data_source="math", le="0.1") == 2
    assert value("rollscore_reward_bucket", **run, data_source="math", le="+Inf") == 3
    assert value("rollscore_summed_reward", **run, data_source="math") == pytest.approx(1.05)
    assert value("rollscore_math_verify_seconds_bucket", **run, le="0.005") == 1
    assert value("rollscore_math_verify_seconds_bucket", **run, le="10.0") == 2
    assert value("rollscore_math_verify_seconds_count", **run) == 3
    assert value("rollscore_math_verify_memo_hits_total", **run) == 5
    assert value("rollscore_scoring_seconds_total", **run, activity="math-verify") == 2.0
    assert value("rollscore_partitions_total", **run) == 2
    kinds = {dict(labels)["kind"] for name, labels in samples if name == "rollscore_errors_total"}
    assert kinds == set(ERROR_KINDS)


def test_outside_a_dask_task_nothing_is_reported():
    report_tally(tally_of(3), 0.0)  # no worker here: nothing to send, nothing raised


@pytest.mark.slow
def test_a_scoring_task_reports_its_tally_once_under_its_key_and_only_then():
    frame = pd.DataFrame({"ground_truth": ["a", "b", None], "response": ["<answer>a</answer>"] * 3})
    config = load_config({"reward_functions": [{"name": "exact_alnum", "weight": 1.0}]})
    quiet = load_config({**config.to_mapping(), "monitor": False})
    with local_cluster(1, "127.0.0.1:0", in_process=True) as cluster, Client(cluster) as client:
        scored = client.submit(score_partition, frame, config)
        scored.result()
        client.submit(score_partition, frame, quiet).result()
        client.run(score_partition, frame, config)  # on a worker, not in a task
        events = client.get_events(TOPIC)

    [(_, message)] = events
    assert message["key"] == scored.key
    assert list(message["name"]) == ["default"]  # submitted outside any span
    tally = Tally.from_message(message["tally"])
    assert tally.sources["(none)"].outcomes == [1, 1, 1]
    assert tally.sources["(none)"].errors_of("bad_input") == 1


def test_the_documented_panels_ask_for_metrics_that_exist():
    docs = Path(__file__).resolve().parents[1] / "docs"
    book = RunFigureBook()
    book.reported("a", "span-1", "score out", 1.0, partition_tally(*made_scores()), True, 2.0)
    exported = {name for name, _ in scraped(book)}
    dashboard = json.loads((docs / "grafana-rollscore.json").read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    prose = (docs / "monitoring.md").read_text()

    asked = set(re.findall(r"rollscore_[a-z_]+", " ".join(expressions) + prose))

    assert len(expressions) >= 8
    assert asked - {"rollscore_reward", "rollscore_math_verify_seconds"} <= exported
