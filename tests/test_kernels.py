"""Slice + apply kernels: numba vs torch vs a plain NumPy reference, and hand-checkable cases."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from vidbw.kernels.colour import (
    REC709_LUMA,
    REC2020_LUMA,
    area_resize,
    exact_area_resize,
    in_bt709_primaries,
    luma_output_coding,
    neutral_chroma,
    rgb_matrix,
    yuv_to_rgb_matrix,
)
from vidbw.kernels.slicing import slice_apply
from vidbw.kernels.slicing_torch import planes_to_rgb_torch, slice_apply_torch

IDENTITY_LUT = np.array([0.0, 1.0], np.float32)
LUMA_GRID = np.array(REC709_LUMA + (0.0,), np.float32).reshape(4, 1, 1, 1)


# ----------------------------------------------------------------------------- helpers


def padded_view(a: np.ndarray, pad: int = 13) -> np.ndarray:
    """The same values as a row-padded, non-contiguous view, like a decoder buffer."""
    buf = np.full((a.shape[0], a.shape[1] + pad), 77, dtype=a.dtype)
    buf[:, : a.shape[1]] = a
    view = buf[:, : a.shape[1]]
    assert not view.flags.c_contiguous or a.shape[0] == 1
    return view


def chroma_shape(height: int, width: int, layout: str) -> tuple[int, int]:
    return {
        "444": (height, width),
        "422": (height, (width + 1) // 2),
        "420": ((height + 1) // 2, (width + 1) // 2),
        "440": ((height + 1) // 2, width),
    }[layout]


def random_planes(rng, height, width, layout, dtype):
    """Random planes (values reaching outside the RGB gamut, to exercise clipping) and their matrix."""
    ch, cw = chroma_shape(height, width, layout)
    if dtype == np.uint8:
        planes = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in ((height, width), (ch, cw), (ch, cw))]
        return planes, yuv_to_rgb_matrix("bt709", False, 8)
    if dtype == np.uint16:  # 10-bit codes
        planes = [rng.integers(0, 1024, shape).astype(np.uint16) for shape in ((height, width), (ch, cw), (ch, cw))]
        return planes, yuv_to_rgb_matrix("bt2020", False, 10)
    planes = [rng.uniform(-0.1, 1.1, shape).astype(np.float32) for shape in ((height, width), (ch, cw), (ch, cw))]
    return planes, rgb_matrix(0) if layout == "444" else rng.normal(0, 0.7, (3, 4)).astype(np.float32)


def random_grid(rng, shape):
    grid = np.empty(shape, np.float32)
    grid[:3] = rng.uniform(-0.5, 1.5, (3,) + shape[1:])
    grid[3] = rng.uniform(-0.3, 0.3, shape[1:])
    return grid


def random_lut(rng, k=33):
    return np.sort(rng.uniform(0, 1, k)).astype(np.float32)


def reference(planes, to_rgb, grid, lut):
    """Straight-from-the-spec float64 NumPy implementation (gray after tone, (H, W))."""
    y = planes[0].astype(np.float64)
    height, width = y.shape
    ch, cw = planes[1].shape

    def lerp_axis(a, axis, pos):
        n = a.shape[axis]
        pos = np.clip(pos, 0, n - 1)
        i0 = np.floor(pos).astype(int)
        i1 = np.minimum(i0 + 1, n - 1)
        f = pos - i0
        shape = [1, 1]
        shape[axis] = -1
        f = f.reshape(shape)
        return np.take(a, i0, axis) * (1 - f) + np.take(a, i1, axis) * f

    def upsample(c):
        c = c.astype(np.float64)
        if cw != width:
            c = lerp_axis(c, 1, np.arange(width) / 2.0)  # co-sited with even columns
        if ch != height:
            c = lerp_axis(c, 0, (np.arange(height) + 0.5) / 2 - 0.5)  # vertically centred
        return c

    m = to_rgb.astype(np.float64)
    yuv = np.stack([y, upsample(planes[1]), upsample(planes[2])])
    rgb = np.clip(np.einsum("ij,jhw->ihw", m[:, :3], yuv) + m[:, 3, None, None], 0, 1)
    luma = np.einsum("i,ihw->hw", np.array(REC709_LUMA), rgb)

    _, d, gh, gw = grid.shape
    gx = np.clip((np.arange(width) + 0.5) * gw / width - 0.5, 0, gw - 1)[None, :].repeat(height, 0)
    gy = np.clip((np.arange(height) + 0.5) * gh / height - 0.5, 0, gh - 1)[:, None].repeat(width, 1)
    gz = np.clip(luma * d - 0.5, 0, d - 1)
    coef = np.zeros((4, height, width))
    for zi, wz in ((np.floor(gz), 1 - (gz - np.floor(gz))), (np.floor(gz) + 1, gz - np.floor(gz))):
        for yi, wy in ((np.floor(gy), 1 - (gy - np.floor(gy))), (np.floor(gy) + 1, gy - np.floor(gy))):
            for xi, wx in ((np.floor(gx), 1 - (gx - np.floor(gx))), (np.floor(gx) + 1, gx - np.floor(gx))):
                zc = np.minimum(zi, d - 1).astype(int)
                yc = np.minimum(yi, gh - 1).astype(int)
                xc = np.minimum(xi, gw - 1).astype(int)
                coef += grid.astype(np.float64)[:, zc, yc, xc] * (wz * wy * wx)
    gray = np.clip((coef[:3] * rgb).sum(0) + coef[3], 0, 1)
    return np.interp(gray, np.linspace(0, 1, len(lut)), lut.astype(np.float64))


def run_numba(planes, to_rgb, grid, lut, **kw):
    out = np.empty(planes[0].shape, np.float32)
    return slice_apply(tuple(planes), to_rgb, grid, lut, out, 0.0, 1.0, **kw)


def run_torch(planes, to_rgb, grid, lut):
    rgb = planes_to_rgb_torch(tuple(planes), to_rgb)[None]
    return slice_apply_torch(rgb, torch.from_numpy(grid)[None], torch.from_numpy(lut))[0].numpy()


def rgb_planes(rgb: np.ndarray):
    """(H, W, 3) float R'G'B' -> contiguous float32 planes."""
    return tuple(np.ascontiguousarray(rgb[..., i], dtype=np.float32) for i in range(3))


# ------------------------------------------------------------ numba == torch == reference

AGREEMENT_CASES = [
    # (height, width, chroma layout, plane dtype, grid shape, plane memory layout)
    (23, 37, "420", np.uint8, (4, 8, 16, 16), "padded"),
    (37, 23, "422", np.uint16, (4, 1, 4, 5), "padded"),
    (16, 24, "444", np.float32, (4, 5, 1, 3), "contiguous"),
    (9, 7, "420", np.uint16, (4, 3, 7, 1), "padded"),
    (20, 30, "444", np.uint8, (4, 1, 1, 1), "interleaved"),
    (5, 6, "420", np.float32, (4, 2, 40, 50), "padded"),  # more grid cells than pixels
    (1, 3, "420", np.uint8, (4, 4, 2, 2), "contiguous"),
    (31, 33, "440", np.uint8, (4, 6, 3, 9), "padded"),
    (64, 120, "420", np.uint8, (4, 8, 16, 16), "padded"),
]


@pytest.mark.parametrize("height,width,layout,dtype,grid_shape,memory", AGREEMENT_CASES)
def test_numba_matches_torch_and_reference(height, width, layout, dtype, grid_shape, memory):
    rng = np.random.default_rng(height * 1000 + width)
    planes, to_rgb = random_planes(rng, height, width, layout, dtype)
    if memory == "padded":
        planes = [padded_view(p) for p in planes]
    elif memory == "interleaved":  # e.g. rgb[:, :, i] of an (H, W, 3) image: column stride 3
        packed = np.stack(planes, axis=-1)
        planes = [packed[..., i] for i in range(3)]
    grid = random_grid(rng, grid_shape)
    lut = random_lut(rng)

    got = run_numba(planes, to_rgb, grid, lut)
    expected = reference(planes, to_rgb, grid, lut)
    via_torch = run_torch(planes, to_rgb, grid, lut)
    assert np.abs(got - via_torch).max() <= 1e-4
    assert np.abs(got - expected).max() <= 1e-4
    if got.size >= 100:  # the inputs spread widely: many gray levels really occur
        assert got.std() > 0.01


@pytest.mark.parametrize("dtype,bits", [(np.uint8, 8), (np.uint16, 10)])
def test_integer_output_codes_match_reference(dtype, bits):
    rng = np.random.default_rng(bits)
    planes, to_rgb = random_planes(rng, 41, 59, "420", dtype)
    planes = [padded_view(p) for p in planes]
    grid = random_grid(rng, (4, 8, 6, 10))
    lut = random_lut(rng, 256)
    offset, scale = luma_output_coding(False, bits)
    out = padded_view(np.zeros((41, 59), dtype))  # written in place through a strided view
    slice_apply(tuple(planes), to_rgb, grid, lut, out, offset, scale)
    expected = offset + scale * reference(planes, to_rgb, grid, lut)
    assert np.abs(out - expected).max() <= 0.5 + 1e-3  # rounded to the nearest code
    assert out.min() >= offset and out.max() <= offset + scale


@pytest.mark.parametrize("primaries, source_luma", [("bt2020", REC2020_LUMA), ("p3d65", (0.2290, 0.6917, 0.0793))])
def test_primaries_change_keeps_white_and_luma(primaries, source_luma):
    """BT.2020 / P3 R'G'B' to BT.709's: white stays white (rows sum to one), and BT.709's luma of the
    changed values is the source's own luma (BT.2087's matrix; P3's luma from its primaries)."""
    change = in_bt709_primaries(np.eye(3, 4, dtype=np.float32), primaries)[:, :3].astype(np.float64)
    assert np.allclose(change.sum(axis=1), 1.0, atol=1e-6)
    assert np.allclose(np.asarray(REC709_LUMA) @ change, source_luma, atol=2e-4)
    if primaries == "bt2020":
        assert np.allclose(change, [[1.6605, -0.5876, -0.0728], [-0.1246, 1.1329, -0.0083], [-0.0182, -0.1006, 1.1187]],
                           atol=1e-4)
    identity = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert in_bt709_primaries(identity, "bt709") is identity


def test_read_only_decoder_buffers_and_out_aliasing_plane0():
    rng = np.random.default_rng(5)
    height, width, linesize = 12, 18, 32
    ybuf = rng.integers(0, 256, height * linesize, dtype=np.uint8).tobytes()
    cbuf = rng.integers(0, 256, (height // 2) * linesize, dtype=np.uint8).tobytes()
    y = np.frombuffer(ybuf, np.uint8).reshape(height, linesize)[:, :width]
    u = np.frombuffer(cbuf, np.uint8).reshape(height // 2, linesize)[:, : width // 2]
    v = u[::-1]  # negative row stride: copied, still correct
    to_rgb = yuv_to_rgb_matrix("bt601", True, 8)
    grid = random_grid(rng, (4, 4, 3, 3))
    lut = random_lut(rng)
    got = run_numba((y, u, v), to_rgb, grid, lut)
    assert np.abs(got - reference((y, u, v), to_rgb, grid, lut)).max() <= 1e-4
    assert np.abs(got - run_torch((y, u, v), to_rgb, grid, lut)).max() <= 1e-4

    # out may be plane 0 itself: each row is read before it is written.
    y_rw = y.copy()
    expected = np.empty_like(y_rw)
    slice_apply((y_rw.copy(), u, v), to_rgb, grid, lut, expected, 0, 255)
    slice_apply((y_rw, u, v), to_rgb, grid, lut, y_rw, 0, 255)
    np.testing.assert_array_equal(y_rw, expected)


def test_planes_to_rgb_torch_batched():
    rng = np.random.default_rng(9)
    frames = [random_planes(rng, 10, 14, "420", np.uint8)[0] for _ in range(3)]
    to_rgb = yuv_to_rgb_matrix("bt709", False, 8)
    batched = planes_to_rgb_torch([torch.from_numpy(np.stack([f[i] for f in frames])) for i in range(3)], to_rgb)
    assert batched.shape == (3, 3, 10, 14)
    for n, f in enumerate(frames):
        torch.testing.assert_close(batched[n], planes_to_rgb_torch(f, to_rgb))


# ------------------------------------------------------------------ hand-checkable cases


def test_constant_grid_is_plain_channel_mix():
    rng = np.random.default_rng(1)
    rgb = rng.uniform(0, 1, (17, 29, 3))
    mix = (0.5, 0.3, 0.2, 0.05)
    grid = np.array(mix, np.float32).reshape(4, 1, 1, 1)
    got = run_numba(rgb_planes(rgb), rgb_matrix(0), grid, IDENTITY_LUT)
    expected = np.clip(rgb @ np.array(mix[:3]) + mix[3], 0, 1)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    # Rec.709 weights reproduce the guide luma.
    got = run_numba(rgb_planes(rgb), rgb_matrix(0), LUMA_GRID, IDENTITY_LUT)
    np.testing.assert_allclose(got, rgb @ np.array(REC709_LUMA), atol=1e-6)


def test_luma_only_grid_is_piecewise_linear_between_bin_centres():
    d = 4
    levels = np.array([0.1, 0.5, 0.2, 0.9], np.float32)  # the offset c per luma bin
    grid = np.zeros((4, d, 1, 1), np.float32)
    grid[3, :, 0, 0] = levels
    centres = (np.arange(d) + 0.5) / d
    lumas = np.concatenate([centres, [0.0, 0.05, 1.0, 0.98], [(1.5 + 0.25) / d, (2.5 + 0.5) / d]])
    expected = np.concatenate(
        [
            levels,
            [0.1, 0.1, 0.9, 0.9],  # beyond the outermost centres: the edge bin, clamped
            [0.75 * 0.5 + 0.25 * 0.2, 0.5 * 0.2 + 0.5 * 0.9],
        ]
    )
    rgb = np.repeat(lumas[None, :, None], 3, axis=2)  # gray pixels: luma == value
    got = run_numba(rgb_planes(rgb), rgb_matrix(0), grid, IDENTITY_LUT)[0]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    via_torch = run_torch(rgb_planes(rgb), rgb_matrix(0), grid, IDENTITY_LUT)[0]
    np.testing.assert_allclose(via_torch, expected, atol=1e-6)


def test_clamped_edges_replicate_the_border_cells():
    height, width = 30, 40
    gh, gw = 3, 4
    col_levels = np.array([0.2, 0.6, 0.4, 0.8], np.float32)
    row_levels = np.array([0.1, 0.3, 0.05], np.float32)
    grid = np.zeros((4, 1, gh, gw), np.float32)
    grid[3, 0] = row_levels[:, None] + col_levels[None, :]
    rgb = np.full((height, width, 3), 0.5)
    got = run_numba(rgb_planes(rgb), rgb_matrix(0), grid, IDENTITY_LUT)
    # Cell centres: x = 4.5, 14.5, 24.5, 34.5 and y = 4.5, 14.5, 24.5.
    np.testing.assert_allclose(got[:5, :5], 0.1 + 0.2, atol=1e-6)  # top-left corner: edge cell, not zero-padded
    np.testing.assert_allclose(got[25:, 35:], 0.05 + 0.8, atol=1e-6)  # bottom-right corner
    np.testing.assert_allclose(got[:5, 35:], 0.1 + 0.8, atol=1e-6)
    np.testing.assert_allclose(got[25:, :5], 0.05 + 0.2, atol=1e-6)
    # Interior: x = 9 is 0.45 of the way from centre 4.5 to 14.5; y = 20 is 0.55 of the way from 14.5 to 24.5.
    np.testing.assert_allclose(got[20, 9], (0.3 + 0.55 * (0.05 - 0.3)) + (0.2 + 0.45 * (0.6 - 0.2)), atol=1e-6)
    np.testing.assert_allclose(run_torch(rgb_planes(rgb), rgb_matrix(0), grid, IDENTITY_LUT), got, atol=1e-6)


def test_tone_lut():
    values = np.linspace(0, 1, 101)
    rgb = np.repeat(values[None, :, None], 3, axis=2)
    planes = rgb_planes(rgb)
    identity = run_numba(planes, rgb_matrix(0), LUMA_GRID, IDENTITY_LUT)[0]
    np.testing.assert_allclose(identity, values, atol=1e-6)
    three = np.array([0.0, 0.8, 1.0], np.float32)  # samples at gray 0, 0.5, 1
    got = run_numba(planes, rgb_matrix(0), LUMA_GRID, three)[0]
    np.testing.assert_allclose(got[[0, 25, 50, 75, 100]], [0.0, 0.4, 0.8, 0.9, 1.0], atol=1e-6)
    square = (np.linspace(0, 1, 1025) ** 2).astype(np.float32)
    got = run_numba(planes, rgb_matrix(0), LUMA_GRID, square)[0]
    np.testing.assert_allclose(got, values**2, atol=1e-5)
    via_torch = run_torch(planes, rgb_matrix(0), LUMA_GRID, square)[0]
    np.testing.assert_allclose(via_torch, got, atol=1e-6)


@pytest.mark.parametrize(
    "dtype,bits,full_range,black,white",
    [(np.uint8, 8, False, 16, 235), (np.uint16, 10, False, 64, 940), (np.uint8, 8, True, 0, 255)],
)
def test_output_codes_for_black_and_white(dtype, bits, full_range, black, white):
    offset, scale = luma_output_coding(full_range, bits)
    lo, hi = (0, 2**bits - 1) if full_range else (16 << (bits - 8), 235 << (bits - 8))
    y = np.array([[lo, hi, hi, lo]], dtype)
    c = np.full((1, 2), neutral_chroma(bits), dtype)
    to_rgb = yuv_to_rgb_matrix("bt709", full_range, bits)
    out = np.zeros((1, 4), dtype)
    slice_apply((y, c, c), to_rgb, LUMA_GRID, IDENTITY_LUT, out, offset, scale)
    np.testing.assert_array_equal(out[0], [black, white, white, black])


def test_output_coding_rounds_and_clips():
    codes = np.array([[0, 512, 1024, 300]], np.uint16)
    to_rgb = np.eye(3, 4, dtype=np.float32) / 1024  # exact: v = 0, 0.5, 1, 0.29296875
    red_only = np.array([1, 0, 0, 0], np.float32).reshape(4, 1, 1, 1)
    out = np.zeros((1, 4), np.uint16)
    slice_apply((codes, codes, codes), to_rgb, red_only, IDENTITY_LUT, out, 0.0, 255.0)
    np.testing.assert_array_equal(out[0], [0, 128, 255, 75])  # 127.5 rounds up; 74.7 -> 75
    slice_apply((codes, codes, codes), to_rgb, red_only, IDENTITY_LUT, out, -100.0, 70000.0)
    np.testing.assert_array_equal(out[0], [0, 34900, 65535, 20408])  # clipped to the uint16 range
    out8 = np.zeros((1, 4), np.uint8)
    zeros = np.zeros((1, 4), np.uint8)
    slice_apply((zeros, zeros, zeros), rgb_matrix(8), LUMA_GRID, IDENTITY_LUT, out8, 300.0, 1.0)
    np.testing.assert_array_equal(out8[0], [255, 255, 255, 255])  # clipped to the uint8 range


def test_luma_output_coding_and_neutral_chroma():
    assert luma_output_coding(False, 8) == (16.0, 219.0)
    assert luma_output_coding(False, 10) == (64.0, 876.0)
    assert luma_output_coding(True, 8) == (0.0, 255.0)
    assert luma_output_coding(True, 16) == (0.0, 65535.0)
    assert luma_output_coding(True, 0) == (0.0, 1.0)
    assert (neutral_chroma(8), neutral_chroma(10), neutral_chroma(16)) == (128, 512, 32768)


# ------------------------------------------------------------------------------- colour


def test_bt709_limited_8bit_matrix_has_the_standard_coefficients():
    m = yuv_to_rgb_matrix("bt709", False, 8).astype(np.float64) * 255  # in 8-bit RGB units per code
    np.testing.assert_allclose(m[:, 0], [1.164384] * 3, atol=2e-5)
    np.testing.assert_allclose(m[:, 1:3], [[0, 1.792741], [-0.213249, -0.532909], [2.112402, 0]], atol=2e-5)
    white = m[:, :3] @ [235, 128, 128] / 255 + m[:, 3] / 255
    black = m[:, :3] @ [16, 128, 128] / 255 + m[:, 3] / 255
    np.testing.assert_allclose(white, 1.0, atol=1e-5)
    np.testing.assert_allclose(black, 0.0, atol=1e-5)


KR_KB = {"bt709": (0.2126, 0.0722), "bt601": (0.299, 0.114), "bt2020": (0.2627, 0.0593)}


def rgb_to_yuv_codes(rgb, matrix, full_range, bits):
    """Independent forward conversion (textbook formulas), rounded to integer codes."""
    kr, kb = KR_KB[matrix]
    r, g, b = rgb
    y = kr * r + (1 - kr - kb) * g + kb * b
    cb = (b - y) / (2 * (1 - kb))
    cr = (r - y) / (2 * (1 - kr))
    if full_range:
        peak = 2**bits - 1
        codes = (y * peak, 2 ** (bits - 1) + cb * peak, 2 ** (bits - 1) + cr * peak)
    else:
        s = 2 ** (bits - 8)
        codes = (16 * s + 219 * s * y, 128 * s + 224 * s * cb, 128 * s + 224 * s * cr)
    return np.clip(np.round(codes), 0, 2**bits - 1)


@pytest.mark.parametrize("matrix", ["bt709", "bt601", "bt2020"])
@pytest.mark.parametrize("full_range,bits", [(False, 8), (True, 8), (False, 10), (True, 10)])
def test_yuv_to_rgb_round_trips_known_colours(matrix, full_range, bits):
    m = yuv_to_rgb_matrix(matrix, full_range, bits).astype(np.float64)
    assert m.shape == (3, 4) and yuv_to_rgb_matrix(matrix, full_range, bits).dtype == np.float32
    colours = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1), (0, 0, 0), (1, 1, 0), (0.25, 0.5, 0.75)]
    for rgb in colours:
        codes = rgb_to_yuv_codes(np.array(rgb, float), matrix, full_range, bits)
        back = np.clip(m[:, :3] @ codes + m[:, 3], 0, 1)
        # Rounding each code by at most half a step bounds the error per channel.
        bound = 0.5 * np.abs(m[:, :3]).sum(axis=1) + 1e-9
        assert np.all(np.abs(back - rgb) <= bound), f"{matrix} {rgb}: {back}"
        assert np.abs(back - rgb).max() <= 2 / 255


def test_limited_range_white_and_pure_red_through_the_kernel():
    to_rgb = yuv_to_rgb_matrix("bt709", False, 8)
    red = rgb_to_yuv_codes(np.array([1.0, 0, 0]), "bt709", False, 8).astype(np.uint8)
    y = np.array([[235, 235, red[0], red[0]]], np.uint8)
    u = np.array([[128, red[1]]], np.uint8)
    v = np.array([[128, red[2]]], np.uint8)
    rgb = planes_to_rgb_torch((y, u, v), to_rgb).numpy()[:, 0]  # (3, 4)
    np.testing.assert_allclose(rgb[:, 0], [1, 1, 1], atol=1e-6)
    np.testing.assert_allclose(rgb[:, 2], [1, 0, 0], atol=1 / 255)
    # (white pixel, red pixel) per channel, through the numba kernel.
    for channel, expected in ((0, [1, 1]), (1, [1, 0]), (2, [1, 0])):
        grid = np.zeros((4, 1, 1, 1), np.float32)
        grid[channel] = 1.0  # output = that channel alone
        got = run_numba((y, u, v), to_rgb, grid, IDENTITY_LUT)[0]
        np.testing.assert_allclose(got[[0, 2]], expected, atol=1 / 255)


def test_rgb_matrix():
    np.testing.assert_array_equal(rgb_matrix(0), np.eye(3, 4, dtype=np.float32))
    np.testing.assert_allclose(rgb_matrix(8)[:, :3] @ [255, 0, 255], [1, 0, 1])
    np.testing.assert_allclose(rgb_matrix(16)[:, :3] @ [65535, 65535, 0], [1, 1, 0])
    assert rgb_matrix(10).dtype == np.float32


@pytest.mark.parametrize("call", [
    lambda: yuv_to_rgb_matrix("bt470m", False, 8),
    lambda: yuv_to_rgb_matrix("bt709", False, 7),
    lambda: rgb_matrix(5),
    lambda: neutral_chroma(0),
])
def test_colour_helpers_reject_bad_arguments(call):
    with pytest.raises(ValueError):
        call()


# ------------------------------------------------------------------ chroma upsampling


def red_channel_of(planes, to_rgb):
    grid = np.zeros((4, 1, 1, 1), np.float32)
    grid[0] = 1.0
    return run_numba(planes, to_rgb, grid, IDENTITY_LUT), run_torch(planes, to_rgb, grid, IDENTITY_LUT)


def test_bilinear_chroma_across_a_vertical_edge_420():
    to_rgb = yuv_to_rgb_matrix("bt709", True, 8)
    y = np.full((8, 16), 100, np.uint8)
    u = np.full((4, 8), 128, np.uint8)
    v = np.full((4, 8), 128, np.uint8)
    v[:, 4:] = 200  # colour edge between chroma columns 3 and 4 (luma columns 6 and 8)
    for red in red_channel_of((y, u, v), to_rgb):
        left, mid, right = red[:, 6], red[:, 7], red[:, 8]
        assert np.all(right - left > 0.3)
        np.testing.assert_allclose(mid, (left + right) / 2, atol=1e-6)  # odd column: halfway, no stair step
        np.testing.assert_allclose(red[:, :7], red[:, :1].repeat(7, 1), atol=1e-6)
        np.testing.assert_allclose(red[:, 8:], red[:, 8:9].repeat(8, 1), atol=1e-6)


def test_bilinear_chroma_across_a_horizontal_edge_420():
    to_rgb = yuv_to_rgb_matrix("bt709", True, 8)
    y = np.full((16, 6), 100, np.uint8)
    u = np.full((8, 3), 128, np.uint8)
    v = np.full((8, 3), 128, np.uint8)
    v[4:] = 200  # edge between chroma rows 3 and 4
    for red in red_channel_of((y, u, v), to_rgb):
        top, bottom = red[0, 0], red[-1, 0]
        # Chroma sits between luma rows: row 7 is at chroma 3.25, row 8 at chroma 3.75.
        np.testing.assert_allclose(red[7], top + 0.25 * (bottom - top), atol=1e-6)
        np.testing.assert_allclose(red[8], top + 0.75 * (bottom - top), atol=1e-6)
        np.testing.assert_allclose(red[6], top, atol=1e-6)
        np.testing.assert_allclose(red[9], bottom, atol=1e-6)


# ------------------------------------------------------------------------------- grain


def grain_case():
    rng = np.random.default_rng(3)
    rgb = rng.uniform(0.1, 0.9, (20, 26, 3))
    tile = rng.normal(0, 1, (7, 9)).astype(np.float32)
    return rgb_planes(rgb), tile


def test_grain_matches_formula_and_is_deterministic():
    planes, tile = grain_case()
    plain = run_numba(planes, rgb_matrix(0), LUMA_GRID, IDENTITY_LUT)
    args = dict(grain=tile, grain_offset=(4, 11), grain_amount=0.1)
    a = run_numba(planes, rgb_matrix(0), LUMA_GRID, IDENTITY_LUT, **args)
    b = run_numba(planes, rgb_matrix(0), LUMA_GRID, IDENTITY_LUT, **args)
    np.testing.assert_array_equal(a, b)
    yy, xx = np.mgrid[0:20, 0:26]
    noise = tile[(yy + 11) % 7, (xx + 4) % 9]
    expected = np.clip(plain + 0.1 * 4 * plain * (1 - plain) * noise, 0, 1)
    np.testing.assert_allclose(a, expected, atol=1e-6)
    # An offset is the same as a rolled tile.
    rolled = np.roll(tile, (-11, -4), axis=(0, 1))
    c = run_numba(planes, rgb_matrix(0), LUMA_GRID, IDENTITY_LUT, grain=rolled, grain_amount=0.1)
    np.testing.assert_allclose(a, c, atol=1e-7)


def test_grain_changes_with_offset():
    planes, tile = grain_case()

    def with_offset(offset):
        return run_numba(planes, rgb_matrix(0), LUMA_GRID, IDENTITY_LUT, grain=tile, grain_offset=offset,
                         grain_amount=0.1)

    a = with_offset((0, 0))
    assert np.abs(a - with_offset((1, 0))).mean() > 1e-3
    assert np.abs(a - with_offset((0, 1))).mean() > 1e-3
    np.testing.assert_array_equal(with_offset((-5, -3)), with_offset((4, 4)))  # offsets wrap (tile 7 x 9)


@pytest.mark.parametrize("level", [0.0, 1.0])
def test_grain_vanishes_at_black_and_white(level):
    planes, tile = grain_case()
    lut = np.array([level, level], np.float32)
    got = run_numba(planes, rgb_matrix(0), LUMA_GRID, lut, grain=tile * 50, grain_offset=(2, 3), grain_amount=1.0)
    np.testing.assert_array_equal(got, level)


# -------------------------------------------------------------------------- validation


def _valid_args():
    y = np.zeros((4, 6), np.uint8)
    c = np.zeros((2, 3), np.uint8)
    return dict(
        planes=(y, c, c), to_rgb=yuv_to_rgb_matrix("bt709", False, 8), grid=LUMA_GRID,
        tone_lut=IDENTITY_LUT, out=np.zeros((4, 6), np.uint8), out_offset=16, out_scale=219,
    )


def test_nan_pixels_do_not_break_the_kernel():
    rgb = np.full((6, 40, 3), 0.5, np.float32)
    rgb[2, 3:30] = np.nan
    planes = rgb_planes(rgb)
    grid = random_grid(np.random.default_rng(0), (4, 8, 2, 3))
    got = run_numba(planes, rgb_matrix(0), grid, random_lut(np.random.default_rng(1), 256))
    assert np.isfinite(got[[0, 1, 3, 4, 5]]).all()  # values of the NaN pixels are unspecified


@pytest.mark.parametrize("change,message", [
    (dict(grid=np.full((4, 1, 1, 1), np.nan, np.float32)), "finite"),
    (dict(tone_lut=np.array([0.0, np.inf], np.float32)), "finite"),
    (dict(planes=(np.zeros((4, 6), np.uint8),) * 2), "3"),
    (dict(planes=(np.zeros((4, 6), np.uint8), np.zeros((2, 3), np.uint16), np.zeros((2, 3), np.uint16))), "dtype"),
    (dict(planes=(np.zeros((4, 6), np.int32),) * 3), "dtype"),
    (dict(planes=(np.zeros((4, 6), np.uint8), np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8))), "fit"),
    (dict(planes=(np.zeros((4, 6), np.uint8), np.zeros((2, 3), np.uint8), np.zeros((4, 6), np.uint8))), "differ"),
    (dict(to_rgb=np.eye(3)), "to_rgb"),
    (dict(grid=np.zeros((3, 1, 1, 1), np.float32)), "grid"),
    (dict(grid=np.zeros((4, 0, 1, 1), np.float32)), "grid"),
    (dict(tone_lut=np.zeros(1, np.float32)), "tone_lut"),
    (dict(out=np.zeros((4, 5), np.uint8)), "out"),
    (dict(out=np.zeros((4, 6), np.int16)), "out"),
    (dict(out=np.zeros((4, 12), np.uint8)[:, ::2]), "out"),
    (dict(grain=np.zeros(5, np.float32)), "grain"),
])
def test_slice_apply_rejects_bad_arguments(change, message):
    args = _valid_args()
    args.update(change)
    with pytest.raises(ValueError, match=message):
        slice_apply(**args)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("source, size", [((1080, 1920), (240, 135)), ((1080, 1920), (256, 144)),
                                          ((720, 1280), (256, 144)), ((540, 960), (240, 135)), ((37, 50), (25, 19))])
def test_area_resize_is_the_box_average(dtype, source, size):
    """Every output pixel is the mean of the source pixels under it: exactly (up to rounding at
    each halving) where the ratio is a power of two, within a few levels (on noisy content) where
    halving first makes the last step fractional."""
    rng = np.random.default_rng(7)
    # Smooth content plus noise: a photograph's mix of both, scaled to the dtype's range.
    ys, xs = np.mgrid[0:source[0], 0:source[1]].astype(np.float32)
    level = 0.5 + 0.3 * np.sin(xs / 23.0) * np.cos(ys / 17.0) + rng.normal(0.0, 0.08, source).astype(np.float32)
    top = {np.uint8: 255.0, np.uint16: 1023.0, np.float32: 1.0}[dtype]
    plane = np.clip(level * top, 0.0, top).astype(dtype)
    exact = cv2.resize(plane.astype(np.float64), size, interpolation=cv2.INTER_AREA)
    small = area_resize(plane, size)
    assert small.shape == (size[1], size[0]) and small.dtype == plane.dtype
    error = np.abs(small.astype(np.float64) - exact) / top * 255.0  # in 8-bit levels
    ratio = source[1] / size[0]
    power_of_two = ratio == source[0] / size[1] and ratio.is_integer() and int(ratio) & (int(ratio) - 1) == 0
    assert error.max() <= (1.5 if power_of_two else 10.0)
    assert error.mean() <= (0.5 if power_of_two else 2.0)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("source, size", [((540, 960), (256, 144)), ((360, 640), (256, 144)), ((37, 50), (25, 19)),
                                          ((9, 7), (3, 2)), ((5, 5), (5, 1)), ((144, 256), (256, 144))])
def test_exact_area_resize_is_opencvs_area_average(dtype, source, size):
    """Each output pixel is the area-weighted mean of the source pixels it covers (OpenCV's INTER_AREA
    in float64 as the reference), integers rounded to the nearest code; padded decoder rows read in place."""
    rng = np.random.default_rng(3)
    top = {np.uint8: 255, np.uint16: 1023, np.float32: 1.0}[dtype]
    padded = (rng.random((source[0], source[1] + 16)) * top).astype(dtype)
    plane = padded[:, :source[1]]  # a row-padded view, as decoders give
    reference = cv2.resize(np.ascontiguousarray(plane).astype(np.float64), size, interpolation=cv2.INTER_AREA)
    small = exact_area_resize(plane, size)
    assert small.shape == (size[1], size[0]) and small.dtype == plane.dtype
    tolerance = 0.5 + 1e-3 * top if dtype != np.float32 else 1e-5
    assert np.abs(small.astype(np.float64) - reference).max() <= tolerance
