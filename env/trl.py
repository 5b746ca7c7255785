"""TRL's ``GRPOTrainer`` reward function, scored on Dask: ``reward_funcs=[TRLReward(config)]``.

TRL calls a reward function once per generation batch, with keywords: the ``prompts``, the
``completions`` (strings, or conversations whose contents are strings or OpenAI-style parts),
the ``completion_ids``, every other dataset column as a list of one value per completion, and
extras of its own (``trainer_state``, ``log_extra``, ``log_metric``). It logs the floats
returned under the function's ``__name__``.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

import numpy as np
from distributed import Client
from rollscore.env.session import ScoringSession
from rollscore.env.step_input import conversation_texts, samples_frame
from rollscore.rewards import ScoringConfig


def completion_texts(completions: Sequence[object]) -> tuple[list[str | None], list[str | None]]:
    """Each completion's text (a string as it is, a conversation's assistant text), and why a
    completion has none (None where it has)."""
    return conversation_texts(
        [
            [{"role": "assistant", "content": completion}]
            if isinstance(completion, str)
            else completion
            for completion in completions
        ]
    )


class TRLReward:
    """A reward function for ``trl.GRPOTrainer``: each completion scored against its row's
    ``ground_truth_key`` column with a rollscore config's rewards (those of its ``data_source``
    when the dataset has that column), on the cluster behind ``client``, or else on a local
    cluster it starts and owns (see :class:`rollscore.env.session.ScoringSession`).

    A completion without a ground truth (no such column, a None or a value that is neither a
    string nor a number) or that is not a string or a conversation with assistant text scores
    0.0; a numeric ground truth is read as its text (``42`` -> ``"42"``).
    """

    def __init__(
        self,
        config: object,
        client: Client | None = None,
        ground_truth_key: str = "ground_truth",
        name: str = "rollscore",
    ) -> None:
        self._session = ScoringSession(config, client, name=type(self).__name__)
        self.config: ScoringConfig = self._session.config
        self.client = self._session.client
        self.ground_truth_key = ground_truth_key
        self.__name__ = name  # what TRL logs the rewards under: rewards/<name>/mean

    def __call__(
        self,
        prompts: Sequence[object],
        completions: Sequence[object],
        completion_ids: Sequence[Sequence[int]] | None = None,
        **columns: object,
    ) -> list[float]:
        """One reward per completion, in order. ``columns`` holds the dataset's other columns
        and TRL's extras; only ``ground_truth_key`` and ``data_source`` are read."""
        texts, problems = completion_texts(completions)
        ground_truths = columns.get(self.ground_truth_key, [None] * len(texts))
        data_sources = columns.get("data_source")
        frame = samples_frame(texts, ground_truths, data_sources, problems)
        rewards = self._session.score(frame)["reward"]
        return rewards.to_numpy(dtype=np.float64, na_value=0.0).tolist()

    def close(self) -> None:
        """Close the client and cluster this reward started, if it started them; a client given
        stays open and usable. Calling it again does nothing."""
        self._session.close()

    def __enter__(self) -> TRLReward:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
