"""Colorization's algorithm: colour grids for B&W frames, carried from a key frame or predicted.

Every frame gets a colour grid (:mod:`vidbw.kernels.chroma`: affine maps from luma to chroma) from
one of two sources, and the grid is sliced against the frame's own luma at full resolution, so
colour edges follow image edges at any resolution:

* :class:`ReferenceColorizer`: the shot's coloured key frames (or a photo). A key frame's colours
  are carried to each frame by correspondence at analysis resolution (:class:`CarriedKey`): dense
  optical flow (OpenCV DIS) between the frame and the key frame, checked forward against backward;
  where flow fails (occlusions, objects entering, large motion) the colorizer network's learned
  correspondence features are matched against the key frame's, small patches of them rather than
  single blocks, preferring look-alikes near where the camera's motion puts them, and each pixel
  takes its matches' colours at its own luma. With several key frames, the estimates of the nearest
  before and after the frame are blended by time and confidence. The per-pixel colour estimate,
  weighted by its confidence, is fitted by a fine colour grid.
* :class:`AutoColorizer`: the trained network predicts the grid from the low-resolution luma. A
  film's shot without a key frame gets one this way (:func:`automatic_key_frame`: its middle frame
  coloured by the network) and is then carried like a given key frame, so its colours hold
  through the shot instead of wobbling with the network's frame-by-frame guesses.

Both are "styles" to the render machinery (`vidbw.render`): `GridScheduler` predicts their grids in
batches per shot and `GridSmoother` smooths them within the shot, never across a cut. A frame's grid
depends only on that frame and its shot's key frames, so a film split into segments renders the same.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vidbw.errors import InputError
from vidbw.kernels.chroma import fit_color_grid, sample_grid_torch, slice_chroma, splat_chroma
from vidbw.kernels.colour import keep_luma, lowres_level
from vidbw.kernels.flow import DISFlow
from vidbw.kernels.ycbcr import rgb_to_ycbcr709, ycbcr709_to_rgb

__all__ = [
    "AutoColorizer",
    "AutomaticKeyColorizer",
    "ReferenceColorizer",
    "CarriedKey",
    "automatic_key_frame",
    "Reference",
    "colorize_image_array",
    "colour_content",
]

REFERENCE_GRID_DEPTH = 8
REFERENCE_CELL = 2  # analysis pixels per colour-grid cell: fine enough for the colours of small objects
# How far flow is trusted: loosely, since the feature match colours what the flow leaves (docs/COLORIZE.md).
FLOW_CHECK_PX = 2.0  # forward-backward disagreement (analysis pixels) at which flow is trusted ~37 %
FLOW_LUMA_TOLERANCE = 0.12  # luma gap between a pixel and where its flow lands at which flow is trusted ~37 %
# The feature match prefers key cells near where the scene's motion puts a block, and a soft match
# keeps its colours from wobbling (docs/COLORIZE.md).
FEATURE_TEMPERATURE = 0.08  # softmax temperature of the feature match (cosine similarities)
MATCH_LUMA_SCALE = 0.25  # a luma gap this large costs a feature match one whole unit of cosine similarity
MATCH_DISTANCE_COST = (
    1.0  # a feature match one frame side from where the scene's motion expects it costs this much similarity
)
MATCH_DISTANCE_CAP = 0.2  # ... but never more than this: a subject that moved far can still be matched
SCENE_MOTION_SPREAD = 1 / 8  # the trusted flow is averaged over this fraction of the frame side into the scene's motion
MATCH_BELOW = 0.9  # positions whose flow confidence is below this are also matched by features
FEATURE_WEIGHT = 0.35  # how much a confident feature match counts against a confident flow match
LUMA_SUPPORT_PIXELS = (
    16.0  # key pixels of a luma a match must hold before its colours at that luma outweigh the block's
)
KEY_CELL_BLOCKS = 2  # a key cell of the feature match spans this many feature blocks per side
MATCH_CONTEXT = 3  # a feature match compares MATCH_CONTEXT × MATCH_CONTEXT patches of feature blocks, not single blocks
CONFIDENCE_FLOOR = 0.02  # every pixel informs its grid cell a little: no cell is left without colour


# --------------------------------------------------------------------------- colour sources


class _ColourSource:
    """What the render machinery needs of a colorizer (see `vidbw.render.GridScheduler`)."""

    colorizes = True
    is_constant = False
    tone_lut = None
    name = "colorize"

    def grids_for(self, levels: np.ndarray, frames: Sequence[int] | None = None) -> np.ndarray:
        """(N, h, w) luma at analysis size, and the frames' numbers in the film (None: a still
        picture) -> (N, 4, D, Gh, Gw) colour grids."""
        raise NotImplementedError


class AutoColorizer(_ColourSource):
    """Colours predicted by the trained colorizer network, from the luma alone."""

    name = "colorize:auto"

    def __init__(self, network=None):
        if network is None:
            from vidbw.models.colorizer import load_colorizer

            network = load_colorizer()
        self.network = network

    def grids_for(self, levels: np.ndarray, frames: Sequence[int] | None = None) -> np.ndarray:
        return self.network.predict_grids(np.asarray(levels, np.float32))

    def describe(self) -> str:
        return "automatic"


@dataclass
class Reference:
    """A coloured key frame at the film's analysis resolution."""

    path: Path
    level: np.ndarray  # (h, w) luma in [0, 1]
    chroma: np.ndarray  # (2, h, w) Cb, Cr
    features: np.ndarray | None = None  # (F, h/4, w/4) learned correspondence features


def automatic_key_frame(network, level: np.ndarray, frame: int) -> Reference:
    """A shot's key frame when nobody coloured one: its frame number `frame` (luma `level` at
    analysis size) coloured by the network."""
    return Reference(Path(f"frame {frame}"), level.astype(np.float32), network.predict_chroma(level))


class ReferenceColorizer(_ColourSource):
    """Colours carried from a shot's coloured key frames to each of its frames, by correspondence.

    `keys` is one key frame without a time (a reference image for the whole shot, or for a still
    picture), or key frames by the frame of the film they show. With several, a frame takes its
    colours from the nearest key before it and the nearest after (`_keys_at`), pixel by pixel
    weighted by how near each is in time and how sure its correspondence is (`_blend`), and its
    colour grid is fitted once, to the blend. A frame's grid depends on that frame and its shot's key
    frames alone, so a film split into segments renders the same.
    """

    name = "colorize:reference"

    def __init__(self, keys: Reference | Mapping[int, Reference | Callable[[], Reference]], network=None):
        self.network = network
        self._frames: list[int] = [] if isinstance(keys, Reference) else sorted(keys)  # none: a key without a time
        self._carried = (
            [CarriedKey(keys, network)]
            if isinstance(keys, Reference)
            else [CarriedKey(keys[frame], network) for frame in self._frames]
        )
        if not self._carried:
            raise ValueError("a reference colorizer needs a key frame")

    def describe(self) -> str:
        names = [key.reference.path.name for key in self._carried]
        if self._frames:
            names = [f"{name} (frame {frame})" for name, frame in zip(names, self._frames)]
        return "reference " + ", ".join(names)

    def grids_for(self, levels: np.ndarray, frames: Sequence[int] | None = None) -> np.ndarray:
        levels = np.asarray(levels, np.float32)
        features = self.network.features(levels) if self.network is not None else [None] * len(levels)
        grids = []
        for level, feature, frame in zip(levels, features, frames if frames is not None else [None] * len(levels)):
            seen = _Frame(level, feature)
            chroma, confidence = _blend([(weight, key.colour_estimate(seen)) for key, weight in self._keys_at(frame)])
            height, width = level.shape
            grids.append(
                fit_color_grid(
                    level,
                    chroma,
                    confidence,
                    depth=REFERENCE_GRID_DEPTH,
                    grid_h=math.ceil(height / REFERENCE_CELL),
                    grid_w=math.ceil(width / REFERENCE_CELL),
                )
            )
        return np.stack(grids)

    def _keys_at(self, frame: int | None) -> list[tuple[CarriedKey, float]]:
        """The key frames that colour `frame`, with their weights in time (summing to 1): a key frame
        alone colours itself; between two keys, the nearer counts more, linearly, so the colours pass
        from one key to the next; before the first key and after the last, that key alone. At most
        two keys, so a frame costs at most twice the correspondence of one key."""
        if len(self._carried) == 1:
            return [(self._carried[0], 1.0)]
        if frame is None:
            raise ValueError("a frame coloured from several key frames needs its frame number")
        after = bisect.bisect_left(self._frames, frame)
        if after == len(self._frames):
            return [(self._carried[-1], 1.0)]
        if after == 0 or self._frames[after] == frame:
            return [(self._carried[after], 1.0)]
        first, last = self._frames[after - 1], self._frames[after]
        share = (frame - first) / (last - first)
        return [(self._carried[after - 1], 1.0 - share), (self._carried[after], share)]


def _blend(estimates: list[tuple[float, tuple[np.ndarray, np.ndarray]]]) -> tuple[np.ndarray, np.ndarray]:
    """One colour estimate from several key frames' (weight in time, (chroma, confidence)): per pixel,
    each key's chroma weighted by its time weight times its confidence, so a key that shows what the
    other does not (a subject that entered between them) colours it wherever it is sure, however far
    in time. The confidence is the sum of those weights: each key's, averaged over time."""
    if len(estimates) == 1:
        return estimates[0][1]
    weights = [time * confidence for time, (_, confidence) in estimates]
    total = np.sum(weights, axis=0)
    chroma = sum(weight * chroma for weight, (_, (chroma, _)) in zip(weights, estimates)) / total
    return chroma.astype(np.float32), total.astype(np.float32)


class CarriedKey:
    """One coloured key frame, and its colours carried onto any frame of its shot by correspondence:
    dense optical flow checked both ways, and where flow is not trusted, the network's learned
    features matched patch by patch and looked up by luma (docs/COLORIZE.md)."""

    def __init__(self, key: Reference | Callable[[], Reference], network=None):
        self._key = key  # a callable makes the key frame on first use (a shot's automatic key frame)
        self.network = network
        self._flow = DISFlow()
        self._cells = None

    @property
    def reference(self) -> Reference:
        if not isinstance(self._key, Reference):
            self._key = self._key()
        return self._key

    def colour_estimate(self, frame: _Frame) -> tuple[np.ndarray, np.ndarray]:
        """The key frame's colours carried onto a frame: (2, h, w) chroma and (h, w) confidence."""
        warped, flow_confidence, flow = self._flow_match(frame)
        if frame.feature is None:
            return warped, np.maximum(flow_confidence, CONFIDENCE_FLOOR)
        matched, match_confidence = self._feature_match(frame, flow_confidence, flow)
        chroma = flow_confidence * warped + (1 - flow_confidence) * matched
        confidence = np.maximum(flow_confidence, FEATURE_WEIGHT * match_confidence)
        return chroma, np.maximum(confidence, CONFIDENCE_FLOOR)

    def _flow_match(self, frame: _Frame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The key frame's colours warped onto the frame by optical flow: (2, h, w) chroma, (h, w)
        confidence, and the flow itself (h, w, 2: where each pixel lands in the key frame)."""
        ref, level = self.reference, frame.level
        if ref.level.shape != level.shape:  # the key frame was sized for this film; guard anyway
            raise InputError(f"reference {ref.path.name} does not match the film's analysis size")
        ref8 = np.round(ref.level * 255).astype(np.uint8)
        flow = self._flow(frame.level8, ref8)  # frame(x) ~ ref(x + flow.forward(x))
        warped = np.stack([flow.warp(c) for c in ref.chroma])
        # Flow over a large motion can be smooth, consistent both ways and still wrong (it follows
        # the background across a subject that moved far): the luma it lands on must also agree.
        mismatch = cv2.GaussianBlur(np.abs(flow.warp(ref.level) - level), (0, 0), 1.0)
        confidence = (
            np.exp(-((flow.disagreement / FLOW_CHECK_PX) ** 2) - (mismatch / FLOW_LUMA_TOLERANCE) ** 2) * flow.inside
        )
        return warped, confidence.astype(np.float32), flow.forward

    def _feature_match(
        self, frame: _Frame, flow_confidence: np.ndarray, flow: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Soft nearest neighbours in the key frame by learned features, looked up by luma.

        Only positions whose flow is not trusted are matched (the rest keep their flow colour), so a
        quiet shot costs almost nothing here. Similarity is the features' cosine less a luma penalty
        and a bounded distance penalty: of two look-alike key cells, the one near where the scene's
        motion puts the block wins (`_scene_motion`, from the trusted part of `flow`), so a red cup's
        rim takes the colour of the cup that was there rather than of a brown plank across the frame.
        A feature block (4×4 analysis pixels) matches key-frame cells of 8×8, both compared with
        their surroundings (`_with_context`); each pixel then takes the colours its block's matches
        hold *at the pixel's own luma* (the key frame's colours binned by luma, `splat_chroma`), so
        a white table beside a red cup stays white instead of taking the block's average pink.
        """
        import torch

        keys, key_level, key_bins, key_position = self._match_keys()
        assert frame.feature is not None  # `colour_estimate` matches features only where there are some
        _, fh, fw = frame.feature.shape
        level = frame.level
        height, width = level.shape
        depth = REFERENCE_GRID_DEPTH
        doubtful = cv2.resize(flow_confidence, (fw, fh), interpolation=cv2.INTER_AREA).ravel() < MATCH_BELOW
        binned = np.zeros((fh * fw, 3 * depth), np.float32)
        confidence = np.zeros(fh * fw, np.float32)
        if doubtful.any():
            rows = np.flatnonzero(doubtful)
            patches = frame.patches
            query = torch.from_numpy(np.ascontiguousarray(patches.reshape(len(patches), -1)[:, rows].T))
            query_level = torch.from_numpy(cv2.resize(level, (fw, fh), interpolation=cv2.INTER_AREA).ravel()[rows])
            block_motion = _scene_motion(flow, flow_confidence, (fw, fh)).reshape(-1, 2)[rows]
            expected = torch.from_numpy(_cell_centres(fh, fw, height, width)[rows] + block_motion / max(height, width))
            with torch.inference_mode():
                # A match must also have the pixel's brightness: it keeps a dark coat from taking the
                # colour of a bright wall with a similar texture.
                similarity = query @ keys - (query_level[:, None] - key_level[None]).abs_() / MATCH_LUMA_SCALE
                similarity -= MATCH_DISTANCE_COST * torch.cdist(expected, key_position).clamp_(max=MATCH_DISTANCE_CAP)
                best = similarity.max(dim=1).values
                weights = torch.softmax(similarity / FEATURE_TEMPERATURE, dim=1)
                binned[rows] = (weights @ key_bins).numpy()
            confidence[rows] = np.clip((best.numpy() - 0.5) / 0.5, 0, 1)
        # Per block and luma bin: how many key pixels its matches hold there, and their Cb and Cr sums.
        table = np.ascontiguousarray(binned.T.reshape(3, depth, fh, fw))
        with torch.inference_mode():
            at_luma = sample_grid_torch(torch.from_numpy(table)[None], torch.from_numpy(level)[None, None])[0].numpy()
        upsample = lambda image: cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)  # noqa: E731
        whole_block = [upsample(sums) for sums in table.sum(axis=1)]  # the block's colours whatever their luma
        block_chroma = np.stack(whole_block[1:]) / np.maximum(whole_block[0], 1e-6)
        # Where the matches hold few key pixels of this luma, lean on the block's colours.
        matched = (at_luma[1:] + LUMA_SUPPORT_PIXELS * block_chroma) / (at_luma[0] + LUMA_SUPPORT_PIXELS)
        return matched.astype(np.float32), upsample(confidence.reshape(fh, fw))

    def _match_keys(self):
        """Per key cell, once: the key frame's features (F, Q), luma (Q,), colours binned by luma
        (Q, 3·D) and centre (Q, 2: x, y in frame sides)."""
        if self._cells is None:
            import torch

            ref = self.reference
            if ref.features is None:  # once per key frame, shared by the shots that use it
                ref.features = self.network.features(ref.level[None])[0]
            _, ref_h, ref_w = ref.features.shape
            # Keys at half the feature resolution: a quarter of the cost, and the grid fit puts
            # colour edges back on luma edges anyway.
            ref_h, ref_w = max(1, ref_h // KEY_CELL_BLOCKS), max(1, ref_w // KEY_CELL_BLOCKS)
            features = torch.from_numpy(_with_context(ref.features))[None]
            pooled = torch.nn.functional.adaptive_avg_pool2d(features, (ref_h, ref_w))[0]
            channels = pooled.shape[0]
            keys = torch.nn.functional.normalize(pooled.reshape(channels, -1), dim=0).numpy()
            key_level = cv2.resize(ref.level, (ref_w, ref_h), interpolation=cv2.INTER_AREA).ravel()
            bins = splat_chroma(ref.level, ref.chroma, REFERENCE_GRID_DEPTH, ref_h, ref_w)
            self._cells = (
                torch.from_numpy(np.ascontiguousarray(keys, dtype=np.float32)),
                torch.from_numpy(key_level),
                torch.from_numpy(np.ascontiguousarray(bins.reshape(3 * REFERENCE_GRID_DEPTH, -1).T)),
                torch.from_numpy(_cell_centres(ref_h, ref_w, *ref.level.shape)),
            )
        return self._cells


class _Frame:
    """A frame as each key frame's correspondence sees it; what several keys share is made once."""

    def __init__(self, level: np.ndarray, feature: np.ndarray | None):
        self.level = level  # (h, w) luma in [0, 1]
        self.level8 = np.round(level * 255).astype(np.uint8)  # what optical flow takes
        self.feature = feature  # (F, h/4, w/4) learned correspondence features; None: flow alone

    @functools.cached_property
    def patches(self) -> np.ndarray:
        """The features with their surroundings (`_with_context`), when a key first matches some."""
        assert self.feature is not None
        return _with_context(self.feature)


def _with_context(features: np.ndarray) -> np.ndarray:
    """(C·K², h, w) float32 for (C, h, w) unit features, K = MATCH_CONTEXT: each block's features
    beside those of its neighbours one key cell (`KEY_CELL_BLOCKS`) apart, scaled to unit norm. The
    cosine of two such patches is the mean cosine of their blocks: a cup's side and a plank that look
    alike block for block rarely do over a patch (docs/COLORIZE.md)."""
    import torch
    import torch.nn.functional as F

    pad = KEY_CELL_BLOCKS * (MATCH_CONTEXT // 2)
    blocks = F.pad(torch.from_numpy(np.ascontiguousarray(features, np.float32))[None], (pad,) * 4, mode="replicate")
    channels, height, width = features.shape
    patches = F.unfold(blocks, MATCH_CONTEXT, dilation=KEY_CELL_BLOCKS) / MATCH_CONTEXT
    return patches.reshape(channels * MATCH_CONTEXT**2, height, width).numpy()


def _cell_centres(grid_h: int, grid_w: int, height: int, width: int) -> np.ndarray:
    """(grid_h·grid_w, 2) float32, row-major: the x, y centre of each cell of a grid tiling a
    height × width picture, in units of its longer side. Feature blocks and key cells share it, so
    their distances compare."""
    cell_y, cell_x = np.indices((grid_h, grid_w), dtype=np.float32).reshape(2, -1)
    centres = np.stack([(cell_x + 0.5) * width / grid_w, (cell_y + 0.5) * height / grid_h], axis=1)
    return (centres / max(height, width)).astype(np.float32)


def _scene_motion(flow: np.ndarray, confidence: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h', w', 2) at `size` (w', h'): where the camera has moved each place's surroundings, in
    analysis pixels: the flow's trusted part averaged over a wide neighbourhood. Zero where nothing
    nearby is trusted."""
    weight = cv2.resize(confidence, size, interpolation=cv2.INTER_AREA)
    weighted_flow = cv2.resize(flow * confidence[..., None], size, interpolation=cv2.INTER_AREA)
    spread = SCENE_MOTION_SPREAD * max(size)
    trust = cv2.GaussianBlur(weight, (0, 0), spread) + 1e-3
    return cv2.GaussianBlur(weighted_flow, (0, 0), spread) / trust[..., None]


class AutomaticKeyColorizer(ReferenceColorizer):
    """A shot without a key frame: its middle frame coloured by the network (`automatic_key_frame`)
    and carried through the shot like a given key frame, so the colours hold instead of wobbling
    with the network's frame-by-frame guesses (docs/COLORIZE.md). The key is `Shot.middle_frame`.

    The key frame is decoded (`frames`, a `FilmSampler`) when the shot is first rendered, so a job
    worker decodes only its own shots' key frames, and the same ones as a single pass.
    """

    name = "colorize:auto"

    def __init__(self, network, frames, shot):
        self.frame = shot.middle_frame
        self._film, self._shot_index = frames, shot.index
        super().__init__({self.frame: self._make_key_frame}, network)

    def _make_key_frame(self) -> Reference:
        decoded = self._film.decoded(self.frame, f"shot {self._shot_index}: ")
        level = lowres_level(decoded.planes, decoded.to_rgb)  # what the render pass sees of that frame
        return automatic_key_frame(self.network, level, self.frame)

    def describe(self) -> str:
        return f"automatic (frame {self.frame} coloured by the network, carried through the shot)"


# --------------------------------------------------------------------------- rendering


def colorize_image_array(rgb: np.ndarray, bits: int, source: _ColourSource) -> np.ndarray:
    """An (H, W, 3) image -> the same image colorized: its Rec.709 luma kept, chroma from `source`."""
    from vidbw.kernels.colour import rgb_matrix

    top = float(2**bits - 1)
    planes = (rgb[:, :, 0], rgb[:, :, 1], rgb[:, :, 2])
    level_small = lowres_level(planes, rgb_matrix(bits))
    grid = source.grids_for(level_small[None])[0]
    luma = np.empty(rgb.shape[:2], np.uint16)
    keep_luma(planes, rgb_matrix(bits), luma, (0.0, 65535.0))
    cb = np.empty_like(luma)
    cr = np.empty_like(luma)
    slice_chroma(luma, grid, cb, cr, 16, True)
    level = luma.astype(np.float32) / 65535.0
    chroma_of = lambda c: (c.astype(np.float32) - 32768.0) / 65535.0  # noqa: E731 (full-range 16-bit codes)
    out = ycbcr709_to_rgb(level, chroma_of(cb), chroma_of(cr))
    return np.round(out * top).astype(rgb.dtype)


# --------------------------------------------------------------------------- input checks


def colour_content(rgb_frames: np.ndarray) -> tuple[float, float]:
    """(spread, tint) of small R'G'B' frames: how much the chroma varies, and its mean magnitude.

    Gray film has both near 0; a sepia or tinted scan has a tint but little spread; colour film
    has spread.
    """
    _, cb, cr = rgb_to_ycbcr709(np.asarray(rgb_frames, np.float32))
    spread = float(np.hypot(cb - cb.mean(), cr - cr.mean()).mean())
    tint = float(np.hypot(cb.mean(), cr.mean()))
    return spread, tint
