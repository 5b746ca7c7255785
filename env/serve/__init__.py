"""``rollscore serve``: rewards for the trainers that call them over HTTP, scored on Dask.

- :mod:`.command`: the command, from the listening checks to a clean exit on ``SIGTERM``.
- :mod:`.app`: the ASGI app: routes, ``/health``, the token, the body limit, the errors.
- :mod:`.batcher`: concurrent requests gathered into one Dask dataframe, scored by
  :class:`~rollscore.env.session.ScoringSession` in a worker thread.
- One module per protocol: :mod:`.nemo_gym` (``/verify``, ``/seed_session``,
  ``/aggregate_metrics``, ``/reverify_mode``), :mod:`.openrlhf` (``/get_reward``),
  :mod:`.slime` (``/slime``), and rollscore's own batch endpoint :mod:`.score` (``/score``).
- :mod:`.results`, :mod:`.errors`: scores as JSON, and why a request gets no scores.

Needs the ``serve`` extra (FastAPI, uvicorn); never torch.
"""
