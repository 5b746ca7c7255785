import time, cProfile, pstats
from bench.bench_overlap import batches
from rollscore.env.step_input import step_frame
from rollscore.rewards.registry import REWARDS
from rollscore.rewards.verifier.stack import ACCELERATIONS
from rollscore.rewards.verifier import scoring_process as sp
for a in ACCELERATIONS.values(): a.install()
frame = step_frame(*batches(1, 8192, 11, 4000)[0])
q = REWARDS["math_expr"].question_of({})
qs = list(dict.fromkeys(x for x in (q(g, r) for g, r in zip(frame.ground_truth, frame.response)) if x))
print(len(qs), "distinct questions")
import math_verify
sp._verify(*qs[0])
t=time.perf_counter()
pr=cProfile.Profile(); pr.enable()
for golds, preds in qs[:800]: sp._verify(golds, preds)
pr.disable()
print("per question ms", (time.perf_counter()-t)/800*1000)
st=pstats.Stats(pr); st.sort_stats("cumulative").print_stats(25)
