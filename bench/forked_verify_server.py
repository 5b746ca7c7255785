"""A NeMo-Gym-style math resources server, rebuilt on the plain loop's rewards for comparison.

NeMo-Gym's math server answers ``POST /verify`` by joining the ``output_text`` parts of the
response's ``message`` items and running math-verify in a process forked for that one
verification, at most 32 at a time (``library_verifier_max_concurrency``), each killed after
its timeout (10 s) and scored 0.0 then. Here each forked process computes the plain loop's
combined reward (format 0.2 + math 0.8, :mod:`bench.plain_scoring`), so its rewards can be
checked against the same reference as rollscore's.

    python -m bench.forked_verify_server --port 0    # prints "listening on http://..."
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
from multiprocessing.connection import Connection
from typing import Any

import uvicorn
from fastapi import FastAPI, Request

from bench.plain_scoring import plain_reward

CONCURRENT_VERIFICATIONS = 32
TIMEOUT = 10.0


def _verify_in_child(ground_truth: str, text: str, results: Connection) -> None:
    try:
        results.send(plain_reward((ground_truth, text)))
    finally:
        results.close()


async def verify_forked(ground_truth: str, text: str) -> float:
    """The reward computed in a process forked for it; 0.0 when it fails or runs too long."""
    context = multiprocessing.get_context("fork")
    results, child_end = context.Pipe(duplex=False)
    child = context.Process(target=_verify_in_child, args=(ground_truth, text, child_end))
    child.start()
    child_end.close()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    try:
        while child.is_alive() and loop.time() < deadline:
            await asyncio.sleep(0.005)
        if child.is_alive():
            child.kill()
            child.join()
            return 0.0
        child.join()
        return results.recv() if child.exitcode == 0 and results.poll() else 0.0
    finally:
        results.close()


def create_app() -> FastAPI:
    app = FastAPI()
    slots = asyncio.Semaphore(CONCURRENT_VERIFICATIONS)

    @app.post("/verify")
    async def verify(request: Request) -> dict[str, Any]:
        body = await request.json()
        text = "".join(
            part.get("text", "")
            for item in body["response"]["output"]
            if item.get("type") == "message"
            for part in item.get("content") or ()
            if part.get("type") == "output_text"
        )
        async with slots:
            reward = await verify_forked(body["expected_answer"], text)
        return {**body, "reward": reward}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    config = uvicorn.Config(create_app(), host="127.0.0.1", port=args.port, log_level="warning")
    listening = config.bind_socket()
    host, port = listening.getsockname()[:2]
    print(f"listening on http://{host}:{port}", file=sys.stderr, flush=True)
    uvicorn.Server(config).run(sockets=[listening])


if __name__ == "__main__":
    main()
