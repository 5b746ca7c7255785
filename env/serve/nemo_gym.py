"""NeMo-Gym's resources server protocol: ``POST /verify``, ``/seed_session``,
``/aggregate_metrics`` and ``GET /reverify_mode``, as NeMo-Gym's agents call them.

A verify request is a task's row as NeMo-Gym holds it (``responses_create_params``, the task's
own fields such as ``question`` and ``expected_answer``, and NeMo-Gym's ``_ng_*`` indices) with
the model's ``response``, an OpenAI Responses object. The response text is the ``text`` of the
``output_text`` parts of its ``message`` output items, joined, as NeMo-Gym's math servers read
it: a ``reasoning`` item (the model's thinking, when the model server splits it out), a
function call and a refusal part count as nothing. The answer is the request, every field as
sent, with ``reward``, ``correct``, each ``reward_<name>``, ``extracted_answer``, and ``error``
and ``error_kind`` when the row has an error (an ``error`` or ``error_kind`` the request carried,
from an earlier verdict, is not echoed).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from rollscore.env.serve.batcher import Batcher, Row
from rollscore.env.serve.errors import InvalidRequest
from rollscore.env.serve.results import (
    AsciiJSONResponse,
    GroundTruth,
    json_value,
    request_with_fields,
)
from rollscore.pipeline.inputs.columns import without_lone_surrogates
from rollscore.pipeline.metrics import assemble_metrics, metric_partials
from rollscore.rewards.result import ErrorKind, Problem

DEFAULT_GROUND_TRUTH_FIELD = "expected_answer"
TASK_INDEX = "_ng_task_index"
"""NeMo-Gym's index of a task in its dataset: the rollouts of one prompt share it."""
KEY_METRICS = ("accuracy", "fraction_correct", "pass@samples_per_prompt")
REVERIFY_MODE = "stateless"
"""NeMo-Gym's ``ReverifyMode`` value for a verifier whose verdict depends on the request alone,
so a stored rollout can be verified again."""


class ContentPart(BaseModel):
    """A part of an output item's content; ``output_text`` parts carry the text."""

    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class OutputItem(BaseModel):
    """An item of a Responses object's ``output``: a ``message``, ``reasoning``,
    ``function_call``..."""

    model_config = ConfigDict(extra="allow")
    type: str
    role: str | None = None
    content: list[ContentPart] | None = None


class ResponsesObject(BaseModel):
    """The model's answer as an OpenAI Responses object (``id``, ``model``, ``output``...)."""

    model_config = ConfigDict(extra="allow")
    output: list[OutputItem]


class VerifyRequest(BaseModel):
    """NeMo-Gym's verify request: the task's row and the model's response; any other field
    is carried back as sent."""

    model_config = ConfigDict(extra="allow")
    responses_create_params: dict[str, Any] = Field(
        description="the request the model was given (OpenAI Responses create parameters)"
    )
    response: ResponsesObject
    expected_answer: GroundTruth | None = Field(
        None, description="the ground truth (another field with --ground-truth-field)"
    )
    data_source: str | None = Field(None, description="selects the config's by_data_source rewards")


class SeedSessionRequest(BaseModel):
    """A task's row; the verifier keeps no session state, so there is nothing to seed."""

    model_config = ConfigDict(extra="allow")


class AggregateMetricsRequest(BaseModel):
    """Verify answers to summarise: each with its ``reward`` (``correct``,
    ``extracted_answer``, ``data_source``, ``_ng_task_index`` when present)."""

    verify_responses: list[dict[str, Any]]


class AggregateMetrics(BaseModel):
    """NeMo-Gym's aggregate metrics: per task, overall (flat keys), and the headline ones."""

    group_level_metrics: list[dict[str, Any]]
    agent_metrics: dict[str, Any]
    key_metrics: dict[str, Any]


def response_text(response: ResponsesObject) -> str | None:
    """The text of the ``output_text`` parts of the response's ``message`` items, joined; None
    when it has no message item."""
    messages = [item for item in response.output if item.type == "message"]
    if not messages:
        return None
    return "".join(
        part.text or ""
        for item in messages
        for part in item.content or ()
        if part.type == "output_text"
    )


def verify_row(body: VerifyRequest, ground_truth_field: str) -> Row:
    """The row a verify request scores; :class:`InvalidRequest` without a ground truth."""
    ground_truth = getattr(body, ground_truth_field, None)
    if ground_truth is None:
        raise InvalidRequest(
            f"{ground_truth_field} is missing: the ground truth of the task "
            "(rollscore serve --ground-truth-field names another field)"
        )
    if isinstance(ground_truth, bool) or not isinstance(ground_truth, (str, int, float)):
        raise InvalidRequest(
            f"{ground_truth_field} is {type(ground_truth).__name__}, not a string or a number"
        )
    text = response_text(body.response)
    problem = None
    if text is None:
        problem = Problem(ErrorKind.BAD_INPUT, "response has no message output item")
    return Row(ground_truth, text, body.data_source, problem)


def router(ground_truth_field: str = DEFAULT_GROUND_TRUTH_FIELD) -> APIRouter:
    """NeMo-Gym's resources server routes, reading the ground truth from
    ``ground_truth_field``."""
    routes = APIRouter(tags=["NeMo-Gym"])

    @routes.post("/verify", response_class=AsciiJSONResponse)
    async def verify(body: VerifyRequest, request: Request) -> AsciiJSONResponse:
        """Score one rollout; the request comes back with its reward and details."""
        batcher: Batcher = request.app.state.batcher
        [scored] = await batcher.score([verify_row(body, ground_truth_field)])
        sent = await request.json()  # the request as sent, which FastAPI has read already
        return AsciiJSONResponse(request_with_fields(sent, scored))

    @routes.post("/seed_session")
    async def seed_session(body: SeedSessionRequest) -> dict[str, Any]:
        """Nothing to seed: verification depends on the verify request alone."""
        return {}

    @routes.post("/aggregate_metrics")
    async def aggregate_metrics(body: AggregateMetricsRequest) -> AggregateMetrics:
        """rollscore's offline metrics of the verify answers given."""
        return await asyncio.to_thread(aggregate, body.verify_responses)

    @routes.get("/reverify_mode")
    async def reverify_mode() -> str:
        """``stateless``: a stored rollout verifies again to the same answer."""
        return REVERIFY_MODE

    return routes


def aggregate(verify_responses: Sequence[Mapping[str, Any]]) -> AggregateMetrics:
    """The metrics of verify answers, as ``rollscore score`` computes them for scored rows:
    rollouts of one task (``_ng_task_index``) are one prompt's samples; an answer without
    ``correct`` counts as correct when its reward is 1."""
    if not verify_responses:
        return AggregateMetrics(group_level_metrics=[], agent_metrics={}, key_metrics={})
    frame = metrics_frame(verify_responses)
    metrics = assemble_metrics(metric_partials(frame))
    flat = flat_metrics(metrics)
    return AggregateMetrics(
        group_level_metrics=task_metrics(frame),
        agent_metrics=flat,
        key_metrics={name: flat[name] for name in KEY_METRICS if name in flat},
    )


def metrics_frame(verify_responses: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The scored rows the metrics read, from verify answers; :class:`InvalidRequest` for one
    without a numeric reward, or with a reward that is not a finite number."""
    records = []
    for index, answer in enumerate(verify_responses):
        reward = answer.get("reward")
        if not _is_number(reward):
            raise InvalidRequest(f"verify_responses[{index}] has no numeric reward")
        rewards = {
            name: value
            for name, value in answer.items()
            if (name == "reward" or name.startswith("reward_"))
            and (value is None or _is_number(value))
        }
        for name, value in rewards.items():
            if value is not None and not _is_finite(value):
                raise InvalidRequest(
                    f"verify_responses[{index}] has a {name} that is not a finite number"
                )
        correct = answer.get("correct")
        task = answer.get(TASK_INDEX)
        record = {
            "correct": correct if isinstance(correct, bool) else reward == 1,
            "error": answer.get("error"),
            "error_kind": answer.get("error_kind"),
            "data_source": answer.get("data_source"),
            "task": task,
            "prompt": None if task is None else str(task),
            "extracted_answer": answer.get("extracted_answer"),
        }
        texts = {  # text with an unpaired surrogate as every other route reads it
            name: without_lone_surrogates(value)[0] if isinstance(value, str) else value
            for name, value in record.items()
        }
        records.append(
            texts
            | {name: None if value is None else float(value) for name, value in rewards.items()}
        )
    frame = pd.DataFrame.from_records(records)
    for name in ("error", "error_kind", "data_source", "prompt", "extracted_answer"):
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


def _is_number(value: object) -> bool:
    """Whether a JSON value is a number (true and false are not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_finite(value: int | float) -> bool:
    """Whether a JSON number is a finite float (an integer of 400 digits is not)."""
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def task_metrics(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Per task (rows of one ``_ng_task_index``): rollouts, mean reward, fraction correct."""
    tasks = frame[frame["prompt"].notna()].groupby("prompt", sort=False)
    return [
        {
            TASK_INDEX: rows["task"].tolist()[0],
            "rollouts": len(rows),
            "mean/reward": float(rows["reward"].mean()),
            "fraction_correct": float(rows["correct"].astype(bool).mean()),
        }
        for _, rows in tasks
    ]


def flat_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The metrics document with flat keys, as NeMo-Gym logs them: ``pass@k`` and ``maj@k``
    entries as ``pass@4``, ``maj@4``; other nested entries as ``outer/inner``."""
    flat: dict[str, Any] = {}
    for name, value in metrics.items():
        if name in ("pass@k", "maj@k"):
            stem = name.removesuffix("@k")
            flat.update({f"{prefix}{stem}@{k}": json_value(v) for k, v in value.items()})
        elif isinstance(value, Mapping):
            flat.update(flat_metrics(value, f"{prefix}{name}/"))
        else:
            flat[f"{prefix}{name}"] = json_value(value)
    return flat
