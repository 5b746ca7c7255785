"""rollscore's own batch endpoint, ``POST /score``: columns in, the offline output's score
columns out.

The request holds ``ground_truth`` and ``response`` lists (and a ``data_source`` list if it
likes) of one length; the answer holds ``reward``, ``correct``, each ``reward_<name>``,
``extracted_answer``, ``error`` and ``error_kind``, one entry per row in request order, as
``rollscore score`` writes them. A null ground truth or response is a bad row, as offline: it
scores 0.0 with its error.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from rollscore.env.serve.batcher import Batcher, Row
from rollscore.env.serve.errors import InvalidRequest
from rollscore.env.serve.results import GroundTruth, column_results


class ScoreRequest(BaseModel):
    """Rows as columns of equal length."""

    ground_truth: list[GroundTruth | None]
    response: list[str | None]
    data_source: list[str | None] | None = Field(
        None, description="selects the config's by_data_source rewards"
    )


def score_rows(body: ScoreRequest) -> list[Row]:
    """The rows a request scores; :class:`InvalidRequest` when its columns differ in length."""
    sources = body.data_source if body.data_source is not None else [None] * len(body.response)
    if not len(body.ground_truth) == len(body.response) == len(sources):
        raise InvalidRequest(
            f"ground_truth, response and data_source must be lists of one length, not "
            f"{len(body.ground_truth)}, {len(body.response)} and {len(sources)}"
        )
    return [Row(*fields) for fields in zip(body.ground_truth, body.response, sources)]


def router() -> APIRouter:
    routes = APIRouter(tags=["rollscore"])

    @routes.post("/score")
    async def score(body: ScoreRequest, request: Request) -> dict[str, list[Any]]:
        """Score rows given as columns; the score columns back, in row order."""
        batcher: Batcher = request.app.state.batcher
        return column_results(await batcher.score(score_rows(body)), batcher.columns)

    return routes
