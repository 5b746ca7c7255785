"""Many concurrent per-sample requests to a reward server, as trainers send them: aiohttp, one
connection per request in flight, a ``503`` retried after its ``Retry-After`` (as OpenRLHF's
and slime's clients retry). Shared by the serving tests and ``bench/bench_serve.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

MAX_ATTEMPTS = 100
"""Tries of one request before its last ``503`` is its answer."""


@dataclass
class Answer:
    """What one request got: its HTTP status (0: no HTTP answer, ``error`` says why), its JSON
    body, the seconds from its first try to its answer, and how many tries it took."""

    status: int
    body: Any
    seconds: float
    attempts: int
    error: str | None = None
    retry_after: str | None = None
    """The ``Retry-After`` header of the last answer, if it had one."""


async def post_all(
    url: str,
    requests: Sequence[tuple[str, Any]],
    connections: int = 1000,
    headers: dict[str, str] | None = None,
    retry_unavailable: bool = True,
    timeout: float = 300.0,
) -> list[Answer]:
    """POST each ``(path, json body)`` to ``url``, at most ``connections`` at once; the answers
    in request order."""
    limit = asyncio.Semaphore(connections)
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    session_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(
        connector=connector, timeout=session_timeout, headers=headers
    ) as session:

        async def post(path: str, body: Any) -> Answer:
            async with limit:
                return await _posted(session, url, path, body, retry_unavailable)

        return list(await asyncio.gather(*(post(path, body) for path, body in requests)))


async def _posted(
    session: aiohttp.ClientSession,
    url: str,
    path: str,
    body: Any,
    retry_unavailable: bool = True,
) -> Answer:
    """One request's answer, a ``503`` retried after its ``Retry-After``."""
    began = time.perf_counter()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            async with session.post(url + path, json=body) as response:
                answer = await response.json(content_type=None)
                wait = response.headers.get("Retry-After")
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            seconds = time.perf_counter() - began
            return Answer(0, None, seconds, attempt, f"{type(error).__name__}: {error}")
        if response.status == 503 and retry_unavailable and attempt < MAX_ATTEMPTS:
            await asyncio.sleep(float(wait or 1))
            continue
        seconds = time.perf_counter() - began
        return Answer(response.status, answer, seconds, attempt, retry_after=wait)
    raise AssertionError("unreachable")


def post_many(url: str, requests: Sequence[tuple[str, Any]], **options: Any) -> list[Answer]:
    """:func:`post_all`, from synchronous code."""
    return asyncio.run(post_all(url, requests, **options))


def nemo_gym_verify(row: dict[str, Any], task: int, rollout: int = 0) -> tuple[str, Any]:
    """A corpus row as NeMo-Gym's agent posts it to ``/verify``: the task's row (prompt as
    Responses create parameters, ``question``, ``expected_answer``, ``data_source``, NeMo-Gym's
    indices) with the model's response as a Responses object, a reasoning item before its
    message, the text in two ``output_text`` parts."""
    text = row["response"]
    middle = len(text) // 2
    return "/verify", {
        "responses_create_params": {
            "input": [{"role": "user", "content": row["prompt"], "type": "message"}],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
        },
        "response": {
            "id": f"resp_{task}_{rollout}",
            "created_at": 1761955953.0,
            "model": "policy",
            "object": "response",
            "output": [
                {"id": f"rs_{task}_{rollout}", "summary": [], "type": "reasoning"},
                {
                    "id": f"msg_{task}_{rollout}",
                    "content": [
                        {"annotations": [], "text": text[:middle], "type": "output_text"},
                        {"annotations": [], "text": text[middle:], "type": "output_text"},
                    ],
                    "role": "assistant",
                    "status": "completed",
                    "type": "message",
                },
            ],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "status": "completed",
        },
        "question": row["prompt"],
        "expected_answer": row["ground_truth"],
        "data_source": row["data_source"],
        "_ng_task_index": task,
        "_ng_rollout_index": rollout,
    }


def openrlhf_get_reward(row: dict[str, Any]) -> tuple[str, Any]:
    """A corpus row as OpenRLHF's remote reward call posts it: the decoded prompt and response
    as the query, the prompt, the label; one sample."""
    prompt = row["prompt"]
    return "/get_reward", {
        "query": [prompt + row["response"]],
        "prompts": [prompt],
        "labels": [row["ground_truth"]],
    }


def slime_reward(row: dict[str, Any]) -> tuple[str, Any]:
    """A corpus row as slime's ``remote_rm`` posts it."""
    return "/slime", {
        "prompt": row["prompt"],
        "response": row["response"],
        "label": row["ground_truth"],
    }


async def post_paced(url: str, requests: Sequence[tuple[str, Any]], rate: float) -> list[Answer]:
    """POST the requests at a steady ``rate`` a second, each when its time comes whether or not
    earlier ones were answered (an open load, as generations finish); the answers in order."""
    started = time.perf_counter()

    async def at_its_time(index: int, session: aiohttp.ClientSession) -> Answer:
        await asyncio.sleep(max(0.0, started + index / rate - time.perf_counter()))
        return await _posted(session, url, *requests[index])

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=300)
    ) as session:
        return list(await asyncio.gather(*(at_its_time(i, session) for i in range(len(requests)))))
