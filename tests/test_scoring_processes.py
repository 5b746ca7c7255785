"""math-verify in threads and under a time bound: correct answers score 1.0 from any thread,
a pathological sample times out alone, and a scoring process that ignores its alarm is
killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import math_verify
import psutil
import pytest
from adversarial_latex import GOLDS, adversarial_answers
from commands import alive
from rollscore.rewards import (
    VerifierUnavailable,
    load_config,
    math_expression_reward,
    score_batch,
)
from rollscore.rewards.math_answers import boxed, math_expression_result
from rollscore.rewards.verifier import pool
from rollscore.rewards.verifier.pool import (
    KILL_GRACE,
    SCORING_PROCESS_MODULE,
    ScoringProcess,
    ScoringProcesses,
    _memo_key,
)
from rollscore.rewards.verifier.requests import SampleLimits, VerifyRequest

LIMIT = 1.0
CONFIG = load_config(
    {"sample_timeout": LIMIT, "reward_functions": [{"name": "math_expr", "weight": 1.0}]}
)

CORRECT_PAIRS = [
    ("5", "5"),
    (r"\frac{3}{4}", "3/4"),
    (r"\frac{3}{4}", "0.75"),
    ("12", "12.0"),
    ("x^2+6x+9", "(x+3)^2"),
    (r"2\sqrt{3}", r"\sqrt{12}"),
    ("-17", "-17"),
    (r"\frac{1}{3}", r"\dfrac{1}{3}"),
    ("100", "10^2"),
    (r"\pi", r"\pi"),
    ("0.5", r"\frac{1}{2}"),
    ("9", "3^2"),
]


def scoring_process_pids() -> set[int]:
    """The live scoring processes this process has started. A process that is still inside
    ``exec`` has no command line yet, so an empty one is read again."""
    pids = set()
    for child in psutil.Process().children():
        try:
            command = child.cmdline()
            deadline = time.monotonic() + 5
            while not command and time.monotonic() < deadline:
                time.sleep(0.01)
                command = child.cmdline()
        except psutil.Error:  # gone, or a zombie not reaped yet
            continue
        if SCORING_PROCESS_MODULE in " ".join(command):
            pids.add(child.pid)
    return pids


@pytest.fixture
def processes(monkeypatch):
    """Scoring processes of the test's own, with an empty memo, used by every reward in it."""
    fresh = ScoringProcesses()
    monkeypatch.setattr(pool, "scoring_processes", fresh)
    yield fresh
    fresh.shutdown()


@pytest.fixture
def only_process(processes):
    """Exactly one warm, idle scoring process; yields its process id."""
    before = scoring_process_pids()
    processes.prestart(1)
    (pid,) = scoring_process_pids() - before
    assert processes.verify(["\\boxed{1}"], ["\\boxed{1}"]) == (1.0, None)  # ready
    yield pid
    if alive(pid):
        os.kill(pid, signal.SIGCONT)


def tagged(answer: str) -> str:
    return f"<answer>{answer}</answer>"


def test_plain_math_verify_parse_refuses_worker_threads():
    """The trap: with its default timeout, math-verify raises outside the main thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(math_verify.parse, r"\boxed{5}")
        with pytest.raises(ValueError, match="threaded environment"):
            future.result()


def test_correct_answers_score_one_from_several_threads_at_once(processes):
    threads = 4
    barrier = threading.Barrier(threads, timeout=60)

    def score(pairs):
        barrier.wait()  # every thread scores at the same time
        assert threading.current_thread() is not threading.main_thread()
        return [math_expression_reward(gold, tagged(answer)) for gold, answer in pairs]

    chunks = [CORRECT_PAIRS[index::threads] for index in range(threads)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = [result for chunk in pool.map(score, chunks) for result in chunk]
    assert results == [(1.0, True)] * len(CORRECT_PAIRS)


def test_score_batch_from_several_threads_at_once(processes):
    golds = [gold for gold, _ in CORRECT_PAIRS]
    responses = [tagged(answer) for _, answer in CORRECT_PAIRS]
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(score_batch, CONFIG, golds, responses) for _ in range(3)]
        for future in futures:
            scores = future.result()
            assert scores.reward == [1.0] * len(CORRECT_PAIRS)
            assert scores.error == [None] * len(CORRECT_PAIRS)


PATHOLOGICAL = [
    pytest.param("5", tagged("9^{9^{9^{9^{9}}}}"), 0.0, "timeout", id="power-tower"),
    pytest.param("5", tagged("1+" * 100_000 + "1"), 0.0, "timeout", id="200kB-sum"),
    pytest.param("5", tagged("10^{10^{10^{10}}}"), 0.0, "timeout", id="huge-power"),
    # math-verify unwraps 500 nested boxes quickly and finds the 5
    pytest.param("5", tagged(r"\boxed{" * 500 + "5" + "}" * 500), 1.0, None, id="boxed-500-deep"),
    pytest.param("5", tagged(r"\boxed{" * 500), 0.0, None, id="boxed-500-unclosed"),
]


def score_between_normal_samples(ground_truth: str, response: str):
    """Score [normal, pathological, normal] with a 1 s limit; returns (scores, seconds).

    A timed-out sample is tried once more on a fresh process, so it may take twice the limit
    and a process's start."""
    start = time.monotonic()
    scores = score_batch(
        CONFIG, ["12", ground_truth, "7/8"], [tagged("12.0"), response, tagged(r"\frac{7}{8}")]
    )
    return scores, time.monotonic() - start


@pytest.mark.slow
@pytest.mark.parametrize("where", ["main-thread", "worker-thread"])
@pytest.mark.parametrize(("ground_truth", "response", "reward", "error"), PATHOLOGICAL)
def test_a_pathological_sample_is_bounded_and_alone(
    only_process, where, ground_truth, response, reward, error
):
    if where == "main-thread":
        scores, elapsed = score_between_normal_samples(ground_truth, response)
    else:
        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(score_between_normal_samples, ground_truth, response)
            scores, elapsed = future.result()
    assert elapsed < 2 * (LIMIT + KILL_GRACE) + 5
    assert scores.reward == [1.0, reward, 1.0]
    assert scores.correct == [True, reward == 1.0, True]
    assert scores.error_kind == [None, error, None]
    if error is None:
        assert scores.error == [None, None, None]
    else:
        assert scores.error == [None, f"math-verify took over {LIMIT:g} s", None]


@pytest.mark.slow
def test_a_time_limit_bounds_a_direct_call(only_process):
    start = time.monotonic()
    result = math_expression_result("5", tagged("9^{9^{9^{9^{9}}}}"), limits=SampleLimits(LIMIT))
    assert time.monotonic() - start < 2 * (LIMIT + KILL_GRACE) + 5
    assert (result.reward, result.correct, result.problem.kind.value) == (0.0, False, "timeout")


@pytest.mark.slow
def test_a_process_that_ignores_its_alarm_is_killed_and_its_sample_scored_on_a_fresh_one(
    only_process,
):
    os.kill(only_process, signal.SIGSTOP)  # a stopped process cannot answer its alarm

    start = time.monotonic()
    scores = score_batch(CONFIG, ["41"], [tagged("41")])
    elapsed = time.monotonic() - start

    assert elapsed < LIMIT + KILL_GRACE + 5
    assert not alive(only_process)  # killed and reaped
    assert scores.reward == [1.0]  # the moment of trouble did not stick to the sample
    assert scores.correct == [True]
    assert scores.error == [None]


@pytest.mark.slow
def test_a_process_killed_while_idle_is_replaced_transparently(only_process):
    os.kill(only_process, signal.SIGKILL)
    psutil.Process(only_process).wait(timeout=10)

    scores = score_batch(CONFIG, ["43"], [tagged("43")])

    assert scores.reward == [1.0]
    assert scores.correct == [True]
    assert scores.error == [None]
    assert scoring_process_pids() - {only_process}  # a fresh one scored it


@pytest.mark.slow
def test_a_memoised_pair_does_not_ask_the_process_again(only_process):
    first = score_batch(CONFIG, ["44"], [tagged("44.0")])
    assert first.reward == [1.0]
    os.kill(only_process, signal.SIGSTOP)  # asking it now would time out

    start = time.monotonic()
    again = score_batch(CONFIG, ["44"], [tagged("44.0")])

    assert time.monotonic() - start < LIMIT
    assert again.reward == [1.0]
    assert again.error == [None]
    assert alive(only_process)  # never asked, so never killed


def test_the_memo_holds_the_distinct_questions_a_worker_of_a_long_run_meets(processes):
    """One of 2 workers scoring 10 million benchmark rows meets about 200,000 distinct
    questions that recur across the file: a memo that forgot the first of them would ask
    math-verify again when it came back."""
    questions = [((boxed(rf"\frac{{{n}}}{{64}}"),), (boxed(f"{n}/64"),)) for n in range(200_000)]
    for golds, predictions in questions:  # remembered as a verdict math-verify never gives
        processes._remember(_memo_key(golds, predictions, SampleLimits()), ("ok", 0.0))

    assert processes.verify(*questions[0]) == (0.0, None)  # the memo's, not a scoring process's


def test_a_process_that_cannot_start_stops_the_work_at_once_saying_why(broken_math_verify):
    fresh = ScoringProcesses()
    start = time.monotonic()

    with pytest.raises(VerifierUnavailable) as raised:
        fresh.verify(["\\boxed{1}"], ["\\boxed{1}"])

    assert time.monotonic() - start < 30  # not the start-up limit, nor a time limit per row
    assert str(raised.value) == (
        "the scoring process could not start (exit code 1): ImportError: this math_verify is broken"
    )
    fresh.shutdown()


def test_batch_scoring_raises_rather_than_scoring_every_row_zero(broken_math_verify, processes):
    with pytest.raises(VerifierUnavailable, match="this math_verify is broken"):
        score_batch(CONFIG, ["1", "2"], [tagged("1"), tagged("2")])


@pytest.mark.slow
def test_a_timeout_is_remembered_briefly_not_for_the_life_of_the_process(only_process, monkeypatch):
    first = score_batch(CONFIG, ["5"], [tagged("9^{9^{9^{9^{9}}}}")])
    assert first.error_kind == ["timeout"]
    after_first = scoring_process_pids()  # the timed-out processes were replaced
    again = score_batch(CONFIG, ["5"], [tagged("9^{9^{9^{9^{9}}}}")])
    assert again.error_kind == ["timeout"]
    # remembered: no process was asked, so none replaced (one killed before may still be ending)
    assert scoring_process_pids() <= after_first

    monkeypatch.setattr(pool, "TIMEOUT_MEMORY", 0.0)  # forget at once
    first = score_batch(CONFIG, ["5"], [tagged("8^{8^{8^{8^{8}}}}")])
    after_first = scoring_process_pids()
    again = score_batch(CONFIG, ["5"], [tagged("8^{8^{8^{8^{8}}}}")])
    assert first.error_kind == again.error_kind == ["timeout"]
    assert scoring_process_pids() - after_first  # asked again: timed out, replaced


def test_a_scoring_process_imports_math_verify_and_not_the_rest_of_the_package():
    # each process pays for its imports on start-up; NumPy and the config reader are not its
    imports = f"import sys, {SCORING_PROCESS_MODULE}, math_verify; print(*sys.modules)"
    loaded = subprocess.run(
        [sys.executable, "-c", imports], capture_output=True, text=True, check=True
    ).stdout.split()

    assert "math_verify" in loaded
    assert not {"numpy", "yaml", "rollscore.rewards.batch", "rollscore.rewards.config"} & set(
        loaded
    )


def verify_requests(pairs: list[tuple[str, str]]) -> list[VerifyRequest]:
    return [VerifyRequest((boxed(g),), (boxed(p),), SampleLimits(LIMIT)) for g, p in pairs]


@pytest.fixture
def lone_process():
    """A scoring process of its own, ready, killed after the test."""
    process = ScoringProcess()
    process.wait_ready()
    yield process
    process.kill()


@pytest.mark.slow
def test_requests_asked_ahead_are_answered_in_turn_and_in_order(lone_process):
    pairs = [*CORRECT_PAIRS, ("5", "6"), ("7", "x")]
    expected = [("ok", 1.0)] * len(CORRECT_PAIRS) + [("ok", 0.0), ("ok", 0.0)]

    answers = lone_process.ask_in_turn(verify_requests(pairs))

    assert [answer.reply for answer in answers] == expected
    assert all(answer.seconds > 0 for answer in answers)
    assert lone_process.alive  # nothing left in flight: reusable


@pytest.mark.slow
def test_a_timeout_among_requests_asked_ahead_stops_the_turn_and_the_process(lone_process):
    pairs = [("12", "12.0"), ("5", "9^{9^{9^{9^{9}}}}"), ("7", "7"), ("8", "8")]

    answers = lone_process.ask_in_turn(verify_requests(pairs))

    assert [answer.reply for answer in answers] == [
        ("ok", 1.0),
        ("timeout", f"took over {LIMIT:g} s"),
    ]
    assert 0.9 * LIMIT < answers[1].seconds < LIMIT + KILL_GRACE
    assert not lone_process.alive  # it had been sent the rest: killed, never reused


@pytest.mark.slow
def test_large_requests_among_requests_asked_ahead_are_answered(lone_process):
    padded = "5" + " " * 80_000  # 80 kB, more than a pipe holds: sent when nothing is in flight
    pairs = [("12", "12.0"), ("5", padded), ("7", "7"), ("5", padded + " "), ("3", "4")]

    answers = lone_process.ask_in_turn(verify_requests(pairs))

    assert [answer.reply for answer in answers] == [("ok", 1.0)] * 4 + [("ok", 0.0)]


@pytest.mark.slow
def test_a_process_that_dies_with_requests_in_flight_costs_no_sample(only_process):
    golds = [str(n) for n in range(100, 160)]
    responses = [tagged(f"{n}.0") for n in range(100, 160)]
    os.kill(only_process, signal.SIGSTOP)  # it is sent requests but answers none
    killer = threading.Timer(0.5, os.kill, (only_process, signal.SIGKILL))
    killer.start()

    scores = score_batch(CONFIG, golds, responses)

    killer.join()
    assert not alive(only_process)
    assert scores.reward == [1.0] * len(golds)
    assert scores.error == [None] * len(golds)


@pytest.mark.slow
def test_verdicts_asked_ahead_are_answered_from_the_memo(only_process):
    questions = [((boxed(g),), (boxed(p),)) for g, p in CORRECT_PAIRS]
    only = pool.scoring_processes
    only.verify_ahead(questions)
    os.kill(only_process, signal.SIGSTOP)  # asking it now would time out

    start = time.monotonic()
    verdicts = [only.verify(golds, predictions) for golds, predictions in questions]

    assert time.monotonic() - start < LIMIT
    assert verdicts == [(1.0, None)] * len(CORRECT_PAIRS)


@pytest.mark.slow
def test_scoring_with_questions_asked_ahead_equals_asking_row_by_row(monkeypatch):
    answers = adversarial_answers(400, seed=3, settled_only=True)
    golds = [GOLDS[index % len(GOLDS)] for index in range(len(answers))]
    responses = [tagged(answer) for answer in answers]
    golds += [g for g, _ in CORRECT_PAIRS]
    responses += [tagged(p) for _, p in CORRECT_PAIRS]

    limits = SampleLimits(30.0)  # far above any of these: no verdict depends on the clock
    monkeypatch.setattr(pool, "scoring_processes", ScoringProcesses())
    row_by_row = [
        math_expression_result(g, r, limits=limits).pair for g, r in zip(golds, responses)
    ]
    pool.scoring_processes.shutdown()
    monkeypatch.setattr(pool, "scoring_processes", ScoringProcesses())
    config = load_config(
        {"sample_timeout": 30.0, "reward_functions": [{"name": "math_expr", "weight": 1.0}]}
    )
    scores = score_batch(config, golds, responses)
    pool.scoring_processes.shutdown()

    assert list(zip(scores.reward, scores.correct)) == row_by_row
    assert sum(correct for _, correct in row_by_row) >= len(CORRECT_PAIRS)
