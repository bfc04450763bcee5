"""Dust and dirt: one-frame specks found against the motion-compensated neighbours and filled from them.

A speck is on one frame only, so a pixel of it differs from the same point of the scene in the frame
before and the frame after, in the same direction, while those two agree with each other. The flow
that finds "the same point" is DIS at a small analysis size, each pair of frames computed once both
ways and kept in the window's cache. The test runs in three steps, each on far fewer pixels than the
one before:

1. a raw spike test at full size (no motion compensation): the pixel is brighter, or darker, than
   both neighbours at the same place. Cheap, and it keeps every speck: specks are strong.
2. the same test against the motion-compensated neighbours, only at those pixels, where the flow is
   consistent both ways and the compensated neighbours agree: moving edges drop out here.
3. the surviving pixels, grouped into blobs: a blob bigger than a speck is left alone, and so is one
   whose picture is found near its place in either neighbour (a ball or a hand the flow missed moves,
   a speck is nowhere else). The rest, grown a little to cover soft edges, are filled with the mean
   of the compensated neighbours, luma and chroma.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vidbw.kernels.flow import DISFlow, Flow
from vidbw.restore.base import Part, Window, WorkFrame, chroma_mask

__all__ = ["Dust"]

ANALYSIS_WIDTH = 320  # the flow's frame width: a speck needs the neighbours' place, not their detail
FLOW_MEDIAN = 5  # analysis pixels: the flow's median filter, wider than a speck there, so specks do not drag it
SPIKE = 0.06  # a speck pixel differs from both neighbours by this much (15 8-bit codes)
AGREE = 0.04  # ...while the two compensated neighbours differ by less than this
SOFT = 0.02  # a speck's soft edge, next to it, still departs from the neighbours by this much
GROW = 2  # pixels at 720p added around a speck for its soft edge
MIN_PIXELS = 3  # at 720p: a blob of fewer spike pixels is grain or noise, and too small to see
RING = 0.15  # the picture around a speck matches the neighbours: its departure is under this part of the speck's
LARGEST = 40  # pixels at 720p: a blob wider or taller than this is no speck
SEARCH = 48  # pixels at 720p: how far from its compensated place a moving subject's picture is looked for
FOUND = 0.5  # a blob is a subject when a neighbour holds its picture this much closer than the compensated place
MARGIN = 3  # pixels of surrounding taken into a blob's picture, so a speck does not match any dark dot


@dataclass
class _Memo:
    """What the dust part keeps of one frame for its neighbours' windows."""

    thumb: np.ndarray  # uint8 luma at the analysis size
    to_next: tuple[Flow, Flow] | None = None  # (this -> next, next -> this), once computed


class Dust(Part):
    name = "dust"
    radius = 1

    def __init__(self) -> None:
        self._flow = DISFlow(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)

    def restore(self, window: Window) -> WorkFrame:
        centre, before, after = window.centre, window.frame(-1), window.frame(1)
        if before is None or after is None:
            return centre  # with one neighbour a speck and a subject entering the shot look alike
        points = _raw_spikes(centre.y, before.y, after.y)
        if points[0].size == 0:
            return centre
        to_before = self._pair(window, before, centre)[1]
        to_after = self._pair(window, centre, after)[0]
        scale = centre.y.shape[0] / 720.0
        points = _compensated_spikes(centre.y, before.y, after.y, to_before, to_after, points)
        y = centre.y.copy()
        cb, cr = centre.cb.copy(), centre.cr.copy()
        changed = False
        for blob in _blobs(points, to_after.forward.shape[:2], centre.y.shape):
            box = _box(blob, centre.y.shape, centre.chroma_shape, scale)
            if box is None:
                continue
            from_before, from_after = _warped_box(before.y, to_before, box), _warped_box(after.y, to_after, box)
            mask = _speck_mask(blob, box, centre.y, from_before, from_after, scale)
            if mask is None or _is_subject(centre.y, (before.y, after.y), (to_before, to_after), box, scale):
                continue
            x0, y0, x1, y1 = box
            y[y0:y1, x0:x1][mask] = (0.5 * (from_before + from_after))[mask]
            chroma_box = _chroma_box(box, centre.y.shape, centre.chroma_shape)
            small = chroma_mask(mask, (chroma_box[3] - chroma_box[1], chroma_box[2] - chroma_box[0]))
            for plane, plane_before, plane_after in ((cb, before.cb, after.cb), (cr, before.cr, after.cr)):
                fill = 0.5 * (
                    _warped_box(plane_before, to_before, chroma_box) + _warped_box(plane_after, to_after, chroma_box)
                )
                plane[chroma_box[1] : chroma_box[3], chroma_box[0] : chroma_box[2]][small] = fill[small]
            changed = True
        return centre.with_planes(y, cb, cr) if changed else centre

    def _pair(self, window: Window, first: WorkFrame, second: WorkFrame) -> tuple[Flow, Flow]:
        """The flows between two consecutive frames, both ways, computed once for the two windows
        that need them."""
        memo = self._memo(window, first)
        if memo.to_next is None:
            memo.to_next = self._flow.both_ways(memo.thumb, self._memo(window, second).thumb, median=FLOW_MEDIAN)
        return memo.to_next

    def _memo(self, window: Window, frame: WorkFrame) -> _Memo:
        memo = window.cache.get(frame.index)
        if memo is None:
            h, w = frame.y.shape
            size = (ANALYSIS_WIDTH, max(8, round(h * ANALYSIS_WIDTH / w)))
            thumb = cv2.resize(frame.y, size, interpolation=cv2.INTER_AREA)
            memo = window.cache[frame.index] = _Memo(np.clip(thumb * 255 + 0.5, 0, 255).astype(np.uint8))
        return memo


def _raw_spikes(y: np.ndarray, before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the pixels brighter or darker than both neighbours at the same place by SPIKE."""
    to_before, to_after = cv2.subtract(y, before), cv2.subtract(y, after)
    _, brighter = cv2.threshold(cv2.min(to_before, to_after), SPIKE, 1, cv2.THRESH_BINARY)
    _, darker = cv2.threshold(cv2.max(to_before, to_after), -SPIKE, 1, cv2.THRESH_BINARY_INV)
    found = cv2.findNonZero(cv2.max(brighter, darker).astype(np.uint8))
    if found is None:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    found = found.reshape(-1, 2)  # (x, y) pairs; the shape OpenCV returns varies between versions
    return found[:, 1].astype(np.intp), found[:, 0].astype(np.intp)


def _warped(plane: np.ndarray, flow: Flow, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """`plane` (a neighbour) sampled where the flow carries the points (xs, ys) of the centre frame;
    the points are in `plane`'s pixels, the flow at the analysis size, so both are rescaled."""
    low_h, low_w = flow.forward.shape[:2]
    h, w = plane.shape
    sx, sy = low_w / w, low_h / h
    motion = cv2.remap(
        flow.forward, (xs + 0.5) * sx - 0.5, (ys + 0.5) * sy - 0.5, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    map_x, map_y = xs + motion[..., 0] / sx, ys + motion[..., 1] / sy
    return cv2.remap(plane, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _compensated_spikes(
    y: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    to_before: Flow,
    to_after: Flow,
    points: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """The points that are spikes against the compensated neighbours too, where those agree. (The flow's
    forward-backward check is no use here: a speck upsets it on the speck itself. The ring test on the
    blob checks the flow instead.)"""
    rows, cols = points
    # cv2.remap wants a 2-D map under 32767 wide: lay the points out in rows of 1024.
    count = rows.size
    width = 1024
    padded = -(-count // width) * width
    flat_xs = np.zeros(padded, np.float32)
    flat_ys = np.zeros(padded, np.float32)
    flat_xs[:count], flat_ys[:count] = cols, rows
    xs, ys = flat_xs.reshape(-1, width), flat_ys.reshape(-1, width)
    from_before = _warped(before, to_before, xs, ys).reshape(-1)[:count]
    from_after = _warped(after, to_after, xs, ys).reshape(-1)[:count]
    value = y[rows, cols]
    d_before, d_after = value - from_before, value - from_after
    spike = (np.minimum(d_before, d_after) > SPIKE) | (np.maximum(d_before, d_after) < -SPIKE)
    keep = spike & (np.abs(from_before - from_after) < AGREE)
    return rows[keep], cols[keep]


def _blobs(
    points: tuple[np.ndarray, np.ndarray], low_shape: tuple[int, int], shape: tuple[int, int]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The points grouped into blobs: those whose analysis-size cells touch (8-connected) are one."""
    rows, cols = points
    if rows.size == 0:
        return []
    low_h, low_w = low_shape
    low_rows = np.minimum(rows * low_h // shape[0], low_h - 1)
    low_cols = np.minimum(cols * low_w // shape[1], low_w - 1)
    cells = np.zeros(low_shape, np.uint8)
    cells[low_rows, low_cols] = 1
    _, labels = cv2.connectedComponents(cells, connectivity=8)
    label = labels[low_rows, low_cols]
    order = np.argsort(label, kind="stable")
    splits = np.flatnonzero(np.diff(label[order])) + 1
    return [(rows[group], cols[group]) for group in np.split(order, splits)]


def _box(
    blob: tuple[np.ndarray, np.ndarray], shape: tuple[int, int], chroma_shape: tuple[int, int], scale: float
) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1): the blob and its grown edge, on the chroma grid; None for a blob too big to be
    a speck."""
    rows, cols = blob
    if max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 > LARGEST * scale:
        return None
    grow = int(np.ceil(2 * GROW * scale)) + 2  # room for the soft edge and a ring around it
    step_y, step_x = shape[0] // chroma_shape[0], shape[1] // chroma_shape[1]
    x0, y0 = max(0, cols.min() - grow) // step_x * step_x, max(0, rows.min() - grow) // step_y * step_y
    x1 = min(shape[1], -(-(cols.max() + 1 + grow) // step_x) * step_x)
    y1 = min(shape[0], -(-(rows.max() + 1 + grow) // step_y) * step_y)
    return int(x0), int(y0), int(x1), int(y1)


def _chroma_box(box: tuple[int, int, int, int], shape: tuple[int, int], chroma_shape: tuple[int, int]):
    step_y, step_x = shape[0] // chroma_shape[0], shape[1] // chroma_shape[1]
    x0, y0, x1, y1 = box
    return x0 // step_x, y0 // step_y, -(-x1 // step_x), -(-y1 // step_y)


def _warped_box(plane: np.ndarray, flow: Flow, box: tuple[int, int, int, int]) -> np.ndarray:
    """A neighbour's plane carried by the flow onto the box (x0, y0, x1, y1) of the centre frame."""
    x0, y0, x1, y1 = box
    xs, ys = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
    return _warped(plane, flow, xs, ys)


def _speck_mask(
    blob: tuple[np.ndarray, np.ndarray],
    box: tuple[int, int, int, int],
    y: np.ndarray,
    from_before: np.ndarray,
    from_after: np.ndarray,
    scale: float,
) -> np.ndarray | None:
    """bool mask over the box of what to fill: the blob, and its soft edge (where the picture still
    departs from the neighbours the blob's way), grown by GROW. None when the blob is no speck: too
    few pixels, or the picture around it does not match the neighbours either (a subject's edge the
    flow got wrong, not a speck on a picture the flow follows)."""
    if blob[0].size < MIN_PIXELS * scale * scale:
        return None
    x0, y0, x1, y1 = box
    residual = y[y0:y1, x0:x1] - 0.5 * (from_before + from_after)
    core = np.zeros(residual.shape, np.uint8)
    core[blob[0] - y0, blob[1] - x0] = 1
    contrast = float(np.median(residual[core > 0]))
    grow = max(1, round(GROW * scale))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    # The speck's whole extent: what departs the blob's way next to it, also where the spike test
    # missed it; the ring outside must match the neighbours.
    departs = ((residual * np.sign(contrast) > SOFT) & (np.abs(from_before - from_after) < AGREE)).astype(np.uint8)
    extent = (core | (departs & cv2.dilate(core, disc))).astype(np.uint8)
    extent = cv2.dilate(extent, disc)
    around = residual[cv2.dilate(extent, disc) == 0]
    if around.size and np.median(np.abs(around)) > RING * abs(contrast):
        return None
    return extent > 0


def _is_subject(
    y: np.ndarray,
    neighbours: tuple[np.ndarray, np.ndarray],
    flows: tuple[Flow, Flow],
    box: tuple[int, int, int, int],
    scale: float,
) -> bool:
    """Whether either neighbour holds the blob's picture (with a little surrounding) near where the
    flow puts it, much better than at that place: then it is a subject the flow missed, not a speck."""
    h, w = y.shape
    margin = round(MARGIN * scale)
    x0, y0, x1, y1 = box
    x0, y0, x1, y1 = max(0, x0 - margin), max(0, y0 - margin), min(w, x1 + margin), min(h, y1 + margin)
    picture = np.ascontiguousarray(y[y0:y1, x0:x1])
    reach = round(SEARCH * scale)
    centre_x = np.full((1, 1), (x0 + x1 - 1) / 2, np.float32)
    centre_y = np.full((1, 1), (y0 + y1 - 1) / 2, np.float32)
    for neighbour, flow in zip(neighbours, flows):
        low_h, low_w = flow.forward.shape[:2]
        sx, sy = low_w / w, low_h / h
        motion = cv2.remap(flow.forward, (centre_x + 0.5) * sx - 0.5, (centre_y + 0.5) * sy - 0.5, cv2.INTER_LINEAR)
        dx, dy = round(float(motion[0, 0, 0]) / sx), round(float(motion[0, 0, 1]) / sy)
        # The compensated place, clipped into the frame, and the search area around it.
        px, py = min(max(x0 + dx, 0), w - (x1 - x0)), min(max(y0 + dy, 0), h - (y1 - y0))
        sx0, sy0 = max(0, px - reach), max(0, py - reach)
        sx1, sy1 = min(w, px + (x1 - x0) + reach), min(h, py + (y1 - y0) + reach)
        distances = cv2.matchTemplate(np.ascontiguousarray(neighbour[sy0:sy1, sx0:sx1]), picture, cv2.TM_SQDIFF)
        if distances.min() < FOUND * distances[py - sy0, px - sx0]:
            return True
    return False
