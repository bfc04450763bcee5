"""What a frame shows, as a learned style's subject choice sees it: a fixed content description.

`content_features` describes a colour frame by the layout of its Lab colour on a 3×3 grid, a
saturation-weighted hue histogram, its saturation and its contrast. Nothing here is learned: the
retoucher's subject clusters are k-means centroids of these features over its training photos, and
a shot's subject is the centroid nearest the mean feature of a few of its frames
(`Retoucher.subject_of_features`). Kept free of torch, so the analysis pass can describe every
frame it decodes (168 bytes each) instead of keeping the frames.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["CONTENT_DIM", "content_features", "content_evidence"]

CONTENT_DIM = 27 + 12 + 3


def content_features(rgb: np.ndarray) -> np.ndarray:
    """float32 (CONTENT_DIM,) for one float32 (h, w, 3) R'G'B' frame in [0, 1]."""
    small = cv2.resize(np.ascontiguousarray(rgb, dtype=np.float32), (48, 48), interpolation=cv2.INTER_AREA)
    lab: np.ndarray = cv2.cvtColor(small, cv2.COLOR_RGB2LAB)  # L 0..100, a/b ~ -128..127
    lab = lab / np.array([100.0, 64.0, 64.0], np.float32)
    layout = cv2.resize(lab, (3, 3), interpolation=cv2.INTER_AREA).reshape(-1)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hist, _ = np.histogram(hsv[..., 0], bins=12, range=(0, 360), weights=hsv[..., 1])
    hist = hist / (48 * 48)
    luma = small @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    extra = np.array([hsv[..., 1].mean(), luma.std(), (hsv[..., 1] > 0.3).mean()], np.float32)
    return np.concatenate([layout, hist * 4.0, extra]).astype(np.float32)


def content_evidence(frames) -> np.ndarray:
    """float32 (k, CONTENT_DIM): the content features of k frames, float32 (k, h, w, 3) or a list of
    (h, w, 3) R'G'B' in [0, 1]; one frame (h, w, 3) gives k = 1. What `choose_proxy` takes."""
    if isinstance(frames, np.ndarray) and frames.ndim == 3:
        frames = [frames]
    return np.stack([content_features(frame) for frame in frames])
