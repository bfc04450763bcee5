"""Vertical scratches: thin lines down the film, found in the frame's column profile and inpainted.

A scratch runs along the film, so on the frame it is a narrow bright or dark line, nearly vertical,
over most of the height, in the same place (drifting slowly) for many frames. Each frame is summed
down into a few horizontal bands; in each band a horizontal top-hat (the band minus its opening, and
its closing minus it) keeps only what is narrower than LINE_WIDTH: a thin line, never a step edge
(a wall's edge, a door frame) nor anything wide (a pole, a stripe wider than a scratch). A column is
a scratch where most bands agree on the line's sign, the picture beside it is not darker on one side
all the way down (the bright rim of a pillarbox's edge is), it shows in nearly every band as far as
the picture lets it (nothing in the scene hides a scratch, but a dark one on black cannot darken it),
it keeps to one column down the frame (a stick or a grid line in the scene slants a little), and the
neighbouring frames saw one there too.

It is then taken off as what it adds: in each band the line's profile across the columns (the band's
mean less a straight line between its sides), spread down the rows and subtracted, so the picture
under the scratch keeps its own detail (luma and chroma).
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
FAINT = 0.012  # ...and a scratch departs at least this in a band (3 codes) where the picture leaves it little room
MOST = 12  # bands of BANDS that must agree on a column's line and its sign
UNBROKEN = 15  # bands of BANDS where a scratch's top-hat exceeds SHOWN (or EVEN), or ROOM of the room the picture
# leaves it: it lies over everything, so nothing in the scene hides it (a line of the scene is hidden
# where a hand passes in front), but a dark line on black shows only as deep as the black
ROOM = 0.5
EVEN = 1 / 4  # ...and at least this part of its median strength: a scratch fades along its length by
# 60 % at most, a grid line of the scene half hidden behind a block keeps 4-25 % in three or four bands
DRIFT = 2  # pixels at 720p a scratch may move sideways between frames
PERSIST = 2  # neighbouring frames that must see the scratch too
MARGIN = 2  # pixels at 720p mended on each side of the found columns: a scratch's soft edge
FLANKS = 2  # the sides of a line differ (median down the bands) by less than this many times the line: a
# pillarbox's rim by 6-8 times, a scratch running down the edge of a coat by under 1
STRAIGHT = 2  # pixels at 720p around the found columns where the line must show in each band
SLANT = 1  # pixels at 720p a scratch's centre may move between the top and the bottom third of a frame
# (a scratch runs straight down a frame; the cutting mat's grid lines in hands_blocks slant by 2-3)
WIDEST = 8  # pixels at 720p: a run of scratch columns wider than this is no scratch


class Scratches(Part):
    name = "scratches"
    radius = 0
    summary_radius = 2

    def summarise(self, frame: WorkFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lines, sign, room): each band's signed thin-line strength per column as the top-hat finds
        it (BANDS, w) float32, the columns where this frame alone holds a scratch (w,) int8, and how
        deep a dark / bright line could show in each band (2, BANDS, w): a dark scratch on black
        cannot darken it."""
        h, w = frame.y.shape
        bands = cv2.resize(frame.y, (w, BANDS), interpolation=cv2.INTER_AREA)
        width = max(3, round(LINE_WIDTH * h / 720) | 1)
        kernel = np.ones((1, width), np.uint8)
        opened = cv2.morphologyEx(bands, cv2.MORPH_OPEN, kernel)
        closed = cv2.morphologyEx(bands, cv2.MORPH_CLOSE, kernel)
        bright = bands - opened
        dark = closed - bands
        lines = bright - dark
        # A line stands out from both sides alike: where the picture just beyond it is darker on one
        # side than the other all the way down, it is an edge's rim (a pillarbox's, a sharpened
        # step's), not a line on a surface. Texture beside a scratch differs too, but one way in one
        # band and the other way in the next: the test is on the median over the bands.
        reach = width // 2 + 1
        padded = cv2.copyMakeBorder(bands, 0, 0, reach, reach, cv2.BORDER_REPLICATE)
        flanks = _down_bands_median(padded[:, : bands.shape[1]] - padded[:, 2 * reach :])
        sign = _scratch_sign(lines)
        sign[np.abs(flanks) > FLANKS * np.abs(_down_bands_median(lines))] = 0
        room = np.stack(
            [
                closed - bands.min(),
                bands.max() - opened,
            ]
        )
        return lines, sign, room

    def restore(self, window: Window) -> WorkFrame:
        centre = window.centre
        summary = window.summary(0)
        neighbours = [window.summary(k) for k in range(-self.summary_radius, self.summary_radius + 1) if k]
        neighbours = [n[1] for n in neighbours if n is not None]
        if summary is None or len(neighbours) < PERSIST:
            return centre  # a scratch is known by persisting; a frame alone cannot tell one from a line
        scale = centre.y.shape[0] / 720.0
        raw, found, room = summary
        found = found.copy()
        drift = max(1, round(DRIFT * scale))
        seen = sum(_near(n == found, drift) for n in neighbours)
        found[(seen < PERSIST)] = 0
        runs = _runs(found, max(2, round(WIDEST * scale)))
        margin = max(1, round(MARGIN * scale))
        scratches = [
            (first - margin, last + margin, int(found[first]))
            for first, last in runs
            if _unbroken_and_straight(raw, room[(found[first] + 1) // 2], first, last, int(found[first]), scale)
        ]  # the others are lines of the scene (a stick, a table's edge): slanting, or hidden behind something
        if not scratches:
            return centre
        y, cb, cr = centre.y.copy(), centre.cb.copy(), centre.cr.copy()
        for first, last, sign in _merged(scratches):
            _remove_line(y, first, last, sign, y.shape[1])
            for plane in (cb, cr):
                _remove_line(plane, first, last, 0, y.shape[1])
        return centre.with_planes(y, cb, cr)


def _scratch_sign(lines: np.ndarray) -> np.ndarray:
    """int8 (w,): +1 / -1 where most bands hold a bright / dark thin line at the column, else 0."""
    bright = (lines > STRENGTH).sum(axis=0) >= MOST
    dark = (lines < -STRENGTH).sum(axis=0) >= MOST
    return bright.astype(np.int8) - dark.astype(np.int8)


def _unbroken_and_straight(lines: np.ndarray, room: np.ndarray, first: int, last: int, sign: int, scale: float) -> bool:
    """Whether the line at columns first..last (give or take STRAIGHT / 2) runs down the whole frame,
    clearly in MOST bands and about as strongly as elsewhere (as far as the picture's `room` lets it)
    in UNBROKEN, and keeps to one
    column: its centre in the top third of the bands and in the bottom third differ by no more than
    SLANT. (A centroid, not the peak: texture beside a thin scratch can outshine it in a band.)"""
    reach = max(1, round(STRAIGHT * scale / 2))
    lo, hi = max(0, first - reach), min(lines.shape[1], last + reach + 1)
    near = np.maximum(lines[:, lo:hi] * sign, 0)
    strongest = near.max(axis=1)
    clear = max(SHOWN, EVEN * float(np.median(strongest)))
    needed = np.clip(ROOM * room[:, lo:hi].max(axis=1), FAINT, clear)
    if (strongest > STRENGTH).sum() < MOST or (strongest > needed).sum() < UNBROKEN:
        return False
    # Where the line lies in each band (its centroid), top third against bottom third of the frame.
    centre = (near * np.arange(hi - lo)).sum(axis=1) / np.maximum(near.sum(axis=1), 1e-6)
    third = BANDS // 3
    slant = abs(np.median(centre[:third]) - np.median(centre[-third:]))
    return bool(slant <= max(0.5, SLANT * scale))


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


def _merged(scratches: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """(first, last, sign) spans, in column order, joined where they touch or overlap: two scratches a
    few pixels apart are mended as one (the gap between two bright lines also reads as a dark one),
    either way where their signs differ."""
    out: list[tuple[int, int, int]] = []
    for first, last, sign in sorted(scratches):
        if out and first <= out[-1][1] + 1:
            before = out[-1]
            out[-1] = (before[0], max(before[1], last), before[2] if before[2] == sign else 0)
        else:
            out.append((first, last, sign))
    return out


def _remove_line(plane: np.ndarray, first: int, last: int, sign: int, luma_width: int) -> None:
    """The line in columns first..last of `plane` (given in luma columns) taken off as what it adds:
    in each band, the band's mean over those columns less a straight line between the columns just
    outside them, spread down the rows (interpolated between the bands' centres) and subtracted. The
    picture under the line keeps its own detail, row by row. With `sign` (+1 bright, -1 dark) only
    that way is taken off; 0 takes off either (chroma)."""
    h, w = plane.shape
    step = luma_width / w
    left, right = int(np.floor(first / step)) - 1, int(np.ceil(last / step)) + 1
    if left < 0 or right >= w:
        return  # a scratch on the frame's edge has no picture on one side to mend from
    bands = cv2.resize(plane[:, left : right + 1], (right - left + 1, BANDS), interpolation=cv2.INTER_AREA)
    across = np.linspace(0, 1, right - left + 1, dtype=np.float32)[1:-1]
    line = bands[:, 1:-1] - (bands[:, :1] * (1 - across) + bands[:, -1:] * across)
    if sign:
        line = sign * np.maximum(sign * line, 0)
    plane[:, left + 1 : right] -= cv2.resize(line, (right - left - 1, h), interpolation=cv2.INTER_LINEAR)


def _down_bands_median(values: np.ndarray) -> np.ndarray:
    """np.median(values, axis=0) for a few bands of many columns, by one sort down the bands: a
    quarter of np.median's time on (BANDS, width), to the same values."""
    ordered = np.sort(values, axis=0)
    middle = values.shape[0] // 2
    return ordered[middle] if values.shape[0] % 2 else 0.5 * (ordered[middle - 1] + ordered[middle])
