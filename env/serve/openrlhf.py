"""OpenRLHF's remote reward protocol: ``POST /get_reward``, as ``--reward.remote_url`` calls it.

OpenRLHF posts ``{"query": [...], "prompts": [...], "labels": [...]}``: each query is the
decoded prompt and response together, the prompt the text it was generated from, the label the
ground truth (one sample per request as each generation finishes; any number is accepted). The
response scored is what follows the prompt in the query. The answer is ``{"rewards": [...],
"scores": [...], "extra_logs": {...}}``: ``rewards`` and ``scores`` are the combined rewards
(OpenRLHF trains on the first and filters on the second), and ``extra_logs``, which OpenRLHF
logs, holds per sample ``correct`` (1.0 or 0.0) and ``errors`` (1.0 for a row with an error).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from rollscore.env.serve.batcher import Batcher, Row
from rollscore.env.serve.errors import InvalidRequest
from rollscore.env.serve.results import (
    AsciiJSONResponse,
    GroundTruth,
    column_results,
    response_after_prompt,
)
from rollscore.pipeline.responses import BadRow
from rollscore.rewards.result import ErrorKind, Problem


class GetRewardRequest(BaseModel):
    """OpenRLHF's reward request: lists of equal length."""

    query: list[str] = Field(description="each sample's prompt followed by its response")
    prompts: list[str] | None = Field(None, description="each sample's prompt")
    labels: list[GroundTruth] = Field(description="each sample's ground truth")


class GetRewardResponse(BaseModel):
    rewards: list[float]
    scores: list[float]
    extra_logs: dict[str, list[float]]


def reward_rows(body: GetRewardRequest) -> list[Row]:
    """The rows a request scores; :class:`InvalidRequest` when its lists differ in length."""
    prompts = body.prompts if body.prompts is not None else [None] * len(body.query)
    if not len(body.query) == len(prompts) == len(body.labels):
        raise InvalidRequest(
            f"query, prompts and labels must be lists of one length, not {len(body.query)}, "
            f"{len(prompts)} and {len(body.labels)}"
        )
    rows = []
    for query, prompt, label in zip(body.query, prompts, body.labels):
        try:
            rows.append(Row(label, response_after_prompt(query, prompt)))
        except BadRow as error:
            rows.append(Row(label, None, problem=Problem(ErrorKind.BAD_INPUT, str(error))))
    return rows


def router() -> APIRouter:
    routes = APIRouter(tags=["OpenRLHF"])

    @routes.post("/get_reward", response_model=GetRewardResponse, response_class=AsciiJSONResponse)
    async def get_reward(body: GetRewardRequest, request: Request) -> AsciiJSONResponse:
        """Score each (query, prompt, label); the rewards in request order."""
        batcher: Batcher = request.app.state.batcher
        scores = column_results(await batcher.score(reward_rows(body)), batcher.columns)
        return AsciiJSONResponse(
            {
                "rewards": scores["reward"],
                "scores": scores["reward"],
                "extra_logs": {
                    "correct": [1.0 if value else 0.0 for value in scores["correct"]],
                    "errors": [0.0 if value is None else 1.0 for value in scores["error"]],
                },
            }
        )

    return routes
