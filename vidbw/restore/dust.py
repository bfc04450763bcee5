"""Dust and dirt: one-frame specks found against the motion-compensated neighbours and filled from them.

A speck is on one frame only, so a pixel of it lies outside what the frame before and the frame after
hold at the same point of the scene, on the same side of both, while those two agree with each other.
What a neighbour holds there is the range of its luma within a pixel of where the flow carries the
point: the flow is good to about a pixel, and on fine texture a pixel off is a large difference. At a
shot's first or last frame the two neighbours are the next two frames (or the previous two). The flow
is DIS at a small analysis size, each pair of consecutive frames computed once both ways and kept in
the window's cache. The test runs in steps, each on far fewer pixels than the one before:

1. a raw spike test at full size on 8-bit copies (no motion compensation): the pixel lies beyond both
   neighbours at the same place, by FAINT more than they differ there, or by SPIKE whatever they do
   (a speck on a moving subject). Cheap, and it keeps the specks but faint ones on moving subjects.
2. the same test against the compensated neighbours' ranges, only at those pixels (the flow taken at
   the pixel or a little way off on two sides: a speck drags the flow on it); where the flow finds the
   picture still, the raw test's verdict stands (it is exact there, and finer than the ranges on
   grain). Moving edges drop out here.
3. the surviving pixels grouped into blobs by their cells at the flow's size (one connected-components
   call); a blob with too few pixels, wider than a speck, sparse, or among many more raw spikes than
   survived (a moving edge) is dropped before anything else is done with it.
4. the remaining blobs, each in a square tile around it, tiles of one size in one stack (two sizes),
   so every step below is one OpenCV or numpy call for a whole stack. Each neighbour is compensated by
   the flow, or not at all where that matches the speck's surround better (a speck upsets the flow
   around it, and most of the frame is often still). The speck's extent is what departs from the
   neighbours the blob's way next to it; the ring outside must match them (else it is a subject's edge
   the flow got wrong).
5. a blob near which the compensated neighbours differ (something moves there that the flow does not
   follow) is tested for a moving subject (on 8-bit copies at half of 720p): a neighbour holds its
   picture near its place, much better than at that place, and holds there what the blob itself shows
   (a ball or a hand moves; a speck is nowhere else). The rest are filled with the mean of the chosen
   neighbours, luma and chroma.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from vidbw.kernels.flow import DISFlow
from vidbw.restore.base import Part, Window, WorkFrame

__all__ = ["Dust"]

ANALYSIS_WIDTH = 320  # the flow's frame width: a speck needs the neighbours' place, not their detail
FAINT = 0.024  # a speck pixel lies beyond both neighbours by this much more than they differ (6 8-bit codes)
SPIKE = 0.06  # ...or, in the raw test, by this much whatever they do (15 codes): they differ where things move
AGREE = 0.04  # the two compensated neighbours' ranges lie closer than this
SOFT = 0.02  # a speck's soft edge, next to it, still departs from the neighbours by this much
GROW = 2  # pixels at 720p added around a speck for its soft edge
MIN_PIXELS = 3  # at 720p: a blob of fewer spike pixels is grain or noise, and too small to see
RAW_SHARE = 0.2  # most raw spikes on and around a speck stay spikes once compensated; around a moving edge
RAW_AROUND = 2  # ...most were motion. Around: within this many cells of the flow's size (8 pixels at 720p)
SOLID = 0.2  # a speck is solid: its spike pixels cover this much of their box at least (a moving edge's are sparse)
RING = 0.15  # the picture around a speck matches the neighbours: its departure is under this part of the speck's
RING_WIDTH = 4  # pixels at 720p: the ring's least width, outside what a speck's fill may reach
FLOW_AROUND = 10  # pixels at 720p: the flow is also taken this far off each side of a spike
STILL = 0.5  # pixels at 720p: where the flow to both neighbours is shorter than this, the picture is still
LARGEST = 40  # pixels at 720p: a blob wider or taller than this is no speck
SEARCH = 48  # pixels at 720p: how far from its compensated place a moving subject's picture is looked for
QUIET = 1.0  # a blob needs the subject search where its neighbours differ near it over this many times its area
FOUND = 0.5  # a blob is a subject when a neighbour holds its picture this much closer than its place there
MARGIN = 8  # pixels at 720p of surrounding taken into a blob's picture, so a speck does not match any dark dot
SUBJECT_HEIGHT = 360  # the subject search runs on 8-bit copies this high or more (half of 720p): a subject is big
_PIXEL = np.ones((3, 3), np.uint8)  # within a pixel: about as far as the flow may be off


@dataclass
class _Memo:
    """What the dust part keeps of one frame for its neighbours' windows."""

    full: np.ndarray  # uint8 luma at full size, for the raw spike test
    low: np.ndarray  # uint8: the least of `full` within a pixel (3x3)
    high: np.ndarray  # uint8: the greatest
    small: np.ndarray  # uint8 luma reduced by a whole factor to SUBJECT_HEIGHT or more, for the subject search
    thumb: np.ndarray  # uint8 luma at the analysis size
    to_next: tuple[np.ndarray, np.ndarray] | None = None  # flow fields (this -> next, next -> this), once computed


@dataclass(frozen=True)
class _Neighbour:
    """A neighbour as the tests read it: its luma, and its range within a pixel of each point."""

    y: np.ndarray
    low: np.ndarray  # as `_Memo.low`
    high: np.ndarray

    def ranges_at(self, map_x: np.ndarray, map_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(least, greatest) at the points (map_x, map_y), as float in [0, 1]."""
        low, high = (_remap(plane, map_x, map_y) for plane in (self.low, self.high))
        return low * np.float32(1 / 255), high * np.float32(1 / 255)


def _beyond(value: np.ndarray, first: tuple, second: tuple) -> tuple[np.ndarray, np.ndarray]:
    """How far `value` lies above both neighbours' ranges and below both, less the gap between the
    ranges (a speck is beyond both by more than they differ); -inf where the ranges are AGREE apart.
    `first`, `second`: (least, greatest) of each neighbour as `_Neighbour.ranges_at` gives them."""
    low_1, high_1 = first
    low_2, high_2 = second
    gap = np.maximum(np.maximum(low_1, low_2) - np.minimum(high_1, high_2), 0)
    gap[gap >= AGREE] = np.inf
    return value - np.maximum(high_1, high_2) - gap, np.minimum(low_1, low_2) - value - gap


class Dust(Part):
    name = "dust"
    radius = 2  # the neighbour two frames away stands in for the missing one at a shot's ends

    def __init__(self) -> None:
        self._flow = DISFlow(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)

    def restore(self, window: Window) -> WorkFrame:
        centre = window.centre
        offsets = _neighbour_offsets(window)
        if offsets is None:
            return centre  # a shot of two frames: a speck and a subject there look alike
        first, second = (window.frame(k) for k in offsets)
        assert first is not None and second is not None
        memo, memos = self._memo(window, centre), [self._memo(window, f) for f in (first, second)]
        raw = _raw_spikes(memo.full, memos[0].full, memos[1].full)
        if raw[0].size == 0:
            return centre
        # Where each pixel of this frame is in the first neighbour (channels 0, 1) and the second (2, 3).
        flows = np.concatenate([self._flow_to(window, k) for k in offsets], axis=2)
        neighbours = [_Neighbour(f.y, m.low, m.high) for f, m in zip((first, second), memos)]
        scale = centre.y.shape[0] / 720.0
        points = _compensated_spikes(centre.y, neighbours, flows, raw)
        blob_of, boxes = _blobs(points, raw, memo.thumb.shape, centre.y.shape, scale)
        smalls = (memo.small, memos[0].small, memos[1].small)
        moving = _Moving(memos[0].thumb, memos[1].thumb, flows, centre.y.shape, scale)
        filled = []
        for members, side in _sizes(boxes, centre.y.shape, scale):
            tiles = _Tiles(points, blob_of, boxes, members, side, centre.y.shape, scale)
            speck, found = tiles.test(centre.y, neighbours, flows)
            keep = [
                k
                for k in np.flatnonzero(speck)
                if not moving.near(found.boxes[k])
                or not _is_subject(smalls, found.places(int(k)), found.boxes[k], scale)
            ]
            if keep:
                filled.append(tiles.filled(np.array(keep)))
        if not filled:
            return centre
        rows, cols, luma, zero = (np.concatenate(parts) for parts in zip(*filled))
        return _filled(centre, first, second, flows, rows, cols, luma, zero)

    def _flow_to(self, window: Window, offset: int) -> np.ndarray:
        """Where each pixel of the centre frame is in the frame at `offset` (the analysis size)."""
        centre, other = window.centre, window.frame(offset)
        assert other is not None
        if offset == 1:
            return self._pair(window, centre, other)[0]
        if offset == -1:
            return self._pair(window, other, centre)[1]
        # Two frames away, only at a shot's ends: once per shot, so not kept.
        return self._flow.fields(self._memo(window, centre).thumb, self._memo(window, other).thumb)[0]

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
            thumb = cv2.resize(small, size, interpolation=cv2.INTER_AREA)
            low, high = cv2.erode(full, _PIXEL), cv2.dilate(full, _PIXEL)
            memo = window.cache[frame.index] = _Memo(full, low, high, small, thumb)
        return memo


def _neighbour_offsets(window: Window) -> tuple[int, int] | None:
    """The two frames a frame is compared with: the one before and the one after; at a shot's first
    or last frame the two after it or before it. None in a shot of two frames."""
    if window.frame(-1) is not None and window.frame(1) is not None:
        return -1, 1
    for step in (1, -1):
        if window.frame(step) is not None and window.frame(2 * step) is not None:
            return step, 2 * step
    return None


def _raw_spikes(y: np.ndarray, first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the pixels beyond both neighbours at the same place, the same way, by FAINT more
    than the neighbours differ there or by SPIKE (uint8 planes: saturating differences)."""
    high, low = cv2.max(first, second), cv2.min(first, second)
    departure = cv2.max(cv2.subtract(y, high), cv2.subtract(low, y))
    # Beyond by FAINT more than the neighbours differ, or by SPIKE where they differ more than that.
    allowance = cv2.min(cv2.subtract(high, low), int(SPIKE * 255) - int(FAINT * 255))
    _, spikes = cv2.threshold(cv2.subtract(departure, allowance), int(FAINT * 255), 1, cv2.THRESH_BINARY)
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
    """The flows (analysis size, (h, w, 4): to the first neighbour, to the second) at the points
    (xs, ys) of a plane of `shape`, in that plane's pixels: (..., 4) dx, dy first, dx, dy second."""
    low_h, low_w = flows.shape[:2]
    sx, sy = low_w / shape[1], low_h / shape[0]
    motion = _remap(flows, (xs + 0.5) * sx - 0.5, (ys + 0.5) * sy - 0.5)
    return motion * np.array([1 / sx, 1 / sy, 1 / sx, 1 / sy], np.float32)


def _as_rows(values: np.ndarray, width: int = 1024) -> np.ndarray:
    """A 1-D array laid out in rows of `width` (zero-padded), as cv2.remap wants its maps."""
    padded = np.zeros(-(-values.size // width) * width, np.float32)
    padded[: values.size] = values
    return padded.reshape(-1, width)


def _compensated_spikes(
    y: np.ndarray,
    neighbours: list[_Neighbour],
    flows: np.ndarray,
    points: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """The points that are spikes against the compensated neighbours too, or that the flow finds still
    (the raw test compared them with the neighbours as they are: right where nothing moves, and finer
    than the ranges on grain and texture). (The flow's forward-backward check is no use here: a speck
    upsets it on the speck itself. The ring test on the blob checks the flow instead.)"""
    rows, cols = points
    count = rows.size
    # The flow at the point, and the flow a little way off on two sides (diagonally): a speck drags the
    # flow on it, and that of the picture around it is the picture's under it. All three in one array.
    reach = FLOW_AROUND * y.shape[0] / 720.0
    steps = np.array([(0.0, 0.0), (-reach, -reach), (reach, reach)], np.float32)
    xs, ys = _as_rows(np.tile(cols, len(steps))), _as_rows(np.tile(rows, len(steps)))
    motion = _motion(
        flows, xs + _as_rows(np.repeat(steps[:, 0], count)), ys + _as_rows(np.repeat(steps[:, 1], count)), y.shape
    )
    seen = [n.ranges_at(xs + motion[..., 2 * i], ys + motion[..., 2 * i + 1]) for i, n in enumerate(neighbours)]
    above, below = _beyond(_as_rows(np.tile(y[rows, cols], len(steps))), *seen)
    spike = np.maximum(above, below) > FAINT
    moves = np.abs(motion)  # the largest of the four by hand: a reduction over so short an axis is slow
    still = np.maximum(np.maximum(moves[..., 0], moves[..., 1]), np.maximum(moves[..., 2], moves[..., 3]))
    still = still < STILL * y.shape[0] / 720.0
    keep = (spike | still).reshape(-1)[: count * len(steps)].reshape(len(steps), count).any(axis=0)
    return rows[keep], cols[keep]


def _blobs(
    points: tuple[np.ndarray, np.ndarray],
    raw: tuple[np.ndarray, np.ndarray],
    low_shape: tuple[int, int],
    shape: tuple[int, int],
    scale: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The points grouped into blobs (those whose analysis-size cells touch, 8-connected, are one),
    blobs with too few points, too wide for a speck, among many more raw spikes (in the cells of their
    box and RAW_AROUND cells around it) than stayed spikes, or too sparse dropped: (the blob of each
    point, -1 for a dropped one; (x0, y0, x1, y1) of each kept blob's points, ends excluded)."""
    rows, cols = points
    if rows.size == 0:
        return np.empty(0, np.intp), np.empty((0, 4), np.intp)
    low_h, low_w = low_shape
    h, w = shape

    def cells_of(rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.minimum(rows * low_h // h, low_h - 1), np.minimum(cols * low_w // w, low_w - 1)

    low_rows, low_cols = cells_of(rows, cols)
    cells = np.zeros(low_shape, np.uint8)
    cells[low_rows, low_cols] = 1
    count, labels = cv2.connectedComponents(cells, connectivity=8)
    label = labels[low_rows, low_cols]
    sizes = np.bincount(label, minlength=count)
    x0, y0 = np.full(count, w), np.full(count, h)
    x1, y1 = np.zeros(count, np.intp), np.zeros(count, np.intp)
    np.minimum.at(x0, label, cols)
    np.minimum.at(y0, label, rows)
    np.maximum.at(x1, label, cols + 1)
    np.maximum.at(y1, label, rows + 1)
    # The raw spikes per cell as a summed-area table, read over each box's cells and those around them.
    raw_rows, raw_cols = cells_of(*raw)
    raw_cells = np.bincount(raw_rows * low_w + raw_cols, minlength=low_h * low_w).astype(np.float32)
    raw_sums = cv2.integral(raw_cells.reshape(low_shape))
    cx0, cy0 = np.maximum(x0 * low_w // w - RAW_AROUND, 0), np.maximum(y0 * low_h // h - RAW_AROUND, 0)
    cx1 = np.minimum((x1 - 1) * low_w // w + RAW_AROUND + 1, low_w)
    cy1 = np.minimum((y1 - 1) * low_h // h + RAW_AROUND + 1, low_h)
    raw_sizes = _box_sums(raw_sums, cx0, cy0, cx1, cy1)
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
    for largest in (12 * scale, np.inf):
        members = np.flatnonzero((extents > smaller) & (extents <= largest))
        smaller = largest
        if members.size:
            groups.append((members, int(min(extents[members].max() + 2 * margin, shape[0], shape[1]))))
    return groups


@dataclass
class _Found:
    """What the tile test says of each blob, for the subject search: the compensation chosen for
    each neighbour (zero: none, the neighbour as it is) and the box of what is filled of the blob."""

    zero: np.ndarray  # (blobs, 2) bool: first neighbour, second
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

    def test(self, y: np.ndarray, neighbours: list[_Neighbour], flows: np.ndarray) -> tuple[np.ndarray, _Found]:
        """(which blobs are specks by their picture, _Found); keeps what to fill of each."""
        centre = self.gather(y)
        core = self.core
        # Each neighbour compensated by the flow or not at all, whichever matches the surround better.
        near = 3 * self.grow
        to_core = self.distance(core, near + self.ring_width)
        surround = (to_core > near) & (to_core <= near + self.ring_width)
        motion = _motion(flows, self.map_x, self.map_y, y.shape)
        chosen, zero = [], []
        for i, neighbour in enumerate(neighbours):
            dx, dy = motion[..., 2 * i], motion[..., 2 * i + 1]
            moved = _remap(neighbour.y, self.map_x + dx, self.map_y + dy).reshape(core.shape)
            still = self.gather(neighbour.y)
            use_still = _mean_where(np.abs(centre - still), surround) < _mean_where(np.abs(centre - moved), surround)
            # The ranges only where the chosen compensation puts each pixel.
            move = np.repeat(~use_still, self.side)[:, None]
            low, high = neighbour.ranges_at(self.map_x + dx * move, self.map_y + dy * move)
            chosen.append(
                (np.where(use_still[:, None, None], still, moved), low.reshape(core.shape), high.reshape(core.shape))
            )
            zero.append(use_still)
        self.mean = 0.5 * (chosen[0][0] + chosen[1][0])
        residual = centre - self.mean
        sign = np.sign(_mean_where(residual, core))[:, None, None]
        above, below = _beyond(centre, chosen[0][1:], chosen[1][1:])
        beyond = np.where(sign > 0, above, below)
        agree = beyond > -np.inf  # the neighbours' ranges lie within AGREE
        # The speck's core: its spike pixels against the chosen neighbours, connected to the blob.
        core = self.connected((beyond > FAINT) | core, core)
        contrast = np.abs(_mean_where(residual, core))
        departs = (residual * sign > SOFT) & agree
        extent = core | (departs & (self.distance(core, self.grow) <= self.grow))
        to_extent = self.distance(extent, 2 * self.grow + self.ring_width)
        fill = to_extent <= self.grow
        ring = (to_extent > 2 * self.grow) & (to_extent <= 2 * self.grow + self.ring_width)
        ring_count = ring.sum(axis=(1, 2))
        # Against the neighbours themselves, not their ranges: a subject's edge a pixel off must fail here.
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
        # The box of what is filled, for the subject search.
        fill_rows, fill_cols = np.any(fill, axis=2), np.any(fill, axis=1)
        top, left = np.argmax(fill_rows, axis=1), np.argmax(fill_cols, axis=1)
        bottom = self.side - np.argmax(fill_rows[:, ::-1], axis=1)
        right = self.side - np.argmax(fill_cols[:, ::-1], axis=1)
        boxes = np.stack([self.x0 + left, self.y0 + top, self.x0 + right, self.y0 + bottom], axis=1)
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
        count, labels = cv2.connectedComponents(stacked.reshape(-1, self.side), connectivity=8)
        labels = labels.reshape(-1, self.side + 1, self.side)[:, : self.side]
        held = np.zeros(count, bool)
        held[labels[seeds]] = True
        held[0] = False
        return held[labels]


def _filled(
    centre: WorkFrame,
    first: WorkFrame,
    second: WorkFrame,
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
    flat, leading = np.unique((rows * h // height) * w + cols * w // width, return_index=True)
    ys, xs = flat // w, flat % w
    map_x, map_y = _as_rows(xs), _as_rows(ys)
    motion = _motion(flows, map_x, map_y, (h, w))
    chroma = []
    for plane, planes in ((centre.cb, (first.cb, second.cb)), (centre.cr, (first.cr, second.cr))):
        fill = 0.5 * sum(
            np.where(
                zero[leading, i],
                other[ys, xs],
                _remap(other, map_x + motion[..., 2 * i], map_y + motion[..., 2 * i + 1]).reshape(-1)[: xs.size],
            )
            for i, other in enumerate(planes)
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


def _box_sums(sums: np.ndarray, x0, y0, x1, y1):
    """What a summed-area table (`cv2.integral`) holds over the boxes [x0, x1) × [y0, y1): numbers or arrays."""
    return sums[y1, x1] - sums[y0, x1] - sums[y1, x0] + sums[y0, x0]


@functools.cache
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """The pixel coordinates of an (h, w) plane, x and y (float32; shared, not to be written)."""
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return xs, ys


class _Moving:
    """Where the two neighbours, compensated by the flow, differ (at the analysis size): where
    something moves that the flow does not follow, or a speck sits on one of them. A subject the flow
    missed shows there, in each neighbour at its own place; where the neighbours agree all around a
    blob, nothing moves near it and it needs no subject search."""

    def __init__(self, first: np.ndarray, second: np.ndarray, flows: np.ndarray, shape: tuple[int, int], scale: float):
        self.thumbs, self.flows = (first, second), flows
        h, w = first.shape
        self.cell_x, self.cell_y = w / shape[1], h / shape[0]
        self.reach = max(1, round(SEARCH * scale * self.cell_x))

    @functools.cached_property
    def sums(self) -> np.ndarray:
        """Summed-area table of the cells where the neighbours differ (made when first asked for)."""
        grid_x, grid_y = _grid(*self.thumbs[0].shape)
        first, second = (
            _remap(thumb, grid_x + self.flows[..., 2 * i], grid_y + self.flows[..., 2 * i + 1])
            for i, thumb in enumerate(self.thumbs)
        )
        _, differ = cv2.threshold(cv2.absdiff(first, second), int(AGREE * 255), 1, cv2.THRESH_BINARY)
        return cv2.integral(differ)

    def near(self, box: np.ndarray) -> bool:
        """Whether the neighbours differ around the blob in `box` (full-size pixels), within SEARCH
        and outside the blob's own cells, over as many cells as the blob covers or more."""
        h, w = self.sums.shape[0] - 1, self.sums.shape[1] - 1
        x0, y0 = int(box[0] * self.cell_x), int(box[1] * self.cell_y)
        x1, y1 = int(np.ceil(box[2] * self.cell_x)), int(np.ceil(box[3] * self.cell_y))

        def count(grow: int) -> int:
            a0, b0, a1, b1 = max(x0 - grow, 0), max(y0 - grow, 0), min(x1 + grow, w), min(y1 + grow, h)
            return int(_box_sums(self.sums, a0, b0, a1, b1))

        return count(self.reach) - count(1) >= QUIET * (x1 - x0) * (y1 - y0)


def _subject_factor(height: int) -> int:
    return max(1, height // SUBJECT_HEIGHT)


def _is_subject(
    frames: tuple[np.ndarray, np.ndarray, np.ndarray],
    places: tuple[tuple[int, int], tuple[int, int]],
    box: np.ndarray,
    scale: float,
) -> bool:
    """Whether either neighbour holds the blob's picture (with some surrounding) near its place there
    (`places`: offsets, each neighbour), much better than at that place, and holds there what the blob
    itself shows (`box`, what is filled), not only its surroundings (on texture that moves, the
    surroundings match wherever the picture under a speck went): then it is a subject the flow missed,
    not a speck. `frames`: (this frame, its two neighbours) as `_Memo.small`; `box` and `places` in
    full-size pixels."""
    y = frames[0]
    h, w = y.shape
    factor = _subject_factor(round(scale * 720))
    margin = round(MARGIN * scale / factor)
    x0, y0, x1, y1 = int(box[0]) // factor, int(box[1]) // factor, -(-int(box[2]) // factor), -(-int(box[3]) // factor)
    ox0, oy0 = max(0, x0 - margin), max(0, y0 - margin)  # the picture's box, the blob's inside it
    ox1, oy1 = min(w, x1 + margin), min(h, y1 + margin)
    tw, th = ox1 - ox0, oy1 - oy0
    picture = np.ascontiguousarray(y[oy0:oy1, ox0:ox1])
    inside = (slice(y0 - oy0, y1 - oy0), slice(x0 - ox0, x1 - ox0))
    blob = picture[inside].astype(np.float32)
    reach = round(SEARCH * scale / factor)
    for neighbour, (dx, dy) in zip(frames[1:], places):
        # The blob's place, clipped into the frame, and the search area around it.
        px, py = min(max(ox0 + round(dx / factor), 0), w - tw), min(max(oy0 + round(dy / factor), 0), h - th)
        sx0, sy0 = max(0, px - reach), max(0, py - reach)
        sx1, sy1 = min(w, px + tw + reach), min(h, py + th + reach)
        distances = cv2.matchTemplate(np.ascontiguousarray(neighbour[sy0:sy1, sx0:sx1]), picture, cv2.TM_SQDIFF)
        best, _, (bx, by), _ = cv2.minMaxLoc(distances)
        if best >= FOUND * distances[py - sy0, px - sx0]:
            continue
        at_best = neighbour[sy0 + by : sy0 + by + th, sx0 + bx : sx0 + bx + tw][inside]
        at_place = neighbour[py : py + th, px : px + tw][inside]
        if np.square(blob - at_best).sum() < FOUND * np.square(blob - at_place).sum():
            return True
    return False
