"""Built-in styles, grain and toning, checked through the real slicing kernel."""

from __future__ import annotations

import re

import numpy as np
import pytest

from vidbw.errors import OptionError
from vidbw.kernels.colour import REC709_LUMA, luma_output_coding, neutral_chroma, rgb_matrix, yuv_to_rgb_matrix
from vidbw.kernels.slicing import slice_apply
from vidbw.kernels.toning import chroma_from_luma
from vidbw.styles import (
    ClassicStyle,
    FilmGrain,
    ToneCurve,
    get_style,
    get_toning,
    list_styles,
    list_tonings,
)
from vidbw.styles.classic import PHOTOPIC, channel_mix

# Saturated test colours (sRGB R'G'B').
SKY = (0.25, 0.50, 0.90)
FOLIAGE = (0.25, 0.50, 0.15)
RED = (0.85, 0.10, 0.10)
SKIN = (0.87, 0.65, 0.53)


def render(style, rgb: np.ndarray, **grain_args) -> np.ndarray:
    """(H, W, 3) float32 R'G'B' -> (H, W) float32 output value through slice_apply."""
    rgb = np.asarray(rgb, dtype=np.float32)
    out = np.empty(rgb.shape[:2], np.float32)
    planes = tuple(np.ascontiguousarray(rgb[..., c]) for c in range(3))
    return slice_apply(planes, rgb_matrix(0), style.constant_grid(), style.tone_lut, out, 0.0, 1.0, **grain_args)


def patch_value(style_name: str, colour) -> float:
    return float(render(get_style(style_name), np.full((4, 4, 3), colour, np.float32)).mean())


def ramp() -> np.ndarray:
    return np.repeat(np.linspace(0.0, 1.0, 256, dtype=np.float32)[None, :, None], 3, axis=2)


# --- the catalogue ------------------------------------------------------------------


def test_at_least_ten_uniquely_named_styles():
    names = [s.name for s in list_styles()]
    assert len(names) >= 10
    assert len(set(names)) == len(names)
    for name in names:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name), name
    for required in ("neutral", "orthochromatic", "infrared", "yellow", "orange", "red", "green", "noir",
                     "high-key", "soft-matte"):
        assert required in names


@pytest.mark.parametrize("style", [s for s in list_styles() if s.kind == "classic"], ids=lambda s: s.name)
def test_style_grid_and_curve_are_valid(style):
    assert style.kind == "classic" and style.is_constant
    assert 0 < len(style.description) <= 70
    grid = style.constant_grid()
    assert grid.dtype == np.float32 and grid.ndim == 4 and grid.shape[0] == 4 and grid.shape[2:] == (1, 1)
    assert np.isfinite(grid).all()
    batch = style.grids_for(np.zeros((3, 8, 8, 3), np.float32))
    assert batch.shape == (3,) + grid.shape and batch.dtype == np.float32
    np.testing.assert_array_equal(batch[2], grid)
    # Gray stays gray: weights sum to 1 with no offset, so a neutral input keeps its level.
    np.testing.assert_allclose(grid[:3].sum(axis=0), 1.0, atol=1e-5)
    lut = style.tone_lut
    assert lut.dtype == np.float32 and lut.shape == (1024,)
    assert lut.min() >= 0.0 and lut.max() <= 1.0
    assert np.all(np.diff(lut) >= 0.0)


def test_docs_table_lists_every_style_and_toning():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "STYLES.md").read_text(encoding="utf-8")
    for item in list(list_styles()) + list(list_tonings()):
        assert f"| `{item.name}` | {item.description} |" in doc, item.name


def test_eye_like_sensitivity_derives_rec709():
    # The spectral model is calibrated so that the eye's V(λ) gives Rec.709 luma.
    np.testing.assert_allclose(channel_mix(PHOTOPIC), REC709_LUMA, atol=1e-6)


def test_stock_mixes_are_panchromatic_and_ortho_is_red_blind():
    for name in ("tri-x", "hp5", "t-max", "pan-f"):
        r, g, b = get_style(name).mix
        assert min(r, g, b) > 0.15, name  # sees all three primaries
    assert get_style("orthochromatic").mix[0] < 0.02
    assert get_style("pan-f").mix[0] > get_style("tri-x").mix[0]  # extended red sensitivity


def test_unknown_style_suggests_the_closest_name():
    with pytest.raises(OptionError, match=r"unknown style 'nior'; did you mean 'noir'\? \(vidbw styles lists them\)"):
        get_style("nior")
    with pytest.raises(OptionError) as err:
        get_style("zzzzzz")
    assert "did you mean" not in str(err.value) and "\n" not in str(err.value)
    assert get_style("High_Key").name == "high-key"


def test_unknown_toning_suggests_the_closest_name():
    with pytest.raises(OptionError, match=r"unknown toning 'sepa'; did you mean 'sepia'\?"):
        get_toning("sepa")
    assert {t.name for t in list_tonings()} == {"none", "sepia", "selenium", "cyanotype"}


# --- looks behave like their photographic namesakes ----------------------------------


def test_neutral_reproduces_rec709_luma_within_one_code():
    rng = np.random.default_rng(1)
    rgb8 = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    style = get_style("neutral")
    out = np.empty(rgb8.shape[:2], np.uint8)
    offset, scale = luma_output_coding(full_range=True, bit_depth=8)
    planes = tuple(np.ascontiguousarray(rgb8[..., c]) for c in range(3))
    slice_apply(planes, rgb_matrix(8), style.constant_grid(), style.tone_lut, out, offset, scale)
    expected = np.round(rgb8.astype(np.float64) @ np.asarray(REC709_LUMA))
    assert np.abs(out.astype(np.int64) - expected).max() <= 1


def test_red_filter_darkens_blue_sky_and_lightens_red():
    assert patch_value("red", SKY) < patch_value("neutral", SKY) - 0.1
    assert patch_value("red", RED) > patch_value("neutral", RED) + 0.2


def test_filters_darken_sky_progressively():
    sky = [patch_value(name, SKY) for name in ("yellow", "orange", "red")]
    assert sky[0] > sky[1] > sky[2]


def test_orthochromatic_renders_red_darker_and_sky_paler():
    assert patch_value("orthochromatic", RED) < patch_value("neutral", RED) - 0.1
    assert patch_value("orthochromatic", SKY) > patch_value("neutral", SKY)


def test_infrared_foliage_glows_and_sky_goes_dark():
    assert patch_value("infrared", FOLIAGE) > patch_value("infrared", SKY) + 0.2
    assert patch_value("infrared", FOLIAGE) > patch_value("neutral", FOLIAGE)
    assert patch_value("infrared", SKY) < patch_value("neutral", SKY)


def test_green_filter_lightens_foliage_and_darkens_red():
    assert patch_value("green", FOLIAGE) > patch_value("neutral", FOLIAGE)
    assert patch_value("green", RED) < patch_value("neutral", RED)


def test_noir_has_more_contrast_and_crushed_blacks():
    noir = render(get_style("noir"), ramp())[0]
    neutral = render(get_style("neutral"), ramp())[0]
    assert noir.std() > 1.15 * neutral.std()
    assert (noir == 0.0).sum() > 10  # the bottom of the ramp is crushed to black


def test_high_key_is_brighter_and_soft_matte_is_matte():
    high_key = render(get_style("high-key"), ramp())[0]
    neutral = render(get_style("neutral"), ramp())[0]
    assert high_key.mean() > neutral.mean() + 0.1
    matte = render(get_style("soft-matte"), ramp())[0]
    assert matte.min() > 0.05 and matte.max() < 0.95
    assert matte.std() < neutral.std()


def test_luma_dependent_mix_switches_between_shadows_and_highlights():
    # Shadows see only red, highlights only blue; the kernel interpolates by luma.
    split = ClassicStyle("split-test", "test", weights=((1.0, 0.0, 0.0, 0.0), (0.0, 0.0, 1.0, 0.0)))
    assert split.constant_grid().shape == (4, 2, 1, 1)
    dark_red = np.full((2, 2, 3), (0.3, 0.0, 0.0), np.float32)  # luma 0.06: first bin
    bright_blue = np.full((2, 2, 3), (0.9, 0.9, 1.0), np.float32)  # luma ~0.91: second bin
    np.testing.assert_allclose(render(split, dark_red), 0.3, atol=1e-5)
    np.testing.assert_allclose(render(split, bright_blue), 1.0, atol=1e-5)


def test_tone_curve_parameters():
    x = np.linspace(0, 1, 101)
    np.testing.assert_allclose(ToneCurve()(x), x, atol=1e-12)
    crushed = ToneCurve(black_point=0.1)(x)
    assert np.all(crushed[:11] == 0.0)
    matte = ToneCurve(output_black=0.1, output_white=0.9)(x)
    assert matte[0] == pytest.approx(0.1) and matte[-1] == pytest.approx(0.9)
    s = ToneCurve(contrast=1.5, pivot=0.4)(x)
    assert s[40] == pytest.approx(0.4) and s[20] < 0.2 and s[60] > 0.6
    for curve in (ToneCurve(toe=0.2), ToneCurve(shoulder=0.2), ToneCurve(gamma=0.5, contrast=0.7)):
        y = curve(x)
        assert y[0] == pytest.approx(0.0) and y[-1] == pytest.approx(1.0) and np.all(np.diff(y) >= 0)
    with pytest.raises(ValueError):
        ToneCurve(black_point=0.6, white_point=0.5)


# --- grain ---------------------------------------------------------------------------


def test_grain_is_reproducible_and_varies_per_frame():
    grain = FilmGrain(amount=0.05, size=1.2, seed=7)
    tile_a, offset_a = grain.for_frame(10)
    tile_b, offset_b = FilmGrain(amount=0.05, size=1.2, seed=7).for_frame(10)
    np.testing.assert_array_equal(tile_a, tile_b)
    assert offset_a == offset_b
    frames = [grain.for_frame(i) for i in range(11, 19)]
    assert any(not (t is tile_a and o == offset_a) for t, o in frames)
    assert len({(id(t), o) for t, o in frames}) == len(frames)

    gray = np.full((64, 96, 3), 0.5, np.float32)
    style = get_style("neutral")
    first = render(style, gray, **grain.kernel_args(3))
    again = render(style, gray, **FilmGrain(amount=0.05, size=1.2, seed=7).kernel_args(3))
    other = render(style, gray, **grain.kernel_args(4))
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).mean() > 0.01
    # 4v(1-v) = 1 at mid-grey, so the output std is close to the amount.
    assert first.std() == pytest.approx(0.05, rel=0.25)
    assert np.abs(first.mean() - 0.5) < 0.01


def test_grain_tiles_are_normalised_and_clumped_by_size():
    fine, coarse = FilmGrain(0.05, size=0.0).tiles[0], FilmGrain(0.05, size=2.0).tiles[0]
    for tile in (fine, coarse):
        assert tile.dtype == np.float32
        assert abs(tile.mean()) < 1e-3 and tile.std() == pytest.approx(1.0, rel=1e-3)

    def neighbour_correlation(t):
        return np.corrcoef(t[:, :-1].ravel(), t[:, 1:].ravel())[0, 1]

    assert abs(neighbour_correlation(fine)) < 0.05
    assert neighbour_correlation(coarse) > 0.5


def test_grain_off_and_invalid_settings():
    assert FilmGrain(0.0).kernel_args(5) == {} and not FilmGrain(0.0).enabled
    black_white = np.zeros((8, 8, 3), np.float32)
    black_white[:, 4:] = 1.0
    grained = render(get_style("neutral"), black_white, **FilmGrain(0.2).kernel_args(0))
    np.testing.assert_array_equal(grained, black_white[..., 0])  # no grain in pure black/white
    with pytest.raises(OptionError):
        FilmGrain(-0.1)
    with pytest.raises(OptionError):
        FilmGrain(0.1, size=-1)


# --- toning --------------------------------------------------------------------------


@pytest.mark.parametrize("bit_depth,full_range,matrix", [(8, False, "bt709"), (10, False, "bt709"),
                                                        (8, True, "bt601"), (10, True, "bt2020")])
@pytest.mark.parametrize("name", ["none", "sepia", "selenium", "cyanotype"])
def test_toning_preserves_luma(name, bit_depth, full_range, matrix):
    lut_u, lut_v = get_toning(name).chroma_luts(bit_depth, full_range, matrix)
    assert lut_u.shape == lut_v.shape == (2**bit_depth,)
    assert lut_u.dtype == (np.uint8 if bit_depth == 8 else np.uint16)
    offset, scale = luma_output_coding(full_range, bit_depth)
    codes = np.arange(int(offset), int(offset + scale) + 1)
    to_rgb = yuv_to_rgb_matrix(matrix, full_range, bit_depth).astype(np.float64)
    yuv = np.stack([codes, lut_u[codes], lut_v[codes], np.ones(len(codes))], axis=1).astype(np.float64)
    rgb = yuv @ to_rgb.T
    # The toned colour is in gamut (up to chroma rounding), so a player decoding it sees
    # exactly the untoned B&W luma: toning adds colour and changes no tonality.
    assert rgb.min() > -0.01 and rgb.max() < 1.01
    luma_row = np.linalg.inv(to_rgb[:, :3])[0]
    luma_weights = luma_row / luma_row.sum()
    v = (codes - offset) / scale
    np.testing.assert_allclose(np.clip(rgb, 0, 1) @ luma_weights, v, atol=2.0 / scale)


def test_toning_hues():
    neutral = neutral_chroma(8)
    mid = int(16 + 219 * 0.6)
    sepia_u, sepia_v = get_toning("sepia").chroma_luts(8, False)
    assert sepia_u[mid] < neutral - 5 and sepia_v[mid] > neutral + 5  # warm
    assert abs(int(sepia_u[20]) - neutral) <= 2  # deep blacks stay neutral
    cyan_u, cyan_v = get_toning("cyanotype").chroma_luts(8, False)
    assert cyan_u[mid] > neutral + 5 and cyan_v[mid] < neutral
    sel_u, sel_v = get_toning("selenium").chroma_luts(8, False)
    shadow, highlight = int(16 + 219 * 0.2), int(16 + 219 * 0.9)
    assert sel_u[shadow] > neutral + 3 and sel_v[shadow] > neutral  # cold purple shadows
    assert abs(int(sel_u[highlight]) - neutral) <= 1
    none_u, none_v = get_toning("none").chroma_luts(10, False)
    assert np.all(none_u == neutral_chroma(10)) and np.all(none_v == neutral_chroma(10))


def _reference_chroma(luma, lut, sub_y, sub_x):
    h, w = luma.shape
    out = np.empty((-(-h // sub_y), -(-w // sub_x)), lut.dtype)
    for cy in range(out.shape[0]):
        for cx in range(out.shape[1]):
            block = luma[cy * sub_y:(cy + 1) * sub_y, cx * sub_x:(cx + 1) * sub_x].astype(np.int64)
            out[cy, cx] = lut[(block.sum() + block.size // 2) // block.size]
    return out


@pytest.mark.parametrize("shape", [(7, 9), (8, 10), (1, 1), (5, 2)])
@pytest.mark.parametrize("sub_y,sub_x", [(2, 2), (1, 2), (1, 1)])
@pytest.mark.parametrize("dtype,bit_depth", [(np.uint8, 8), (np.uint16, 10)])
def test_chroma_from_luma_matches_reference(shape, sub_y, sub_x, dtype, bit_depth):
    rng = np.random.default_rng(3)
    luma = rng.integers(0, 2**bit_depth, shape).astype(dtype)
    lut_u, lut_v = get_toning("sepia").chroma_luts(bit_depth, False)
    c_shape = (-(-shape[0] // sub_y), -(-shape[1] // sub_x))
    # Row-padded output views, as encoder frame buffers are.
    out_u = np.zeros((c_shape[0], c_shape[1] + 3), dtype)[:, : c_shape[1]]
    out_v = np.zeros((c_shape[0], c_shape[1] + 3), dtype)[:, : c_shape[1]]
    chroma_from_luma(luma, lut_u, lut_v, out_u, out_v)
    np.testing.assert_array_equal(out_u, _reference_chroma(luma, lut_u, sub_y, sub_x))
    np.testing.assert_array_equal(out_v, _reference_chroma(luma, lut_v, sub_y, sub_x))


def test_toning_apply_on_a_420_frame():
    luma = np.full((5, 7), 16 + 131, np.uint8)
    u = np.zeros((3, 4), np.uint8)
    v = np.zeros((3, 4), np.uint8)
    get_toning("sepia").apply(luma, u, v, bit_depth=8, full_range=False)
    assert np.all(u < 128) and np.all(v > 128) and len(np.unique(u)) == 1
    get_toning("none").apply(luma, u, v, bit_depth=8, full_range=False)
    assert np.all(u == 128) and np.all(v == 128)
    with pytest.raises(ValueError):
        chroma_from_luma(luma, *get_toning("sepia").chroma_luts(8, False), np.zeros((4, 4), np.uint8),
                         np.zeros((4, 4), np.uint8))


# --------------------------------------------------------------------------- 3D LUT export


def random_colour_png(path, seed: int = 0):
    """Random colours over the whole cube, and a smooth ramp: what a LUT must get right between its points."""
    import cv2

    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    pixels[:8] = np.linspace(0, 255, 64).astype(np.uint8)[None, :, None]
    assert cv2.imwrite(str(path), cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
    return path


def read_rgb(path) -> np.ndarray:
    """An 8- or 16-bit PNG as float RGB in [0, 1]."""
    import cv2

    pixels = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR)
    return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB) / float(np.iinfo(pixels.dtype).max)


@pytest.mark.parametrize("style_name, toning", [("tri-x", None), ("infrared", None), ("neutral", "sepia")])
def test_a_classic_style_as_a_cube_lut_renders_in_ffmpeg_as_in_vidbw(tmp_path, capsys, style_name, toning):
    """A grading application applying the exported .cube (here FFmpeg's lut3d filter) gives what `vidbw
    convert` gives the same picture, within the LUT's interpolation between its 33 points a side."""
    import media
    from conftest import assert_ok, run_inprocess

    source = random_colour_png(tmp_path / "colours.png")
    cube = tmp_path / f"{style_name}.cube"
    extra = ["--toning", toning] if toning else []
    assert_ok(run_inprocess(["style", "export", style_name, "-o", cube, *extra], capsys))
    by_vidbw = tmp_path / "vidbw.png"
    # FFmpeg reads and writes the pixels as float planes (G, B, R): its conversion from 8-bit RGB is
    # off by up to a code value, and lut3d truncates integer output.
    colours = read_rgb(source)
    floats_in, floats_out = tmp_path / "in.gbrpf32", tmp_path / "out.gbrpf32"
    colours[..., [1, 2, 0]].transpose(2, 0, 1).astype("<f4").tofile(floats_in)
    media.ffmpeg("-f", "rawvideo", "-pix_fmt", "gbrpf32le", "-s", "64x48", "-i", str(floats_in),
                 "-vf", f"lut3d=file={cube}:interp=tetrahedral", "-f", "rawvideo", "-pix_fmt", "gbrpf32le", str(floats_out))
    g, b, r = np.fromfile(floats_out, "<f4").reshape(3, 48, 64)
    assert_ok(run_inprocess(["convert", source, "-o", by_vidbw, "--style", style_name, *extra], capsys))
    difference = np.abs(np.stack([r, g, b], axis=-1) - read_rgb(by_vidbw)) * 255  # in 8-bit code values
    # vidbw's 8-bit output rounds (0.5 at most). Between lattice points the LUT is smooth where the
    # look is: the infrared mix's clip at black and sepia's limit near white bend the look inside a
    # cell, which no LUT follows exactly (up to 3.8 codes on a few colours; 0.5-1 at the 99th percentile).
    assert difference.mean() <= 0.35 and np.percentile(difference, 99) <= 1.0 and difference.max() <= 4.0, (
        difference.mean(), np.percentile(difference, 99), difference.max())


def test_cube_lut_points_are_the_kernels_own_values(tmp_path, capsys):
    """Lattice point (r, g, b) holds vidbw's render of that colour; red runs fastest in the file."""
    from conftest import assert_ok, run_inprocess

    from vidbw.render import Look, render_image_array
    from vidbw.styles.lut import read_cube

    cube = tmp_path / "orange.cube"
    assert_ok(run_inprocess(["style", "export", "orange", "-o", cube, "--size", "5"], capsys))
    lines = cube.read_text().splitlines()
    assert lines[:4] == ['TITLE "vidbw orange"', "LUT_3D_SIZE 5", "DOMAIN_MIN 0.0 0.0 0.0", "DOMAIN_MAX 1.0 1.0 1.0"]
    lut = read_cube(cube)
    colours = np.array([[[65535, 0, 0], [0, 65535, 0], [0, 0, 65535], [16383, 49151, 32767]]], np.uint16)
    gray = render_image_array(colours, 16, Look.named("orange"))[0] / 65535.0
    expected = [lut[0, 0, 4], lut[0, 4, 0], lut[4, 0, 0], lut[2, 3, 1]]  # indexed [b, g, r]
    assert np.allclose([e[0] for e in expected], gray, atol=1e-4)
    assert all(e[0] == e[1] == e[2] for e in expected)  # no toning: gray
    assert lines[4 + 1].split()[0] != lines[4].split()[0]  # the second row steps red


def test_a_region_aware_style_has_no_lut(tmp_path, capsys):
    from conftest import run_inprocess

    cube = tmp_path / "landscape.cube"
    run = run_inprocess(["style", "export", "landscape-master", "-o", cube], capsys)
    assert run.code != 0 and "region-aware" in run.err and "Traceback" not in run.err
    assert len(run.err.strip().splitlines()) == 1
    assert not cube.exists() and list(tmp_path.iterdir()) == []
