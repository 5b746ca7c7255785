import time, statistics
from distributed import get_task_stream
from bench.bench_overlap import batches
from bench.plain_scoring import CONFIG
from rollscore.env import VLMEnvironment
if __name__ == "__main__":
    work = batches(6, 8192, 5, 4000)
    with VLMEnvironment({**CONFIG, "num_workers": 2}) as env:
        env.step(*work[0])
        for b in work[1:]:
            with get_task_stream(env.client) as ts:
                t=time.perf_counter(); env.step(*b); wall=time.perf_counter()-t
            comp = [ss["stop"]-ss["start"] for task in ts.data for ss in task["startstops"] if ss["action"]=="compute"]
            transfers = [ss["stop"]-ss["start"] for task in ts.data for ss in task["startstops"] if ss["action"]!="compute"]
            print(f"wall {wall:.3f} compute {[round(c,3) for c in comp]} transfer {[round(c,3) for c in transfers]}")
