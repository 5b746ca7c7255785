"""verl's custom reward function, scored on Dask: the file that verl's
``reward.custom_reward_function.path`` names holds ``compute_score = VerlReward(config)``.

verl imports that file in each of its reward processes and calls the function with keywords,
from several threads at once. So the cluster is reached on the first call, not at import: the
scheduler given, or the one at Dask's ``scheduler-address`` (``DASK_SCHEDULER_ADDRESS``), which
every process shares, or else a local cluster of the process's own.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import ExitStack, closing
from types import TracebackType

import numpy as np
import pandas as pd
from rollscore.env.session import ScoringSession
from rollscore.env.step_input import samples_frame
from rollscore.pipeline.cluster import scoring_client
from rollscore.rewards import ScoringConfig, load_config

VerlScore = float | dict[str, float | str | None]
"""What verl's reward managers accept from a custom reward function, per sample."""


class VerlReward:
    """verl's custom reward function from a rollscore config: ``reward(data_source=...,
    solution_str=..., ground_truth=..., extra_info=...)`` per sample, :meth:`batch` for verl's
    ``BatchRewardManager``. The rewards are those of the sample's data source when the config
    has ``by_data_source`` rewards for it. Scoring happens on the cluster at ``scheduler`` (or
    Dask's ``scheduler-address``), which :meth:`close` leaves up, or else on a local cluster of
    ``num_workers`` processes that this reward starts on its first call and :meth:`close` stops.

    Each sample gets its combined reward as a float, or with ``return_dict=True`` a dict of the
    same keys for every sample: ``score`` (the reward), each ``reward_<name>`` component (None
    where it does not apply or failed), ``acc`` (1.0 when correct, else 0.0) and ``pred`` (the
    extracted answer, "" when none; verl's maj@N votes on it). A bad sample (a ground truth that
    is missing or neither a string nor a number, a response that is not a string) scores 0.0,
    as a reward function that raises on it does. A bad config raises
    :class:`rollscore.rewards.ConfigError` here, when verl loads the file.
    """

    def __init__(
        self, config: object, return_dict: bool = False, scheduler: str | None = None
    ) -> None:
        self.config: ScoringConfig = load_config(config)
        self.return_dict = return_dict
        self.scheduler = scheduler
        self._starting = threading.Lock()
        self._session: ScoringSession | None = None
        self._owned = ExitStack()

    def __call__(
        self,
        data_source: object,
        solution_str: object,
        ground_truth: object,
        extra_info: object = None,
        **kwargs: object,
    ) -> VerlScore:
        """One sample's score. ``extra_info`` and ``kwargs`` (verl's ``reward_kwargs``, a reward
        model's address) are accepted and not used."""
        return self.batch([data_source], [solution_str], [ground_truth])[0]

    def batch(
        self,
        data_sources: Sequence[object],
        solution_strs: Sequence[object],
        ground_truths: Sequence[object],
        extra_infos: Sequence[object] | None = None,
        **kwargs: object,
    ) -> list[VerlScore]:
        """Each sample's score, in order, from one scoring of the whole batch on the cluster."""
        frame = samples_frame(list(solution_strs), list(ground_truths), list(data_sources))
        scores = self._scoring_session().score(frame, components=self.return_dict)
        rewards = scores["reward"].to_numpy(dtype=np.float64, na_value=0.0).tolist()
        if not self.return_dict:
            return rewards
        return _score_dicts(rewards, scores, self.config.component_columns)

    def _scoring_session(self) -> ScoringSession:
        """The session, started by the first caller while the others wait for it."""
        with self._starting:
            if self._session is None:
                with ExitStack() as starting:
                    client = starting.enter_context(
                        scoring_client(self.scheduler, workers=self.config.num_workers)
                    )
                    session = ScoringSession(self.config, client, name=type(self).__name__)
                    starting.enter_context(closing(session))
                    self._owned = starting.pop_all()
                self._session = session
            return self._session

    def close(self) -> None:
        """Close the session's client, and the local cluster if it started one; a cluster at a
        scheduler address stays up. A later call starts a session again."""
        with self._starting:
            self._owned.close()
            self._session = None

    def __enter__(self) -> VerlReward:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _score_dicts(
    rewards: list[float], scores: pd.DataFrame, components: Sequence[str]
) -> list[VerlScore]:
    """One dict per sample, every one with the same keys: score, components, acc, pred."""
    columns = {
        column: scores[column].to_numpy(dtype=object, na_value=None).tolist()
        for column in components
    }
    correct = scores["correct"].to_numpy(dtype=bool, na_value=False).tolist()
    answers = scores["extracted_answer"].to_numpy(dtype=object, na_value="").tolist()
    return [
        {
            "score": reward,
            **{column: values[row] for column, values in columns.items()},
            "acc": 1.0 if correct[row] else 0.0,
            "pred": answers[row],
        }
        for row, reward in enumerate(rewards)
    ]
