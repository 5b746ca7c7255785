import time, statistics, sys
from bench.bench_overlap import batches
from bench.plain_scoring import CONFIG
from rollscore.env import VLMEnvironment
if __name__ == "__main__":
    work = batches(13, 8192, 5, 4000)
    with VLMEnvironment({**CONFIG, "num_workers": 2}) as env:
        env.step(*work[0])
        times = {2: [], 4: [], 8: []}
        for i, b in enumerate(work[1:]):
            parts = (2, 4, 8)[i % 3]
            env._session.partitions = parts
            t=time.perf_counter(); env.step(*b); times[parts].append(time.perf_counter()-t)
        for p, ts in times.items(): print(p, [round(x,2) for x in ts], round(statistics.median(ts),3))
