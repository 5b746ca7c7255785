"""Watching rollscore score, live, on the cluster that scores: what every scoring task scored,
in the scheduler's Prometheus ``/metrics`` and on a page of its dashboard, and where the task's
time went in Dask's fine performance metrics.

- :mod:`.tally`: a partition's tally, the small sum of its rows and costs that is all that
  crosses the network; :mod:`.report`: the worker's side, which sends it from the task.
- :mod:`.runs`: the scheduler's side, each run's figures with each partition counted once.
- :mod:`.plugin`: the scheduler plugin every front end installs from its client;
  :mod:`.prometheus`: its collector; :mod:`.page`: its dashboard page.

Nothing is imported here: the kernel's workers import the tally and the report, never the
plugin's Bokeh and Prometheus modules.
"""
