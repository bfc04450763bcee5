"""Dust and dirt: one-frame specks found against the motion-compensated neighbours and filled from them.

A speck is on one frame only, so a pixel of it differs from the same point of the scene in the frame
before and the frame after, in the same direction, while those two agree with each other. The flow
that finds "the same point" is DIS at a small analysis size, each pair of frames computed once both
ways and kept in the window's cache. The test runs in steps, each on far fewer pixels than the one
before:

1. a raw spike test at full size on 8-bit copies (no motion compensation): the pixel is brighter, or
   darker, than both neighbours at the same place. Cheap, and it keeps every speck: specks are strong.
2. the same test against the motion-compensated neighbours, only at those pixels, where the
   compensated neighbours agree (the flow taken at the pixel or a little way off each side: a speck
   drags the flow on it): moving edges drop out here.
3. the surviving pixels grouped into blobs by their cells at the flow's size (one connected-components
   call); a blob with too few pixels, wider than a speck, sparse, or among many more raw spikes than
   survived (a moving edge) is dropped before anything else is done with it.
4. the remaining blobs, each in a square tile around it, tiles of one size in one stack (a few sizes),
   so every step below is one OpenCV or numpy call for a whole stack. Each neighbour is compensated by the flow,
   or not at all where that matches the speck's surround better (a speck upsets the flow around it,
   and most of the frame is often still): the better of the two on the ring around the blob is kept.
   The speck's extent is what departs from the neighbours the blob's way next to it; the ring outside
   must match them (else it is a subject's edge the flow got wrong).
5. what is left is tested for a moving subject (on 8-bit copies at half of 720p): a neighbour holds
   its picture near its place, much better than at that place (a ball or a hand moves; a speck is
   nowhere else). The rest are filled with the mean of the chosen neighbours, luma and chroma.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vidbw.kernels.flow import DISFlow
from vidbw.restore.base import Part, Window, WorkFrame

__all__ = ["Dust"]

ANALYSIS_WIDTH = 320  # the flow's frame width: a speck needs the neighbours' place, not their detail
SPIKE = 0.06  # a speck pixel differs from both neighbours by this much (15 8-bit codes)
AGREE = 0.04  # ...while the two compensated neighbours differ by less than this
SOFT = 0.02  # a speck's soft edge, next to it, still departs from the neighbours by this much
GROW = 2  # pixels at 720p added around a speck for its soft edge
MIN_PIXELS = 3  # at 720p: a blob of fewer spike pixels is grain or noise, and too small to see
RAW_SHARE = 0.2  # most raw spikes on and around a speck stay spikes once compensated; around a moving edge
RAW_AROUND = 2  # ...most were motion. Around: within this many cells of the flow's size (8 pixels at 720p)
SOLID = 0.2  # a speck is solid: its spike pixels cover this much of their box at least (a moving edge's are sparse)
RING = 0.15  # the picture around a speck matches the neighbours: its departure is under this part of the speck's
RING_WIDTH = 4  # pixels at 720p: the ring's least width, outside what a speck's fill may reach
FLOW_AROUND = 10  # pixels at 720p: the flow is also taken this far off each side of a spike
LARGEST = 40  # pixels at 720p: a blob wider or taller than this is no speck
SEARCH = 48  # pixels at 720p: how far from its compensated place a moving subject's picture is looked for
FOUND = 0.5  # a blob is a subject when a neighbour holds its picture this much closer than its place there
MARGIN = 3  # pixels of surrounding taken into a blob's picture, so a speck does not match any dark dot
SUBJECT_HEIGHT = 360  # the subject search runs on 8-bit copies this high or more (half of 720p): a subject is big


@dataclass
class _Memo:
    """What the dust part keeps of one frame for its neighbours' windows."""

    full: np.ndarray  # uint8 luma at full size, for the raw spike test
    small: np.ndarray  # uint8 luma reduced by a whole factor to SUBJECT_HEIGHT or more, for the subject search
    thumb: np.ndarray  # uint8 luma at the analysis size
    to_next: tuple[np.ndarray, np.ndarray] | None = None  # flow fields (this -> next, next -> this), once computed


class Dust(Part):
    name = "dust"
    radius = 1

    def __init__(self) -> None:
        self._flow = DISFlow(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)

    def restore(self, window: Window) -> WorkFrame:
        centre, before, after = window.centre, window.frame(-1), window.frame(1)
        if before is None or after is None:
            return centre  # with one neighbour a speck and a subject entering the shot look alike
        memo = self._memo(window, centre)
        raw = _raw_spikes(memo.full, self._memo(window, before).full, self._memo(window, after).full)
        if raw[0].size == 0:
            return centre
        # Where each pixel of this frame is in the frame before (channels 0, 1) and after (2, 3).
        flows = np.concatenate([self._pair(window, before, centre)[1], self._pair(window, centre, after)[0]], axis=2)
        scale = centre.y.shape[0] / 720.0
        points = _compensated_spikes(centre.y, before.y, after.y, flows, raw)
        blob_of, boxes = _blobs(points, raw, memo.thumb.shape, centre.y.shape, scale)
        smalls = (memo.small, self._memo(window, before).small, self._memo(window, after).small)
        filled = []
        for members, side in _sizes(boxes, centre.y.shape, scale):
            tiles = _Tiles(points, blob_of, boxes, members, side, centre.y.shape, scale)
            speck, found = tiles.test(centre.y, before.y, after.y, flows)
            keep = [
                k for k in np.flatnonzero(speck) if not _is_subject(smalls, found.places(int(k)), found.boxes[k], scale)
            ]
            if keep:
                filled.append(tiles.filled(np.array(keep)))
        if not filled:
            return centre
        rows, cols, luma, zero = (np.concatenate(parts) for parts in zip(*filled))
        return _filled(centre, before, after, flows, rows, cols, luma, zero)

    def _pair(self, window: Window, first: WorkFrame, second: WorkFrame) -> tuple[np.ndarray, np.ndarray]:
        """The flows between two consecutive frames, both ways, computed once for the two windows
        that need them."""
        memo = self._memo(window, first)
        if memo.to_next is None:
            # No median filter: where a speck drags the flow, the test compensates by none instead.
            memo.to_next = self._flow.fields(memo.thumb, self._memo(window, second).thumb)
        return memo.to_next

    def _memo(self, window: Window, frame: WorkFrame) -> _Memo:
        memo = window.cache.get(frame.index)
        if memo is None:
            h, w = frame.y.shape
            full = frame.luma_codes()
            factor = _subject_factor(h)
            small = full if factor == 1 else cv2.resize(full, (w // factor, h // factor), interpolation=cv2.INTER_AREA)
            size = (ANALYSIS_WIDTH, max(8, round(h * ANALYSIS_WIDTH / w)))
            thumb = cv2.resize(full, size, interpolation=cv2.INTER_AREA)
            memo = window.cache[frame.index] = _Memo(full, small, thumb)
        return memo


def _raw_spikes(y: np.ndarray, before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the pixels brighter or darker than both neighbours at the same place by SPIKE
    (uint8 planes: saturating differences)."""
    brighter = cv2.subtract(y, cv2.max(before, after))
    darker = cv2.subtract(cv2.min(before, after), y)
    _, spikes = cv2.threshold(cv2.max(brighter, darker), int(SPIKE * 255), 1, cv2.THRESH_BINARY)
    found = cv2.findNonZero(spikes)
    if found is None:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    found = found.reshape(-1, 2)  # (x, y) pairs; the shape OpenCV returns varies between versions
    return found[:, 1].astype(np.intp), found[:, 0].astype(np.intp)


def _remap(plane: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """cv2.remap, linear, borders replicated, for maps of any height (OpenCV wants under 32767 rows)."""
    rows = 16384
    if map_x.shape[0] <= rows:
        return cv2.remap(plane, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.concatenate(
        [_remap(plane, map_x[i : i + rows], map_y[i : i + rows]) for i in range(0, map_x.shape[0], rows)]
    )


def _motion(flows: np.ndarray, xs: np.ndarray, ys: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The flows (analysis size, (h, w, 4): to the frame before, to the frame after) at the points
    (xs, ys) of a plane of `shape`, in that plane's pixels: (..., 4) dx, dy before, dx, dy after."""
    low_h, low_w = flows.shape[:2]
    sx, sy = low_w / shape[1], low_h / shape[0]
    motion = _remap(flows, (xs + 0.5) * sx - 0.5, (ys + 0.5) * sy - 0.5)
    return motion * np.array([1 / sx, 1 / sy, 1 / sx, 1 / sy], np.float32)


def _warped(
    before: np.ndarray, after: np.ndarray, flows: np.ndarray, xs: np.ndarray, ys: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The neighbours sampled where the flows carry the points (xs, ys) of the centre frame, and the
    motion there (`_motion`); the points are in the planes' pixels, the flows at the analysis size."""
    motion = _motion(flows, xs, ys, before.shape)
    return (
        _remap(before, xs + motion[..., 0], ys + motion[..., 1]),
        _remap(after, xs + motion[..., 2], ys + motion[..., 3]),
        motion,
    )


def _as_rows(values: np.ndarray, width: int = 1024) -> np.ndarray:
    """A 1-D array laid out in rows of `width` (zero-padded), as cv2.remap wants its maps."""
    padded = np.zeros(-(-values.size // width) * width, np.float32)
    padded[: values.size] = values
    return padded.reshape(-1, width)


def _compensated_spikes(
    y: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    flows: np.ndarray,
    points: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """The points that are spikes against the compensated neighbours too, where those agree. (The flow's
    forward-backward check is no use here: a speck upsets it on the speck itself. The ring test on the
    blob checks the flow instead.)"""
    rows, cols = points
    count = rows.size
    xs, ys = _as_rows(cols), _as_rows(rows)
    value = y[rows, cols]
    keep = np.zeros(count, bool)
    # The flow at the point, and the flow a little way off on each side: a speck drags the flow on it,
    # and that of the picture around it is the picture's under it.
    reach = FLOW_AROUND * y.shape[0] / 720.0
    for dx, dy in ((0.0, 0.0), (-reach, 0.0), (reach, 0.0), (0.0, -reach), (0.0, reach)):
        motion = _motion(flows, xs + np.float32(dx), ys + np.float32(dy), y.shape)
        from_before = _remap(before, xs + motion[..., 0], ys + motion[..., 1]).reshape(-1)[:count]
        from_after = _remap(after, xs + motion[..., 2], ys + motion[..., 3]).reshape(-1)[:count]
        d_before, d_after = value - from_before, value - from_after
        spike = (np.minimum(d_before, d_after) > SPIKE) | (np.maximum(d_before, d_after) < -SPIKE)
        keep |= spike & (np.abs(from_before - from_after) < AGREE)
    return rows[keep], cols[keep]


def _blobs(
    points: tuple[np.ndarray, np.ndarray],
    raw: tuple[np.ndarray, np.ndarray],
    low_shape: tuple[int, int],
    shape: tuple[int, int],
    scale: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The points grouped into blobs (those whose analysis-size cells touch, 8-connected, are one),
    blobs with too few points, too wide for a speck, among many more raw spikes (on and around
    them) than stayed spikes, or too sparse dropped: (the blob of each point, -1 for a dropped one;
    (x0, y0, x1, y1) of each kept blob's points, ends excluded)."""
    rows, cols = points
    if rows.size == 0:
        return np.empty(0, np.intp), np.empty((0, 4), np.intp)
    low_h, low_w = low_shape

    def cells_of(rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.minimum(rows * low_h // shape[0], low_h - 1), np.minimum(cols * low_w // shape[1], low_w - 1)

    low_rows, low_cols = cells_of(rows, cols)
    cells = np.zeros(low_shape, np.uint8)
    cells[low_rows, low_cols] = 1
    count, labels = cv2.connectedComponents(cells, connectivity=8)
    label = labels[low_rows, low_cols]
    sizes = np.bincount(label, minlength=count)
    # Each blob's cells and those around them (where blobs are that close, the later label's).
    around = cv2.dilate(labels.astype(np.float32), np.ones((2 * RAW_AROUND + 1,) * 2, np.uint8)).astype(np.intp)
    raw_sizes = np.bincount(around[cells_of(*raw)], minlength=count)
    x0, y0 = np.full(count, shape[1]), np.full(count, shape[0])
    x1, y1 = np.zeros(count, np.intp), np.zeros(count, np.intp)
    np.minimum.at(x0, label, cols)
    np.minimum.at(y0, label, rows)
    np.maximum.at(x1, label, cols + 1)
    np.maximum.at(y1, label, rows + 1)
    keep = (
        (sizes >= MIN_PIXELS * scale * scale)
        & (sizes >= RAW_SHARE * raw_sizes)
        & (sizes >= SOLID * (x1 - x0) * (y1 - y0))
        & (np.maximum(x1 - x0, y1 - y0) <= LARGEST * scale)
    )
    keep[0] = False  # the background: no point is on it
    new = np.full(count, -1, np.intp)
    new[keep] = np.arange(int(keep.sum()))
    return new[label], np.stack([x0, y0, x1, y1], axis=1)[keep]


def _sizes(boxes: np.ndarray, shape: tuple[int, int], scale: float) -> list[tuple[np.ndarray, int]]:
    """The blobs in groups by size, each with the side of its tiles: most specks are small, and a
    tile as big as the largest blob's for each would multiply the work."""
    extents = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    margin = _Tiles.margin(scale)
    groups, smaller = [], 0.0
    for largest in (8 * scale, 16 * scale, np.inf):
        members = np.flatnonzero((extents > smaller) & (extents <= largest))
        smaller = largest
        if members.size:
            groups.append((members, int(min(extents[members].max() + 2 * margin, shape[0], shape[1]))))
    return groups


@dataclass
class _Found:
    """What the tile test says of each blob, for the subject search: the compensation chosen for
    each neighbour (zero: none, the neighbour as it is) and the blob's box with its soft edge."""

    zero: np.ndarray  # (blobs, 2) bool: before, after
    motion: np.ndarray  # (blobs, 2, 2) float: (dx, dy) of the flow at the blob's centre, each neighbour
    boxes: np.ndarray  # (blobs, 4) int: x0, y0, x1, y1

    def places(self, k: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """Each neighbour's offset (dx, dy) to the blob's place in it, by the chosen compensation."""
        moved = [(round(float(self.motion[k, n, 0])), round(float(self.motion[k, n, 1]))) for n in (0, 1)]
        return (0, 0) if self.zero[k, 0] else moved[0], (0, 0) if self.zero[k, 1] else moved[1]


class _Tiles:
    """Some blobs, each in a square tile of one side around it, all tiles stacked: (blobs, side, side).
    Every step of the test is one call for the whole stack."""

    @staticmethod
    def margin(scale: float) -> int:
        """Pixels around a blob in its tile: its soft edge, and the ring outside it."""
        return 3 * max(1, round(GROW * scale)) + max(2, round(RING_WIDTH * scale))

    def __init__(
        self,
        points: tuple[np.ndarray, np.ndarray],
        blob_of: np.ndarray,
        boxes: np.ndarray,
        members: np.ndarray,
        side: int,
        shape: tuple[int, int],
        scale: float,
    ):
        h, w = shape
        self.scale, self.side, self.shape = scale, side, shape
        self.grow = max(1, round(GROW * scale))
        self.ring_width = max(2, round(RING_WIDTH * scale))
        local = np.full(len(boxes), -1, np.intp)  # each blob's place in this stack
        local[members] = np.arange(members.size)
        boxes = boxes[members]
        centre_x, centre_y = (boxes[:, 0] + boxes[:, 2]) // 2, (boxes[:, 1] + boxes[:, 3]) // 2
        self.x0 = np.clip(centre_x - side // 2, 0, w - side)
        self.y0 = np.clip(centre_y - side // 2, 0, h - side)
        steps = np.arange(side)
        rows_of_tile = self.y0[:, None] + steps  # (blobs, side)
        cols_of_tile = self.x0[:, None] + steps
        self.index = rows_of_tile[:, :, None] * w + cols_of_tile[:, None, :]  # (blobs, side, side) flat
        # The blob's own points, in its tile.
        rows, cols = points
        mine = blob_of >= 0
        blob = local[blob_of[mine]]
        rows, cols = rows[mine][blob >= 0], cols[mine][blob >= 0]
        blob = blob[blob >= 0]
        r, c = rows - self.y0[blob], cols - self.x0[blob]
        inside = (r >= 0) & (r < side) & (c >= 0) & (c < side)
        self.core = np.zeros((members.size, side, side), bool)
        self.core[blob[inside], r[inside], c[inside]] = True
        flat_x = np.broadcast_to(cols_of_tile[:, None, :], self.core.shape).astype(np.float32)
        flat_y = np.broadcast_to(rows_of_tile[:, :, None], self.core.shape).astype(np.float32)
        self.map_x, self.map_y = flat_x.reshape(-1, side), flat_y.reshape(-1, side)
        self.fill = np.zeros_like(self.core)
        self.zero = np.zeros((members.size, 2), bool)

    def gather(self, plane: np.ndarray) -> np.ndarray:
        return np.ravel(plane).take(self.index)

    def test(
        self, y: np.ndarray, before: np.ndarray, after: np.ndarray, flows: np.ndarray
    ) -> tuple[np.ndarray, _Found]:
        """(which blobs are specks by their picture, _Found); keeps what to fill of each."""
        centre = self.gather(y)
        core = self.core
        # Each neighbour compensated by the flow or not at all, whichever matches the surround better.
        near = 3 * self.grow
        to_core = self.distance(core, near + self.ring_width)
        surround = (to_core > near) & (to_core <= near + self.ring_width)
        moved_before, moved_after, motion = _warped(before, after, flows, self.map_x, self.map_y)
        chosen, zero = [], []
        for plane, moved in ((before, moved_before), (after, moved_after)):
            moved = moved.reshape(self.core.shape)
            still = self.gather(plane)
            off_moved = _mean_where(np.abs(centre - moved), surround)
            off_still = _mean_where(np.abs(centre - still), surround)
            use_still = off_still < off_moved
            chosen.append(np.where(use_still[:, None, None], still, moved))
            zero.append(use_still)
        from_before, from_after = chosen
        self.mean = 0.5 * (from_before + from_after)
        residual = centre - self.mean
        agree = np.abs(from_before - from_after) < AGREE
        sign = np.sign(_mean_where(residual, core))[:, None, None]
        d_before, d_after = centre - from_before, centre - from_after
        spike = agree & (np.minimum(d_before * sign, d_after * sign) > SPIKE)
        # The speck's core: its spike pixels against the chosen neighbours, connected to the blob.
        core = self.connected(spike | core, core)
        contrast = np.abs(_mean_where(residual, core))
        departs = (residual * sign > SOFT) & agree
        extent = core | (departs & (self.distance(core, self.grow) <= self.grow))
        to_extent = self.distance(extent, 2 * self.grow + self.ring_width)
        fill = to_extent <= self.grow
        ring = (to_extent > 2 * self.grow) & (to_extent <= 2 * self.grow + self.ring_width)
        ring_count = ring.sum(axis=(1, 2))
        off_ring = _median_where(np.abs(residual), ring)
        rows_any, cols_any = np.any(core, axis=2), np.any(core, axis=1)
        height = self.side - np.argmax(rows_any[:, ::-1], axis=1) - np.argmax(rows_any, axis=1)
        width = self.side - np.argmax(cols_any[:, ::-1], axis=1) - np.argmax(cols_any, axis=1)
        speck = (
            core.any(axis=(1, 2))
            & (np.maximum(height, width) <= LARGEST * self.scale)
            & (ring_count >= 4 * self.ring_width * self.ring_width)
            & (off_ring <= RING * contrast)
        )
        self.fill, self.zero = fill, np.stack(zero, axis=1)
        # The box of what is filled, grown as the blob's picture for the subject search.
        grow = int(np.ceil(2 * GROW * self.scale)) + 2 - self.grow
        fill_rows, fill_cols = np.any(fill, axis=2), np.any(fill, axis=1)
        top, left = np.argmax(fill_rows, axis=1), np.argmax(fill_cols, axis=1)
        bottom = self.side - np.argmax(fill_rows[:, ::-1], axis=1)
        right = self.side - np.argmax(fill_cols[:, ::-1], axis=1)
        h, w = self.shape
        boxes = np.stack(
            [
                np.maximum(self.x0 + left - grow, 0),
                np.maximum(self.y0 + top - grow, 0),
                np.minimum(self.x0 + right + grow, w),
                np.minimum(self.y0 + bottom + grow, h),
            ],
            axis=1,
        )
        centre_motion = motion.reshape(*self.core.shape, 2, 2)[:, self.side // 2, self.side // 2]
        return speck, _Found(self.zero, centre_motion, boxes)

    def filled(self, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(rows, cols, luma, compensation chosen (points, 2)) of the pixels to fill of the kept blobs."""
        blob, i, j = np.nonzero(self.fill[keep])
        blob = keep[blob]
        return self.y0[blob] + i, self.x0[blob] + j, self.mean[blob, i, j], self.zero[blob]

    # ------------------------------------------------------------------ masks on the stack

    def distance(self, mask: np.ndarray, reach: int) -> np.ndarray:
        """Each tile's distance to its mask (Euclidean, near enough), right up to `reach`; the tiles
        are kept apart by that many rows."""
        far = np.ones((mask.shape[0], self.side + reach + 1, self.side), np.uint8)
        far[:, : self.side] = ~mask
        distance = cv2.distanceTransform(far.reshape(-1, self.side), cv2.DIST_L2, cv2.DIST_MASK_5)
        return distance.reshape(-1, self.side + reach + 1, self.side)[:, : self.side]

    def connected(self, mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        """The parts of each tile's mask (8-connected) that hold a seed."""
        stacked = np.zeros((mask.shape[0], self.side + 1, self.side), np.uint8)
        stacked[:, : self.side] = mask
        _, labels = cv2.connectedComponents(stacked.reshape(-1, self.side), connectivity=8)
        labels = labels.reshape(-1, self.side + 1, self.side)[:, : self.side]
        held = np.zeros(labels.max() + 1, bool)
        held[labels[seeds]] = True
        held[0] = False
        return held[labels]


def _filled(
    centre: WorkFrame,
    before: WorkFrame,
    after: WorkFrame,
    flows: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    luma: np.ndarray,
    zero: np.ndarray,
) -> WorkFrame:
    """The frame with the pixels (rows, cols) replaced: the luma by `luma`, the chroma by the mean of
    the two neighbours, each compensated by the flow or not (`zero`, per pixel and neighbour)."""
    y = centre.y.copy()
    y[rows, cols] = luma
    height, width = y.shape
    h, w = centre.chroma_shape
    # A chroma sample is filled when any luma sample it covers is (compensated as the first such).
    flat, first = np.unique((rows * h // height) * w + cols * w // width, return_index=True)
    ys, xs = flat // w, flat % w
    map_x, map_y = _as_rows(xs), _as_rows(ys)
    chroma = []
    for plane, plane_before, plane_after in ((centre.cb, before.cb, after.cb), (centre.cr, before.cr, after.cr)):
        moved_before, moved_after, _ = _warped(plane_before, plane_after, flows, map_x, map_y)
        fill = 0.5 * (
            np.where(zero[first, 0], plane_before[ys, xs], moved_before.reshape(-1)[: xs.size])
            + np.where(zero[first, 1], plane_after[ys, xs], moved_after.reshape(-1)[: xs.size])
        )
        if np.array_equal(fill, plane[ys, xs]):  # neutral chroma of a black-and-white film: shared
            chroma.append(plane)
            continue
        out = plane.copy()
        out[ys, xs] = fill
        chroma.append(out)
    return centre.with_planes(y, *chroma)


def _mean_where(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per tile (first axis), the mean of `values` where `mask`; NaN where the mask is empty."""
    count = mask.sum(axis=(1, 2))
    total = np.where(mask, values, 0).sum(axis=(1, 2))
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _median_where(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per tile (first axis), the (lower) median of `values` where `mask`; NaN where the mask is empty."""
    blobs = values.shape[0]
    ordered = np.sort(np.where(mask, values, np.inf).reshape(blobs, -1), axis=1)
    count = mask.reshape(blobs, -1).sum(axis=1)
    middle = np.take_along_axis(ordered, np.maximum(count - 1, 0)[:, None] // 2, axis=1)[:, 0]
    return np.where(count > 0, middle, np.nan)


def _subject_factor(height: int) -> int:
    return max(1, height // SUBJECT_HEIGHT)


def _is_subject(
    frames: tuple[np.ndarray, np.ndarray, np.ndarray],
    places: tuple[tuple[int, int], tuple[int, int]],
    box: np.ndarray,
    scale: float,
) -> bool:
    """Whether either neighbour holds the blob's picture (with a little surrounding) near its place
    there (`places`: offsets, each neighbour), much better than at that place: then it is a subject
    the flow missed, not a speck. `frames`: (this frame, before, after) as `_Memo.small`; `box` and
    `places` in full-size pixels."""
    y = frames[0]
    h, w = y.shape
    factor = _subject_factor(round(scale * 720))
    scale /= factor
    margin = round(MARGIN * scale)
    x0, y0, x1, y1 = int(box[0]) // factor, int(box[1]) // factor, -(-int(box[2]) // factor), -(-int(box[3]) // factor)
    x0, y0, x1, y1 = max(0, x0 - margin), max(0, y0 - margin), min(w, x1 + margin), min(h, y1 + margin)
    tw, th = x1 - x0, y1 - y0
    picture = np.ascontiguousarray(y[y0:y1, x0:x1])
    reach = round(SEARCH * scale)
    for neighbour, (dx, dy) in zip(frames[1:], places):
        # The blob's place, clipped into the frame, and the search area around it.
        px, py = min(max(x0 + round(dx / factor), 0), w - tw), min(max(y0 + round(dy / factor), 0), h - th)
        sx0, sy0 = max(0, px - reach), max(0, py - reach)
        sx1, sy1 = min(w, px + tw + reach), min(h, py + th + reach)
        distances = cv2.matchTemplate(np.ascontiguousarray(neighbour[sy0:sy1, sx0:sx1]), picture, cv2.TM_SQDIFF)
        best, _, _, _ = cv2.minMaxLoc(distances)
        if best < FOUND * distances[py - sy0, px - sx0]:
            return True
    return False
