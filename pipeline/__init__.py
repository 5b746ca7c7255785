"""rollscore's offline pipeline: rollout files -> Dask dataframe -> scored Parquet + metrics.

- :mod:`pipeline.cli`: the ``rollscore`` command (``score``, ``metrics``, ``report``).
- :mod:`pipeline.run`: one scoring run, from checked inputs to written parts and metrics.
- :mod:`pipeline.partition`: the kernel that scores one partition, a plain pandas function
  (:mod:`pipeline.responses` turns a row's fields into the text it scores).
- :mod:`pipeline.inputs`: finding rollout files, planning partitions, reading JSONL and Parquet.
- :mod:`pipeline.output`: the output folder: parts, ``run.json``, ``metrics.json``.
- :mod:`pipeline.metrics`: the metrics, from partials reduced while partitions are scored
  (:mod:`pipeline.estimators`: pass@k and maj@k, also the training adapter's).
- :mod:`pipeline.report`: the HTML report of a scored dataset.
- :mod:`pipeline.cluster`, :mod:`pipeline.progress`, :mod:`pipeline.summary`: which cluster,
  the progress line, the closing table.
- :mod:`pipeline.errors`: the mistakes a user can make, each one line and exit status 2.
"""
