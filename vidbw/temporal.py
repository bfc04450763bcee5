"""Temporal smoothing of bilateral grids within a shot (never across a cut).

A grid is small (4 x D x Gh x Gw numbers), so averaging it over neighbouring frames removes the
frame-to-frame jitter of a predicted look without the ghosting that blending pixels would cause.
`GridSmoother` is a streaming, centred Gaussian filter over frame indices:

* it looks `radius` frames back and `radius` frames ahead, so a grid leaves `radius` frames after
  it arrived (the latency) and at most 2·radius + 1 grids are held;
* the window never crosses a change of shot: at a shot's ends it is truncated and the weights are
  renormalised, so each shot is smoothed as if it were the whole film (a constant grid stays
  exactly constant, and a step at a cut stays exactly a step);
* grids come out strictly in input order, each exactly once.

Modes: ``off`` (pass-through), ``light`` (σ = 2 frames, radius 4), ``strong`` (σ = 6, radius 12).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable

import numpy as np

from vidbw.errors import OptionError

__all__ = ["GridSmoother", "MODES", "check_temporal", "smooth_grids"]

MODES: dict[str, tuple[float, int]] = {"off": (0.0, 0), "light": (2.0, 4), "strong": (6.0, 12)}


def check_temporal(mode: str) -> None:
    """Refuse a smoothing mode that is not one of MODES."""
    if mode not in MODES:
        raise OptionError(f"unknown `temporal` '{mode}' (use off, light or strong)", param="temporal")


class GridSmoother:
    """Streaming shot-aware Gaussian smoothing of grids.

    >>> smoother = GridSmoother("light")
    >>> for index, shot, grid in frames:           # indices increasing, shots contiguous
    ...     for i, smoothed in smoother.push(index, shot, grid):
    ...         use(i, smoothed)
    >>> for i, smoothed in smoother.flush():      # the last `radius` grids
    ...     use(i, smoothed)
    """

    def __init__(self, mode: str = "light", sigma: float | None = None, radius: int | None = None):
        check_temporal(mode)
        default_sigma, default_radius = MODES[mode]
        self.mode = mode
        self.sigma = float(default_sigma if sigma is None else sigma)
        self.radius = int(default_radius if radius is None else radius)
        if self.radius < 0 or (self.radius > 0 and self.sigma <= 0):
            raise OptionError(f"temporal smoothing needs radius >= 0 and sigma > 0 (got {self.radius}, {self.sigma})")
        offsets = np.arange(-self.radius, self.radius + 1, dtype=np.float64)
        self._weights = np.exp(-0.5 * (offsets / self.sigma) ** 2) if self.radius else np.ones(1)
        self._buffer: deque = deque()  # (index, grid) of the current shot: pending ones and their past context
        self._shot: Hashable | None = None
        self._next_out = 0  # position in _buffer of the next grid to emit
        self._last_index: int | None = None
        self.max_buffered = 0  # the most grids ever held at once (for tests and diagnostics)

    @property
    def latency(self) -> int:
        """Frames a grid waits before it is emitted (within a shot)."""
        return self.radius

    def push(self, index: int, shot: Hashable, grid: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """Take frame `index` of `shot`; return the (index, smoothed grid) pairs now final, in order."""
        if self._last_index is not None and index <= self._last_index:
            raise ValueError(f"frame indices must increase: got {index} after {self._last_index}")
        self._last_index = index
        out: list[tuple[int, np.ndarray]] = []
        if self._buffer and shot != self._shot:
            out.extend(self._drain())  # a cut: finish the previous shot with a truncated window
        self._shot = shot
        grid = np.asarray(grid)
        if self._buffer and grid.shape != self._buffer[0][1].shape:
            raise ValueError(f"grid shape changed inside shot {shot!r}: {self._buffer[0][1].shape} -> {grid.shape}")
        self._buffer.append((index, grid))
        self.max_buffered = max(self.max_buffered, len(self._buffer))
        # Every pending grid whose look-ahead is complete can go.
        while (
            self._next_out < len(self._buffer) and self._buffer[-1][0] - self._buffer[self._next_out][0] >= self.radius
        ):
            out.append(self._emit(self._next_out))
            self._next_out += 1
            self._trim()
        return out

    def flush(self) -> list[tuple[int, np.ndarray]]:
        """Emit every grid still held (end of film, or before a gap in the stream); then start afresh."""
        out = self._drain()
        self._shot = None
        return out

    # ------------------------------------------------------------------ internals

    def _drain(self) -> list[tuple[int, np.ndarray]]:
        out = [self._emit(k) for k in range(self._next_out, len(self._buffer))]
        self._buffer.clear()
        self._next_out = 0
        return out

    def _trim(self) -> None:
        """Drop grids no pending output can still see (further back than `radius`)."""
        if self._next_out >= len(self._buffer):
            horizon = self._buffer[-1][0] - self.radius + 1 if self._buffer else 0
        else:
            horizon = self._buffer[self._next_out][0] - self.radius
        while self._buffer and self._next_out > 0 and self._buffer[0][0] < horizon:
            self._buffer.popleft()
            self._next_out -= 1

    def _emit(self, k: int) -> tuple[int, np.ndarray]:
        index, grid = self._buffer[k]
        if self.radius == 0:
            return index, grid
        total = np.zeros(grid.shape, np.float64)
        weight_sum = 0.0
        for other_index, other in self._buffer:
            offset = other_index - index
            if -self.radius <= offset <= self.radius:
                w = self._weights[offset + self.radius]
                total += w * other
                weight_sum += w
        return index, (total / weight_sum).astype(grid.dtype if grid.dtype.kind == "f" else np.float32)


def smooth_grids(grids: np.ndarray, shots: list | np.ndarray, mode: str = "light") -> np.ndarray:
    """Smooth a whole (N, ...) array of grids at once (for tests and offline use)."""
    smoother = GridSmoother(mode)
    out = np.empty_like(np.asarray(grids, dtype=np.float32))
    for i, (grid, shot) in enumerate(zip(grids, shots)):
        for j, g in smoother.push(i, shot, grid):
            out[j] = g
    for j, g in smoother.flush():
        out[j] = g
    return out
