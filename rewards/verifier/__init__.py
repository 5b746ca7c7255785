"""math-verify and users' reward functions, run in bounded scoring processes.

- :mod:`.pool`: the scoring processes a worker's threads share, and math-verify's memo.
- :mod:`.scoring_process`: the process itself, which answers one request at a time in its main
  thread, where signal-based time limits work; :mod:`.requests` is what it is asked.
- :mod:`.two_stage_parsing`, :mod:`.sympy_namespace`: math-verify's parsing made faster with
  exactly its own results, each on the library versions a differential test covers and off on
  any other; :mod:`.stack` says which versions are installed and which accelerations are on.
"""
