"""Where a conversion's CPU goes, thread by thread (Linux): x264's threads, the render thread, numba's
slicing thread, the decoder's threads, the reader and the writer.

    python benchmarks/thread_cpu.py .bench/source_1080p_60s.mp4 --style landscape-master
    python benchmarks/thread_cpu.py .bench/source_1080p_60s.mp4 --style landscape-master --frozen-grids
    python benchmarks/thread_cpu.py .bench/source_1080p_60s.mp4 --style neutral

One `vidbw.convert` in this process; every thread's user + system time is read from
/proc/self/task/*/stat every 50 ms (a thread's last reading before it ends counts), and threads
vidbw starts are named. `--frozen-grids` makes a learned style return one grid for every frame
(the first it predicts): what the rest costs when predicting grids costs nothing. The 60 s source
is the one `bench_convert.py` makes.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

from vidbw.pipeline import convert  # vidbw before torch: it sets OpenMP's wait policy (see the README)

TICK = os.sysconf("SC_CLK_TCK")


class ThreadClock:
    """Each thread's CPU seconds and name, sampled until `stop`."""

    def __init__(self, every: float = 0.05):
        self.cpu: dict[int, tuple[str, float]] = {}
        self.names: dict[int, str] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), name="thread-clock", daemon=True)

    def __enter__(self) -> "ThreadClock":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
        self._sample()

    def _run(self, every: float) -> None:
        while not self._done.wait(every):
            self._sample()

    def _sample(self) -> None:
        for t in threading.enumerate():
            if t.native_id:
                self.names[t.native_id] = t.name
        for tid in os.listdir("/proc/self/task"):
            try:
                stat = Path(f"/proc/self/task/{tid}/stat").read_text()
                comm = Path(f"/proc/self/task/{tid}/comm").read_text().strip()
            except OSError:
                continue  # ended between listing and reading
            fields = stat[stat.rindex(")") + 2:].split()
            self.cpu[int(tid)] = (comm, (int(fields[11]) + int(fields[12])) / TICK)

    def rows(self) -> list[tuple[str, int, float]]:
        return sorted(((self.names.get(tid, comm), tid, cpu) for tid, (comm, cpu) in self.cpu.items()), key=lambda r: -r[2])


def freeze_grids() -> None:
    """Every learned style's predictions become its first one, repeated."""
    import numpy as np

    from vidbw.styles.learned import LearnedStyle

    predict, first = LearnedStyle._predict, {}

    def frozen(self, batch, proxy):
        if "grid" not in first:
            first["grid"] = predict(self, batch[:1], proxy)
        return np.repeat(first["grid"], len(batch), 0)

    LearnedStyle._predict = frozen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("--style", default="landscape-master")
    parser.add_argument("--frozen-grids", action="store_true")
    args = parser.parse_args()
    if args.frozen_grids:
        freeze_grids()
    with tempfile.TemporaryDirectory() as work, ThreadClock() as clock:
        start, cpu = time.perf_counter(), time.process_time()
        convert(args.source, Path(work) / f"out{args.source.suffix}", style=args.style)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"wall {wall:.2f} s, process CPU {cpu:.1f} s ({cpu / wall:.2f} cores busy)")
    print("  (unnamed 'python' threads: x264's frame threads and lookahead, numba's workers; av:h264:df*: decoding)")
    for name, tid, seconds in clock.rows():
        if seconds >= 0.05:
            print(f"  {name:24s} {tid:8d} {seconds:7.2f} s")


if __name__ == "__main__":
    main()
