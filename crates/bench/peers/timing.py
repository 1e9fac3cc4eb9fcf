"""The peers' timing rule: a warm-up that also sizes the loop, then the median of 5 repetitions."""

import statistics
import time

REPS = 5
TARGET_S = 1.0  # wall time of one repetition
WARM_S = 0.25  # the warm-up doubles n until one call takes this long


def measure(once, n):
    """`once(n)` does n units of work; returns (median µs per unit, n, walls in s).

    The warm-up (first connections, imports, caches) runs until one call takes WARM_S, so the
    estimate that sizes n to about TARGET_S per repetition is not the first call's alone."""
    while True:
        t = time.perf_counter()
        once(n)
        took = time.perf_counter() - t
        if took >= WARM_S:
            break
        n *= 2
    n = max(10, round(n * TARGET_S / took))
    walls = []
    for _ in range(REPS):
        t = time.perf_counter()
        once(n)
        walls.append(time.perf_counter() - t)
    return statistics.median(walls) / n * 1e6, n, walls
