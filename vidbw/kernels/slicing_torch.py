"""Torch twin of :mod:`vidbw.kernels.slicing` for the CUDA path (it also runs on CPU torch).

Kept apart from the numba kernel so that the CPU render path never imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .colour import REC709_LUMA

__all__ = ["slice_apply_torch", "planes_to_rgb_torch"]


def _lerp_indices(n_in: int, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Clamped linear interpolation at ``pos`` over ``n_in`` samples: (left, right, right weight)."""
    pos = pos.clamp(0, n_in - 1)
    i0 = pos.floor().long()
    i1 = (i0 + 1).clamp(max=n_in - 1)
    return i0, i1, (pos - i0).to(pos.dtype)


def _upsample_chroma(c: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear chroma upsampling with the kernel's siting (left horizontally, centred vertically)."""
    c_height, c_width = c.shape[-2:]
    dev = c.device
    if c_width != width:
        cx = torch.arange(width, device=dev, dtype=torch.float32) * 0.5
        i0, i1, f = _lerp_indices(c_width, cx)
        f = f.to(c.dtype)
        c = c.index_select(-1, i0) * (1 - f) + c.index_select(-1, i1) * f
    if c_height != height:
        cy = (torch.arange(height, device=dev, dtype=torch.float32) + 0.5) * 0.5 - 0.5
        i0, i1, f = _lerp_indices(c_height, cy)
        f = f.to(c.dtype)[:, None]
        c = c.index_select(-2, i0) * (1 - f) + c.index_select(-2, i1) * f
    return c


def _numpy_to_torch(a) -> torch.Tensor:
    a = np.asarray(a)
    # torch warns on (and could write through) read-only buffers such as np.frombuffer
    # views of decoded frames; those get a copy, writable arrays are wrapped as they are.
    return torch.from_numpy(a if a.flags.writeable else a.copy())


def planes_to_rgb_torch(planes: Sequence, to_rgb, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Decoder planes -> clipped R'G'B' in [0, 1], in torch (runs on the planes' device).

    ``planes`` are 3 tensors (or numpy arrays, wrapped zero-copy) with the same layout
    rules as :func:`slice_apply`, optionally with matching leading batch dimensions:
    (..., H, W) luma gives (..., 3, H, W).  ``to_rgb`` is the (3, 4) matrix from
    :mod:`vidbw.kernels.colour`.
    """
    if len(planes) != 3:
        raise ValueError("planes must hold 3 planes")
    ts = [p if isinstance(p, torch.Tensor) else _numpy_to_torch(p) for p in planes]
    if ts[0].dim() < 2:
        raise ValueError(f"plane 0 must be at least 2-D, got shape {tuple(ts[0].shape)}")
    height, width = ts[0].shape[-2:]
    for i in (1, 2):
        ch, cw = ts[i].shape[-2:]
        if cw not in (width, (width + 1) // 2) or ch not in (height, (height + 1) // 2):
            raise ValueError(f"plane {i} shape {tuple(ts[i].shape)} does not fit luma {tuple(ts[0].shape)}")
    device = ts[0].device
    y, u, v = (t.to(device=device).to(dtype) for t in ts)
    u = _upsample_chroma(u, height, width)
    v = _upsample_chroma(v, height, width)
    m = torch.as_tensor(np.asarray(to_rgb, dtype=np.float32) if not isinstance(to_rgb, torch.Tensor) else to_rgb)
    m = m.to(device=device, dtype=dtype)
    if tuple(m.shape) != (3, 4):
        raise ValueError(f"to_rgb must be (3, 4), got {tuple(m.shape)}")
    yuv = torch.stack((y, u, v), dim=-3)  # (..., 3, H, W)
    rgb = torch.einsum("ij,...jhw->...ihw", m[:, :3], yuv) + m[:, 3, None, None]
    return rgb.clamp_(0.0, 1.0)


def slice_apply_torch(rgb: torch.Tensor, grid: torch.Tensor, tone_lut: torch.Tensor) -> torch.Tensor:
    """Torch twin of :func:`slice_apply` without output coding: returns gray (N, H, W) in [0, 1].

    ``rgb`` (N, 3, H, W) in [0, 1]; ``grid`` (N, 4, D, Gh, Gw); ``tone_lut`` (K,), K >= 2.
    The grid is sampled with ``grid_sample`` (trilinear, border padding,
    align_corners=False), which is exactly the cell-centred clamped convention.
    """
    if rgb.dim() != 4 or rgb.shape[1] != 3:
        raise ValueError(f"rgb must be (N, 3, H, W), got {tuple(rgb.shape)}")
    if grid.dim() != 5 or grid.shape[1] != 4 or grid.shape[0] != rgb.shape[0]:
        raise ValueError(f"grid must be (N, 4, D, Gh, Gw) with N = {rgb.shape[0]}, got {tuple(grid.shape)}")
    if tone_lut.dim() != 1 or tone_lut.shape[0] < 2:
        raise ValueError(f"tone_lut must be 1-D with at least 2 samples, got {tuple(tone_lut.shape)}")
    n, _, height, width = rgb.shape
    dev, dt = rgb.device, rgb.dtype
    kr, kg, kb = REC709_LUMA
    luma = kr * rgb[:, 0] + kg * rgb[:, 1] + kb * rgb[:, 2]  # (N, H, W)

    # Normalised sample coordinates, align_corners=False: pixel centres map to (2i+1)/n - 1,
    # and luma L maps to 2L - 1 (so that the unnormalised z is L·D - 0.5).
    xs = (torch.arange(width, device=dev, dtype=dt) * 2 + 1) / width - 1
    ys = (torch.arange(height, device=dev, dtype=dt) * 2 + 1) / height - 1
    coords = torch.stack(
        (
            xs.view(1, 1, width).expand(n, height, width),
            ys.view(1, height, 1).expand(n, height, width),
            luma * 2 - 1,
        ),
        dim=-1,
    ).unsqueeze(1)  # (N, 1, H, W, 3): (x, y, z)
    coef = F.grid_sample(grid.to(dt), coords, mode="bilinear", padding_mode="border", align_corners=False)
    coef = coef[:, :, 0]  # (N, 4, H, W)
    gray = (coef[:, :3] * rgb).sum(dim=1) + coef[:, 3]
    gray = gray.clamp(0.0, 1.0)

    lut = tone_lut.to(device=dev, dtype=dt)
    k = lut.shape[0]
    t = gray * (k - 1)
    i0 = t.floor().long().clamp(max=k - 2)
    f = t - i0.to(dt)
    l0 = lut[i0]
    return l0 + f * (lut[i0 + 1] - l0)
