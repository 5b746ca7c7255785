"""rollscore's offline pipeline: rollout files -> Dask dataframe -> scored Parquet + metrics.

- :mod:`.cli`: the ``rollscore`` command (``score``, ``metrics``, ``report``), started by
  :mod:`.entry_point`, which imports it so that a Ctrl-C during the imports ends in one line.
- :mod:`.run`: one scoring run, from checked inputs to written parts and metrics.
- :mod:`.kernel`: scoring one partition, a plain pandas function that every
  front end maps over its partitions (:mod:`.responses` turns a row's fields
  into the text it scores).
- :mod:`.inputs`: finding rollout files, planning partitions, reading JSONL and Parquet.
- :mod:`.output`: the output folder: parts, ``run.json``, ``metrics.json``.
- :mod:`.metrics`: the metrics, from partials reduced while partitions are scored
  (:mod:`.estimators`: pass@k and maj@k, also the training adapter's;
  :mod:`.tallies`: the per-prompt counts they are made from).
- :mod:`.report`: the HTML report of a scored dataset.
- :mod:`.monitor`: what is scored, live on the cluster: the scheduler's Prometheus ``/metrics``,
  a dashboard page, Dask's fine performance metrics.
- :mod:`.cluster`, :mod:`.progress`, :mod:`.summary`: which cluster,
  the progress line, the closing table.
- :mod:`.errors`: the mistakes a user can make, each one line and exit status 2.
"""
