"""``rollscore serve`` when things go wrong, each the way it happens: an address beyond this
machine without a token, a request without the token, a full queue, a worker process killed
mid-batch, SIGTERM while requests are in flight, and Ctrl-C in a terminal. Every accepted
request gets its answer."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest
from commands import alive, ctrl_c, wait_for
from rollscore.env.serve.command import access_line
from rollscore.rewards.verifier.pool import SCORING_PROCESS_MODULE

from bench.serve_load import Answer, nemo_gym_verify, post_many

EXAMPLE_CONFIG = Path(__file__).parents[1] / "examples" / "config.yaml"
SLOW_REWARD = '''
import time


def slow_match(ground_truth, response):
    """1.0 when the response is the ground truth; a little slow, so batches stay in flight."""
    time.sleep(0.03)
    return (1.0 if response == ground_truth else 0.0), response == ground_truth
'''


@pytest.fixture(scope="module")
def slow_config(serve_folder):
    """A config whose reward takes 30 ms a sample, importable by the server's processes."""
    (serve_folder / "slow_reward.py").write_text(SLOW_REWARD)
    config = serve_folder / "slow.yaml"
    config.write_text("reward_functions:\n  - {name: 'slow_reward:slow_match', weight: 1.0}\n")
    return config


def search_path_with(folder) -> str:
    """This process's ``PYTHONPATH`` with ``folder`` first."""
    return os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))


def environment_with(folder, **variables: str) -> dict[str, str]:
    """This process's environment, ``folder`` first on the module search path."""
    return {**os.environ, "PYTHONPATH": search_path_with(folder), **variables}


def slime_requests(count: int) -> list[tuple[str, dict]]:
    """Requests whose right answer is their index's parity: even ones match their label."""
    return [
        ("/slime", {"prompt": "p", "response": str(i), "label": str(i if i % 2 == 0 else -i)})
        for i in range(count)
    ]


def assert_all_answered(answers: list[Answer]) -> None:
    assert [(a.status, a.error) for a in answers] == [(200, None)] * len(answers)
    assert [a.body["reward"] for a in answers] == [1.0 - i % 2 for i in range(len(answers))], (
        answers[0].body
    )


def load_until_queued(
    url: str, requests: int, queued: int
) -> tuple[list[Answer], threading.Thread]:
    """``requests`` slime requests sent at once from a thread, returned once the server holds
    ``queued`` rows accepted and unanswered: the answers (filled when the thread ends) and the
    thread."""
    answers: list[Answer] = []
    load = threading.Thread(target=lambda: answers.extend(post_many(url, slime_requests(requests))))
    load.start()
    deadline = time.monotonic() + 60
    while health(url)["queued_rows"] < queued and time.monotonic() < deadline:
        time.sleep(0.02)
    return answers, load


def health(url: str, headers: dict | None = None) -> dict:
    with urllib.request.urlopen(
        urllib.request.Request(url + "/health", headers=headers or {})
    ) as a:
        return json.loads(a.read())


def workers_of(url: str) -> int:
    """The workers ``/health`` counts (it answers ``503`` when there are none)."""
    try:
        return health(url)["workers"]
    except urllib.error.HTTPError as error:
        return json.loads(error.read())["workers"]


def local_workers(server) -> list[psutil.Process]:
    """The worker processes of a server's local cluster (their nannies run in the server)."""
    children = psutil.Process(server.process.pid).children()
    return [child for child in children if "spawn_main" in " ".join(child.cmdline())]


def stalled_request(url: str) -> socket.socket:
    """A connection to ``url`` holding a POST whose headers say 100 bytes of body, of which it
    sends one: a client stalled mid-body."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    connection = socket.create_connection((host, int(port)), timeout=60)
    head = f"POST /slime HTTP/1.1\r\nHost: {host}\r\nContent-Length: 100\r\n\r\n{{"
    connection.sendall(head.encode())
    return connection


def answer_on(connection: socket.socket) -> tuple[int, dict]:
    """The status and JSON body a connection reads until the server closes it."""
    reply = b""
    while chunk := connection.recv(65536):
        reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


def status_of(url: str, path: str, body: dict, headers: dict) -> int:
    request = urllib.request.Request(
        url + path, json.dumps(body).encode(), {"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def test_the_start_line_says_who_can_use_the_server():
    assert access_line("http://127.0.0.1:8000", "127.0.0.1", None) == (
        "rollscore serve: listening on http://127.0.0.1:8000 (this machine only, no token)"
    )
    assert "need 'Authorization: Bearer <token>'" in access_line("http://h:1", "10.0.0.5", "s")
    assert "WARNING" in access_line("http://0.0.0.0:8000", "0.0.0.0", None)


@pytest.mark.slow
def test_listening_beyond_this_machine_needs_a_token(serve_folder):
    config = serve_folder / "format.yaml"
    config.write_text("reward_functions:\n  - {name: format, weight: 1.0}\n")
    environment = {
        key: value for key, value in os.environ.items() if key != "ROLLSCORE_SERVE_TOKEN"
    }
    said = []
    for extra in ([], ["--token", " "], ["--token", "t", "--dashboard-address", "0.0.0.0:0"]):
        refused = subprocess.run(
            [sys.executable, "-m", "rollscore.pipeline.cli", "serve", "--config", str(config),
             "--host", "0.0.0.0", *extra],
            capture_output=True, text=True, timeout=120, env=environment,
        )  # fmt: skip
        assert refused.returncode == 2
        assert len(refused.stderr.splitlines()) == 1  # refused before any cluster started
        said.append(refused.stderr)
    assert said == [
        "rollscore: error: --host 0.0.0.0 listens beyond this machine: give a token (--token, "
        "or $ROLLSCORE_SERVE_TOKEN) that requests must carry as 'Authorization: Bearer "
        "<token>', or --no-token to serve anyone who can reach it\n",
        "rollscore: error: the token is empty: give a secret with --token or "
        "$ROLLSCORE_SERVE_TOKEN\n",
        "rollscore: error: the dashboard would listen on 0.0.0.0:0, beyond this machine, and it "
        "takes no credentials: give a 127.0.0.1 address and reach it through an SSH tunnel "
        "(ssh -L 8787:127.0.0.1:8787 HOST)\n",
    ]


@pytest.mark.slow
def test_the_token_and_a_full_queue(serve_folder, slow_config, start_server):
    server = start_server(
        "--config", str(slow_config), "--workers", "2", "--max-queued-rows", "4",
        env=environment_with(serve_folder, ROLLSCORE_SERVE_TOKEN="s3cret"),
    )  # fmt: skip
    assert "requests need 'Authorization: Bearer <token>'" in "".join(server.lines)
    body = {"prompt": "p", "response": "1", "label": "1"}
    assert status_of(server.url, "/slime", body, {}) == 401
    assert status_of(server.url, "/slime", body, {"Authorization": "Bearer wrong"}) == 401
    assert status_of(server.url, "/openapi.json", {}, {}) in (401, 405)
    assert health(server.url)["status"] == "ok"  # readiness needs no token
    token = {"Authorization": "Bearer s3cret"}
    assert status_of(server.url, "/slime", body, token) == 200
    for scheme in ("bearer", "BEARER"):  # the scheme's case does not matter (RFC 7235)
        assert status_of(server.url, "/slime", body, {"Authorization": f"{scheme} s3cret"}) == 200
    assert status_of(server.url, "/slime", body, {"Authorization": "Basic s3cret"}) == 401

    # a request of more rows than the server queues is refused at once, whatever waits: taken
    # alone, it would hold every other request off until it was scored
    [too_many] = post_many(
        server.url, [("/score", {"ground_truth": ["1"] * 5, "response": ["1"] * 5})],
        headers=token, retry_unavailable=False,
    )  # fmt: skip
    assert (too_many.status, too_many.body["detail"]) == (413, (
        "the request holds 5 rows, more than the server's limit of 4 queued rows: send them in "
        "parts, or start the server with a larger --max-queued-rows"
    ))  # fmt: skip

    refused = post_many(server.url, slime_requests(40), headers=token, retry_unavailable=False)
    turned_away = [answer for answer in refused if answer.status == 503]
    assert turned_away and all(int(answer.retry_after) >= 1 for answer in turned_away)
    assert "queued rows" in turned_away[0].body["detail"]
    assert {answer.status for answer in refused} == {200, 503}

    retried = post_many(server.url, slime_requests(16), headers=token)  # as trainers retry
    assert_all_answered(retried)
    assert max(answer.attempts for answer in retried) > 1


@pytest.mark.slow
def test_sigterm_answers_every_accepted_request_then_exits_0(
    serve_folder, slow_config, start_server
):
    server = start_server(
        "--config", str(slow_config), "--workers", "2", env=environment_with(serve_folder)
    )
    answers, load = load_until_queued(server.url, 160, 120)
    server.process.terminate()  # SIGTERM, with 120 or more requests accepted and unanswered
    load.join(120)
    assert server.process.wait(60) == 0
    assert_all_answered(answers)
    assert "every accepted request was answered" in "".join(server.lines)
    with pytest.raises(urllib.error.URLError):
        health(server.url)


@pytest.mark.slow
def test_a_client_stalled_mid_body_gets_408_and_does_not_hold_up_sigterm(
    serve_folder, slow_config, start_server
):
    server = start_server(
        "--config", str(slow_config), "--workers", "1", "--body-timeout", "2",
        env=environment_with(serve_folder),
    )  # fmt: skip
    began = time.monotonic()
    with stalled_request(server.url) as stalled:
        assert answer_on(stalled) == (408, {"detail": "the body did not arrive whole within 2 s"})
    assert 2 <= time.monotonic() - began < 10

    with stalled_request(server.url) as stalled:
        answers, load = load_until_queued(server.url, 40, 20)
        stopped = time.monotonic()
        server.process.terminate()  # SIGTERM, one client mid-body, 20 or more requests accepted
        load.join(60)
        assert server.process.wait(30) == 0
        assert time.monotonic() - stopped < 15  # the body's 2 s, not the grace's 63 s
        assert_all_answered(answers)
        assert answer_on(stalled)[0] == 408


@pytest.mark.slow
def test_a_client_that_does_not_read_its_answer_holds_up_sigterm_for_the_grace_only(
    start_server,
):
    server = start_server(
        "--config", str(EXAMPLE_CONFIG), "--workers", "1", "--body-timeout", "1",
        "--request-timeout", "2",
    )  # fmt: skip
    row = {
        "prompt": "p",
        "response": "<answer>1</answer>",
        "ground_truth": "1",
        "data_source": None,
    }
    _, body = nemo_gym_verify(row, 0)
    echoed = json.dumps(body | {"padding": "x" * 15_000_000}).encode()  # comes back whole
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port))) as reader:
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        head = f"POST /verify HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(echoed)}\r\n\r\n"
        reader.sendall(head.encode() + echoed)
        # the answer is being written, and is not read past its first bytes
        assert reader.recv(12, socket.MSG_PEEK | socket.MSG_WAITALL) == b"HTTP/1.1 200"
        stopped = time.monotonic()
        server.process.terminate()
        assert server.process.wait(30) == 0
        assert 3 <= time.monotonic() - stopped < 12  # the grace: 1 + 2 + 1 s


@pytest.mark.slow
def test_ctrl_c_in_a_terminal_stops_every_process_and_says_so_in_one_line(
    serve_folder, slow_config, start_server
):
    server = start_server(
        "--config", str(slow_config), "--workers", "2", env=environment_with(serve_folder)
    )
    started = psutil.Process(server.process.pid).children(recursive=True)
    assert any(SCORING_PROCESS_MODULE in process.cmdline() for process in started)

    ctrl_c(server.process)

    assert server.process.wait(60) == 130
    server.reader.join(10)
    said = "".join(server.lines)
    assert server.lines[-1] == "rollscore: interrupted\n", said
    # no worker's own KeyboardInterrupt; Dask may still warn of a heartbeat cut by the close
    assert "KeyboardInterrupt" not in said
    wait_for(lambda: not any(alive(process.pid) for process in started), timeout=30)


@pytest.mark.slow
def test_a_worker_killed_mid_batch_costs_a_retry_not_a_reward(
    serve_folder, slow_config, start_server, dask_cluster, monkeypatch
):
    monkeypatch.setenv("PYTHONPATH", search_path_with(serve_folder))  # workers import the reward
    address = dask_cluster.start_scheduler()
    dask_cluster.start_workers(2)
    workers = dask_cluster.processes[1:]
    server = start_server(
        "--config", str(slow_config), "--scheduler", address, env=environment_with(serve_folder)
    )
    answers, load = load_until_queued(server.url, 240, 180)
    workers[0].kill()  # SIGKILL, with batches in flight on both workers
    workers[0].wait()
    load.join(120)
    assert_all_answered(answers)
    assert health(server.url)["workers"] == 1


@pytest.mark.slow
def test_requests_while_the_only_worker_restarts_wait_for_it(
    serve_folder, slow_config, start_server
):
    server = start_server(
        "--config", str(slow_config), "--workers", "1", env=environment_with(serve_folder)
    )
    [worker] = local_workers(server)
    worker.kill()  # SIGKILL; its nanny starts it again
    wait_for(lambda: workers_of(server.url) == 0, timeout=30)
    assert_all_answered(post_many(server.url, slime_requests(8), retry_unavailable=False))
    assert workers_of(server.url) == 1


@pytest.mark.slow
def test_a_cluster_whose_workers_never_come_back_answers_503_at_the_request_timeout(
    start_server, dask_cluster
):
    address = dask_cluster.start_scheduler()
    dask_cluster.start_workers(1)
    server = start_server(
        "--config", str(EXAMPLE_CONFIG), "--scheduler", address, "--request-timeout", "3"
    )
    worker = psutil.Process(dask_cluster.processes[1].pid)  # the nanny, then what it started
    for process in [worker, *worker.children(recursive=True)]:
        process.kill()
    wait_for(lambda: workers_of(server.url) == 0, timeout=30)
    [answer] = post_many(server.url, slime_requests(1), retry_unavailable=False)
    assert (answer.status, answer.body) == (
        503,
        {"detail": "not scored within the server's deadline of 3 s"},
    )
    assert answer.seconds < 10
    assert server.stop() == 0


@pytest.mark.slow
def test_sigterm_to_the_whole_process_group_answers_every_accepted_request(
    serve_folder, slow_config, start_server
):
    server = start_server(
        "--config", str(slow_config), "--workers", "2", env=environment_with(serve_folder)
    )
    workers = local_workers(server)
    answers, load = load_until_queued(server.url, 160, 120)
    os.killpg(server.process.pid, signal.SIGTERM)  # as a process manager stops a service
    time.sleep(0.5)
    assert load.is_alive()  # the server still scores what it accepted, on the same workers
    assert all(alive(worker.pid) for worker in workers)
    load.join(120)
    assert server.process.wait(60) == 0
    assert_all_answered(answers)
    assert not any(alive(worker.pid) for worker in workers)  # closed with their cluster
