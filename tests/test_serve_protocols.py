"""``rollscore serve`` answering each trainer's protocol, as the trainers send it, from a real
server process on 127.0.0.1: exact rewards on corpus rows (equal to the partition kernel's in
this process), hostile rows, each bad input, and a thousand concurrent requests."""

from __future__ import annotations

import json
import math
import socket
import urllib.error
import urllib.request

import pandas as pd
import pytest
from rollscore.env.serve.results import column_results, row_results, sample_fields
from rollscore.pipeline.kernel import score_partition
from rollscore.rewards import load_config

from bench.corpus import rollout_rows
from bench.serve_load import nemo_gym_verify, openrlhf_get_reward, post_many, slime_reward

pytestmark = pytest.mark.slow

CONFIG = {
    "sample_timeout": 2.0,
    "reward_functions": [{"name": "format", "weight": 0.2}, {"name": "math_expr", "weight": 0.8}],
    "by_data_source": {
        "synthetic_choice": {"reward_functions": [{"name": "exact_alnum", "weight": 1.0}]},
        "synthetic_bbox": {"reward_functions": [{"name": "bbox_giou", "weight": 1.0}]},
    },
}
HOSTILE = "<think>x</think><answer>\\boxed{9^{9^{9^{9}}}}</answer>"


@pytest.fixture(scope="module")
def server(serve_folder, start_server):
    config = serve_folder / "config.yaml"
    config.write_text(json.dumps(CONFIG))
    running = start_server("--config", str(config), "--workers", "2", "--max-body-mb", "1")
    yield running
    assert running.stop() == 0, "".join(running.lines)


def expected_results(rows: list[dict], with_sources: bool) -> list[dict]:
    """What the kernel gives the rows in this process: the answers' reference."""
    frame = pd.DataFrame(
        {
            "ground_truth": [row["ground_truth"] for row in rows],
            "response": [row["response"] for row in rows],
            "data_source": [row["data_source"] if with_sources else None for row in rows],
        }
    )
    return row_results(score_partition(frame, load_config(CONFIG)))


def post(url: str, path: str, body: object, headers: dict | None = None) -> tuple[int, dict]:
    """One request with the standard library: its status and JSON answer."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        url + path, data, {"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_nemo_gym_verify_answers_the_request_with_its_reward_and_details(server):
    rows = list(rollout_rows(3, 4))
    expected = expected_results(rows, with_sources=True)
    for task, (row, reference) in enumerate(zip(rows, expected)):
        path, body = nemo_gym_verify(row, task)
        status, answer = post(server.url, path, body)
        assert status == 200
        assert answer == {**body, **sample_fields(reference)}
        assert "error_kind" not in answer  # said only where there was one
        assert answer["reward"] == reference["reward"]


def test_nemo_gym_reasoning_items_count_as_nothing_and_other_fields_name_the_truth(server):
    _, body = nemo_gym_verify(
        {
            "prompt": "1 + 2?",
            "response": "<think>short</think><answer>3</answer>",
            "ground_truth": "3",
            "data_source": None,
        },
        7,
    )
    body["response"]["output"][0]["summary"] = [
        {"type": "summary_text", "text": "<answer>4</answer>"}
    ]
    status, answer = post(server.url, "/verify", body)
    assert (status, answer["reward"], answer["correct"]) == (200, 1.0, True)
    assert answer["extracted_answer"] == "3"
    body["response"]["output"] = body["response"]["output"][:1]  # reasoning only
    status, answer = post(server.url, "/verify", body)
    assert (status, answer["reward"], answer["error_kind"]) == (200, 0.0, "bad_input")
    assert answer["error"] == "response has no message output item"
    del body["expected_answer"]
    status, answer = post(server.url, "/verify", body)
    assert status == 422 and "expected_answer is missing" in answer["detail"]


def test_a_verify_answer_says_its_own_verdicts_error_not_the_one_it_was_sent(server):
    """A stored answer verified again carries its earlier verdict: the new answer says this
    verdict's error, or none, and the metrics count only that."""
    row = {"prompt": "1 + 2?", "response": "<answer>3</answer>", "ground_truth": "3",
           "data_source": None}  # fmt: skip
    _, body = nemo_gym_verify(row, 0)
    stale = {"reward": 0.0, "correct": False, "error": "math-verify took over 5 s",
             "error_kind": "timeout"}  # fmt: skip
    status, answer = post(server.url, "/verify", body | stale)
    assert (status, answer["reward"], answer["correct"]) == (200, pytest.approx(0.95), True)
    assert "error" not in answer and "error_kind" not in answer
    status, metrics = post(server.url, "/aggregate_metrics", {"verify_responses": [answer]})
    assert (metrics["agent_metrics"]["errors"], metrics["agent_metrics"]["timeouts"]) == (0, 0)
    body["response"]["output"] = body["response"]["output"][:1]  # reasoning only
    status, answer = post(server.url, "/verify", body | stale)
    assert (status, answer["error_kind"]) == (200, "bad_input")
    assert answer["error"] == "response has no message output item"


def test_nemo_gym_session_metrics_and_reverify_mode(server):
    rows = list(rollout_rows(4, 4))
    answers = [post(server.url, *nemo_gym_verify(row, task // 4, task % 4))[1] for task, row in
               enumerate(rows)]  # fmt: skip
    assert post(server.url, "/seed_session", {"_ng_task_index": 0, "question": "q"}) == (200, {})
    status, metrics = post(server.url, "/aggregate_metrics", {"verify_responses": answers})
    assert status == 200
    agent = metrics["agent_metrics"]
    assert agent["rows"] == 16 and agent["num_prompts"] == 4
    assert agent["accuracy"] == pytest.approx(sum(a["reward"] for a in answers) / 16)
    assert agent["fraction_correct"] == sum(a["correct"] for a in answers) / 16
    assert {"pass@1", "pass@4", "maj@4"} <= set(agent)
    assert [group["_ng_task_index"] for group in metrics["group_level_metrics"]] == [0, 1, 2, 3]
    assert metrics["key_metrics"]["accuracy"] == agent["accuracy"]
    with urllib.request.urlopen(server.url + "/reverify_mode") as answer:
        assert json.loads(answer.read()) == "stateless"


def test_openrlhf_get_reward_scores_the_response_after_its_prompt(server):
    rows = list(rollout_rows(2, 4))
    expected = expected_results(rows, with_sources=False)
    for row, reference in zip(rows, expected):
        status, answer = post(server.url, *openrlhf_get_reward(row))
        assert status == 200
        assert answer == {
            "rewards": [reference["reward"]],
            "scores": [reference["reward"]],
            "extra_logs": {
                "correct": [1.0 if reference["correct"] else 0.0],
                "errors": [0.0 if reference["error"] is None else 1.0],
            },
        }
    # the corpus's prompts themselves ask for "<answer></answer>": without the prompt taken off,
    # the greedy tag would span from the prompt's tag to the response's
    status, answer = post(
        server.url,
        "/get_reward",
        {"query": ["Say <answer></answer>. <answer>7</answer>", "elsewhere"],
         "prompts": ["Say <answer></answer>. ", "not in its query"], "labels": [7, "7"]},
    )  # fmt: skip
    assert status == 200
    assert answer["rewards"] == [pytest.approx(0.95), 0.0]  # format 0.75 * 0.2 + math 0.8
    assert answer["extra_logs"] == {"correct": [1.0, 0.0], "errors": [0.0, 1.0]}


def test_slime_gets_the_reward_and_its_details(server):
    rows = list(rollout_rows(2, 4))
    expected = expected_results(rows, with_sources=False)
    for row, reference in zip(rows, expected):
        assert post(server.url, *slime_reward(row)) == (200, sample_fields(reference))
    prompt_as_messages = [{"role": "user", "content": "2 + 2?"}]
    status, answer = post(
        server.url, "/slime", {"prompt": prompt_as_messages, "response": "<answer>4</answer>",
                               "label": "4"},
    )  # fmt: skip
    assert status == 200 and answer["reward"] == pytest.approx(0.95) and answer["correct"] is True


def test_the_batch_endpoint_returns_the_offline_score_columns(server):
    rows = list(rollout_rows(4, 8))
    body = {
        "ground_truth": [row["ground_truth"] for row in rows] + [None],
        "response": [row["response"] for row in rows] + ["<answer>1</answer>"],
        "data_source": [row["data_source"] for row in rows] + [None],
    }
    status, answer = post(server.url, "/score", body)
    frame = pd.DataFrame(body)
    assert status == 200
    scores = score_partition(frame, load_config(CONFIG))
    assert answer == column_results(row_results(scores), list(scores.columns))
    assert answer["error_kind"][-1] == "bad_input"
    assert post(server.url, "/score", {"ground_truth": [], "response": []})[1]["reward"] == []


def test_hostile_samples_cost_their_own_rows_only(server):
    strange = [
        {"prompt": "p", "response": "<answer>" * 25_000, "ground_truth": "1"},  # 200 kB
        {
            "prompt": "p",
            "response": "<think>\x00</think><answer>½ 🙂</answer>",
            "ground_truth": "½",
        },
        *rollout_rows(2, 4),
    ]
    rows = [
        {"prompt": "p", "response": HOSTILE, "ground_truth": "1"},  # math-verify times out
        {"prompt": "p", "response": "<answer>\ud800</answer>", "ground_truth": "1"},
        *strange,
    ]
    for row in strange:
        row["data_source"] = None
    expected = expected_results(strange, with_sources=False)
    answers = post_many(server.url, [slime_reward(row) for row in rows])
    assert [answer.status for answer in answers] == [200] * len(answers)
    timeout, surrogate = answers[0].body, answers[1].body
    assert (timeout["reward"], timeout["error_kind"]) == (0.0, "timeout")
    assert timeout["error"].startswith("math-verify took over 2 s")
    assert (surrogate["reward"], surrogate["error_kind"]) == (0.0, "unreadable_row")
    assert [answer.body for answer in answers[2:]] == [sample_fields(e) for e in expected]


def test_numbers_score_as_written_and_a_boolean_ground_truth_is_a_bad_input(server):
    """A JSON true is no ground truth: it is not taken for 1. A float label is scored as the
    number it is, not as Python's 1e-05."""
    status, answer = post(
        server.url, "/slime", {"response": "<answer>0.00001</answer>", "label": 0.00001}
    )
    assert (status, answer["correct"]) == (200, True)
    body = {
        "ground_truth": [0.00001, True, 1],
        "response": ["<answer>0.00001</answer>", "<answer>1</answer>", "<answer>1</answer>"],
    }
    status, answer = post(server.url, "/score", body)
    assert (status, answer["correct"], answer["error_kind"]) == (
        200,
        [True, False, True],
        [None, "bad_input", None],
    )
    assert answer["error"][1] == "ground_truth is bool, not a string"
    status, answer = post(server.url, "/slime", {"response": "<answer>1</answer>", "label": True})
    assert (status, answer["correct"]) == (200, False)
    _, verify = nemo_gym_verify(
        {"prompt": "p", "response": "<answer>1</answer>", "ground_truth": "1", "data_source": None},
        1,
    )
    status, answer = post(server.url, "/verify", verify | {"expected_answer": True})
    assert status == 422 and "expected_answer is bool" in answer["detail"]


def test_nan_and_infinity_sent_the_way_python_writes_them_get_answers_not_500s(server):
    """Python's json writes NaN and Infinity, which JSON has not: a verify request echoes them as
    null, and aggregate_metrics refuses a reward that is not a finite number in one line."""
    _, verify = nemo_gym_verify(
        {"prompt": "p", "response": "<answer>1</answer>", "ground_truth": "1", "data_source": None},
        1,
    )
    status, answer = post(
        server.url, "/verify", verify | {"temperature": math.nan, "scores": [math.inf, 1.5]}
    )
    assert (status, answer["correct"], answer["temperature"], answer["scores"]) == (
        200,
        True,
        None,
        [None, 1.5],
    )
    for reward in (math.inf, math.nan, 10**400):
        body = {"verify_responses": [{"reward": 1.0}, {"reward": reward}]}
        status, answer = post(server.url, "/aggregate_metrics", body)
        assert (status, answer["detail"]) == (
            422,
            "verify_responses[1] has a reward that is not a finite number",
        )
    body = {"verify_responses": [{"reward": 0.0, "reward_math_expr": -math.inf}]}
    status, answer = post(server.url, "/aggregate_metrics", body)
    assert (status, answer["detail"]) == (
        422,
        "verify_responses[0] has a reward_math_expr that is not a finite number",
    )
    body = {"verify_responses": [{"reward": 1.0, "data_source": "cut \udc00"}, {"reward": 0.0}]}
    status, answer = post(server.url, "/aggregate_metrics", body)
    assert (status, answer["agent_metrics"]["accuracy"]) == (200, 0.5)
    assert answer["agent_metrics"]["by_data_source/cut \ufffd/rows"] == 1


def test_each_bad_input_gets_one_clear_message_and_the_server_stays_up(server):
    url = server.url
    assert post(url, "/verify", b"{not json") == (
        400,
        {"detail": "the body is not valid JSON: Expecting property name enclosed in double quotes"},
    )
    assert post(url, "/slime", b"")[0] == 400
    # json's own limits, which FastAPI reports otherwise than a syntax error
    assert post(url, "/slime", b'{"label": ' + b"1" * 5000 + b"}") == (
        400,
        {"detail": "the body is not valid JSON: a number of over 4,300 digits"},
    )
    assert post(url, "/slime", b"[" * 100_000 + b"]" * 100_000) == (
        400,
        {"detail": "the body is not valid JSON: nested too deeply to parse"},
    )
    assert post(url, "/slime", b'{"label": "\xff"}') == (
        400,
        {
            "detail": "the body is not valid JSON: 'utf-8' codec can't decode byte 0xff in "
            "position 11: invalid start byte"
        },
    )
    status, answer = post(url, "/slime", {"prompt": "p", "response": "r", "label": None})
    assert status == 422 and answer["detail"].startswith("body.label")
    status, answer = post(url, "/get_reward", {"query": ["q"], "prompts": ["q"], "labels": []})
    assert status == 422
    assert answer["detail"] == (
        "query, prompts and labels must be lists of one length, not 1, 1 and 0"
    )
    status, answer = post(url, "/get_reward", {"query": "q", "labels": [{"x": 1}]})
    assert status == 422 and "body.query" in answer["detail"]
    status, answer = post(url, "/verify", {"response": {"output": []}, "expected_answer": "1"})
    assert status == 422 and answer["detail"] == "body.responses_create_params: Field required"
    status, answer = post(url, "/aggregate_metrics", {"verify_responses": [{"correct": True}]})
    assert (status, answer["detail"]) == (422, "verify_responses[0] has no numeric reward")
    assert post(url, "/nope", {}) == (404, {"detail": "no route POST /nope: see /docs"})
    # far over the limit: a client still sending it when the server answers reads the answer
    too_large = {"prompt": "p", "response": "x" * 2**23, "label": "1"}
    assert post(url, "/slime", too_large) == (
        413,
        {"detail": "the body is over the limit of 1 MiB"},
    )
    assert chunked_post_status(url, "/slime", json.dumps(too_large).encode()) == 413
    answered = post(url, "/slime", {"prompt": "p", "response": "<answer>1</answer>", "label": 1})
    assert (answered[0], answered[1]["reward"]) == (200, pytest.approx(0.95))
    with urllib.request.urlopen(url + "/health") as answer:
        assert json.loads(answer.read())["status"] == "ok"


def chunked_post_status(url: str, path: str, body: bytes) -> int:
    """A POST whose body says no length (chunked transfer encoding); the status answered."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n"
        connection.sendall((head + "Content-Type: application/json\r\n\r\n").encode())
        try:
            for start in range(0, len(body), 65536):
                chunk = body[start : start + 65536]
                connection.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            connection.sendall(b"0\r\n\r\n")
        except OSError:  # the server answered and closed before the whole body was sent
            pass
        return int(connection.recv(4096).split(b" ")[1])


def test_the_docs_show_every_request_body(server):
    with urllib.request.urlopen(server.url + "/openapi.json") as answer:
        schemas = json.loads(answer.read())["components"]["schemas"]
    assert {"VerifyRequest", "GetRewardRequest", "SlimeRequest", "ScoreRequest"} <= set(schemas)


def test_a_thousand_concurrent_requests_of_every_protocol_get_exactly_their_rewards(server):
    rows = list(rollout_rows(125, 8, seed=3))
    with_sources = expected_results(rows, with_sources=True)
    without_sources = expected_results(rows, with_sources=False)
    requests, references = [], []
    for index, row in enumerate(rows):
        kind = index % 3
        if kind == 0:
            path, body = nemo_gym_verify(row, index // 8, index % 8)
            references.append({**body, **sample_fields(with_sources[index])})
        elif kind == 1:
            path, body = openrlhf_get_reward(row)
            reference = without_sources[index]
            references.append(([reference["reward"]], [1.0 if reference["correct"] else 0.0]))
        else:
            path, body = slime_reward(row)
            references.append(sample_fields(without_sources[index]))
        requests.append((path, body))
    answers = post_many(server.url, requests, connections=1000)
    assert [answer.status for answer in answers] == [200] * 1000
    for index, (answer, reference) in enumerate(zip(answers, references)):
        if index % 3 == 1:
            assert (answer.body["rewards"], answer.body["extra_logs"]["correct"]) == reference
        else:
            assert answer.body == reference
