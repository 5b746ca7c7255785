"""slime's remote reward protocol: ``POST /slime``, as ``--rm-type remote_rm --rm-url`` calls it.

slime posts one sample per request, ``{"prompt": ..., "response": ..., "label": ...}`` (the
prompt a string or a list of chat messages, which scoring does not read; the label the ground
truth), and takes the JSON it gets back as the sample's reward. The answer is a mapping:
``reward``, ``correct``, each ``reward_<name>``, ``extracted_answer``, and ``error`` and
``error_kind`` when the row has an error; ``--reward-key reward`` tells slime which entry is
the reward.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from rollscore.env.serve.batcher import Batcher, Row
from rollscore.env.serve.results import (
    AsciiJSONResponse,
    GroundTruth,
    sample_fields,
)


class SlimeRequest(BaseModel):
    """slime's reward request for one sample."""

    model_config = ConfigDict(extra="allow")
    prompt: str | list[dict[str, Any]] | None = Field(None, description="not read by scoring")
    response: str = Field(description="the model's response")
    label: GroundTruth = Field(description="the ground truth")
    data_source: str | None = Field(None, description="selects the config's by_data_source rewards")


def router() -> APIRouter:
    routes = APIRouter(tags=["slime"])

    @routes.post("/slime", response_class=AsciiJSONResponse)
    async def slime_reward(body: SlimeRequest, request: Request) -> AsciiJSONResponse:
        """Score one sample: its reward and details (``--reward-key reward``)."""
        batcher: Batcher = request.app.state.batcher
        [scored] = await batcher.score([Row(body.label, body.response, body.data_source)])
        return AsciiJSONResponse(sample_fields(scored))

    return routes
