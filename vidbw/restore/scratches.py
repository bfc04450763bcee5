"""Vertical scratches: thin lines down the film, found in the frame's column profile and inpainted.

A scratch runs along the film, so on the frame it is a narrow bright or dark line, nearly vertical,
over most of the height, in the same place (drifting slowly) for many frames. Each frame is summed
down into a few horizontal bands; in each band a horizontal top-hat (the band minus its opening, and
its closing minus it) keeps only what is narrower than LINE_WIDTH: a thin line, never a step edge
(a wall's edge, a door frame) nor anything wide (a pole, a stripe wider than a scratch). A column is
a scratch where most bands agree on the line's sign, the line stands out from both sides alike (not
the bright rim of a pillarbox's edge), it shows in nearly every band (nothing in the scene hides a
scratch), it keeps to one column down the frame (a stick in the scene slants), and the neighbouring
frames saw one there too;
it is then filled, band by band where the line shows, by interpolating across from the columns
beside it (luma and chroma).
"""

from __future__ import annotations

import cv2
import numpy as np

from vidbw.restore.base import Part, Window, WorkFrame

__all__ = ["Scratches"]

BANDS = 16  # horizontal bands the frame is averaged into: a scratch shows in most of them
LINE_WIDTH = 7  # pixels at 720p: the top-hat keeps lines narrower than this (scratches are 1-4)
STRENGTH = 0.03  # a band's line departs this much from its surroundings (8 codes)
SHOWN = 0.04  # (10 codes) the faintest synthetic scratch, faded, is 0.048
FAINT = 0.012  # ...and a band where a found scratch departs more than this is filled
MOST = 12  # bands of BANDS that must agree on a column's line and its sign
UNBROKEN = 15  # bands of BANDS where a scratch's top-hat exceeds SHOWN: it lies over everything, so
# nothing in the scene hides it (a line of the scene is hidden where a hand passes in front)
DRIFT = 2  # pixels at 720p a scratch may move sideways between frames
PERSIST = 2  # neighbouring frames that must see the scratch too
MARGIN = 2  # pixels at 720p filled on each side of the found columns: a scratch's soft edge
FLANKS = 0.5  # the picture either side of a line differs by less than this part of the line's contrast
STRAIGHT = 2  # pixels at 720p a scratch's centre may wander across the bands of one frame (it runs straight)
WIDEST = 8  # pixels at 720p: a run of scratch columns wider than this is no scratch


class Scratches(Part):
    name = "scratches"
    radius = 0
    summary_radius = 2

    def summarise(self, frame: WorkFrame) -> np.ndarray:
        """(2, BANDS, w) float32: each band's signed thin-line strength per column, [0] where the line
        stands out from both sides alike (else 0), [1] as the top-hat found it."""
        h, w = frame.y.shape
        bands = cv2.resize(frame.y, (w, BANDS), interpolation=cv2.INTER_AREA)
        width = max(3, round(LINE_WIDTH * h / 720) | 1)
        kernel = np.ones((1, width), np.uint8)
        bright = bands - cv2.morphologyEx(bands, cv2.MORPH_OPEN, kernel)
        dark = cv2.morphologyEx(bands, cv2.MORPH_CLOSE, kernel) - bands
        raw = bright - dark
        lines = raw.copy()
        # A line stands out from both sides alike: where the picture just beyond it differs more from
        # one side to the other than the line from them, it is an edge's rim (a pillarbox's, a
        # sharpened step's), not a line on a surface.
        reach = width // 2 + 1
        padded = cv2.copyMakeBorder(bands, 0, 0, reach, reach, cv2.BORDER_REPLICATE)
        left, right = padded[:, : bands.shape[1]], padded[:, 2 * reach :]
        lines[np.abs(left - right) > FLANKS * np.abs(lines)] = 0
        return np.stack([lines, raw])

    def restore(self, window: Window) -> WorkFrame:
        centre = window.centre
        summary = window.summary(0)
        neighbours = [window.summary(k) for k in range(-self.summary_radius, self.summary_radius + 1) if k]
        neighbours = [n[0] for n in neighbours if n is not None]
        if summary is None or len(neighbours) < PERSIST:
            return centre  # a scratch is known by persisting; a frame alone cannot tell one from a line
        scale = centre.y.shape[0] / 720.0
        lines, raw = summary
        found = _scratch_sign(lines)
        drift = max(1, round(DRIFT * scale))
        seen = sum(_near(_scratch_sign(n) == found, drift) for n in neighbours)
        found[(seen < PERSIST)] = 0
        runs = _runs(found, max(2, round(WIDEST * scale)))
        if not runs:
            return centre
        y, cb, cr = centre.y.copy(), centre.cb.copy(), centre.cr.copy()
        for first, last in runs:
            sign = found[first]
            if not _unbroken_and_straight(raw, first, last, sign, scale):
                continue  # a line of the scene (a stick, a table's edge): slanting, or hidden behind something
            shown = (raw[:, first : last + 1] * sign).max(axis=1) > FAINT
            margin = max(1, round(MARGIN * scale))
            for plane in (y, cb, cr):
                _fill_columns(plane, first - margin, last + margin, shown, centre.y.shape[1])
        return centre.with_planes(y, cb, cr)


def _scratch_sign(lines: np.ndarray) -> np.ndarray:
    """int8 (w,): +1 / -1 where most bands hold a bright / dark thin line at the column, else 0."""
    bright = (lines > STRENGTH).sum(axis=0) >= MOST
    dark = (lines < -STRENGTH).sum(axis=0) >= MOST
    return bright.astype(np.int8) - dark.astype(np.int8)


def _unbroken_and_straight(lines: np.ndarray, first: int, last: int, sign: int, scale: float) -> bool:
    """Whether the line at columns first..last runs down the whole frame, clearly in UNBROKEN bands,
    and keeps to one column: in the bands where it shows, its peak (searched a little either side)
    wanders by no more than STRAIGHT."""
    reach = max(2, round(LINE_WIDTH * scale) // 2 + 1)
    lo, hi = max(0, first - reach), min(lines.shape[1], last + reach + 1)
    near = lines[:, lo:hi] * sign
    shows = near.max(axis=1) > STRENGTH
    if shows.sum() < MOST or (near.max(axis=1) > SHOWN).sum() < UNBROKEN:
        return False
    peaks = np.argmax(near[shows], axis=1)
    low, high = np.percentile(peaks, [10, 90])
    return bool(high - low <= max(1, round(STRAIGHT * scale)))


def _near(hits: np.ndarray, reach: int) -> np.ndarray:
    """int (w,): 1 where a hit lies within `reach` columns."""
    return (cv2.dilate(hits.astype(np.uint8).reshape(1, -1), np.ones((1, 2 * reach + 1), np.uint8))[0] > 0).astype(int)


def _runs(found: np.ndarray, widest: int) -> list[tuple[int, int]]:
    """(first, last) column of each run of one sign no wider than `widest`."""
    runs = []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], found, [0]])))
    for start, stop in zip(edges[:-1], edges[1:]):
        if found[start] != 0 and stop - start <= widest:
            runs.append((int(start), int(stop - 1)))
    return runs


def _fill_columns(plane: np.ndarray, first: int, last: int, shown: np.ndarray, luma_width: int) -> None:
    """Columns first..last of `plane` (given in luma columns) replaced, in the bands where the scratch
    shows, by a straight line between the columns just outside them."""
    h, w = plane.shape
    step = luma_width / w
    left, right = int(np.floor(first / step)) - 1, int(np.ceil(last / step)) + 1
    if left < 0 or right >= w:
        return  # a scratch on the frame's edge has no picture on one side to fill from
    rows = shown[np.arange(h) * len(shown) // h]
    across = np.linspace(0, 1, right - left + 1, dtype=np.float32)[1:-1]
    inside = plane[rows, left][:, None] * (1 - across) + plane[rows, right][:, None] * across
    plane[np.ix_(np.flatnonzero(rows), np.arange(left + 1, right))] = inside
