"""Colorization: luma kept exactly, reference colours carried through the shot, cuts respected, bad input refused.

The fixture is a small colour scene (textured background, a red square and a blue disc that move)
written losslessly twice: in colour (the truth) and with neutral chroma (the "B&W film", with the
truth's luma code for code). The reference is the truth's first frame as a PNG.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import assert_ok, assert_one_line_error, run_inprocess, temp_files

import media
from vidbw.kernels.chroma import fit_color_grid, slice_chroma, slice_chroma_torch
from vidbw.kernels.colour import luma_weights, planes_to_small_luma, rgb_matrix, yuv_to_rgb_matrix

SIZE = (192, 108)
FRAMES = 20
CUT = 10  # the scene changes here in the two-shot clip


def scene_rgb(index: int, shot: int = 0) -> np.ndarray:
    """A colour frame: soft textured background, a red square and a blue disc moving right."""
    w, h = SIZE
    rng = np.random.default_rng(7 + shot)
    texture = rng.random((h // 6 + 1, w // 6 + 1))
    base = np.kron(texture, np.ones((6, 6)))[:h, :w] * 0.25 + 0.35
    ys, xs = np.mgrid[0:h, 0:w]
    rgb = np.stack([base * 0.9, base, base * 0.8], -1)  # a faintly green background
    x0 = 20 + 3 * index
    if shot == 0:
        rgb[30:60, x0:x0 + 30] = (0.85, 0.1, 0.1)
        rgb[(xs - (120 + 2 * index)) ** 2 + (ys - 70) ** 2 < 15**2] = (0.1, 0.25, 0.9)
    else:
        rgb[20:80, x0:x0 + 40] = (0.95, 0.8, 0.1)  # another scene: a yellow block on a bluish ground
        rgb[..., 2] = np.maximum(rgb[..., 2], 0.6 * (ys > 85))
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)


def cut_scene_rgb(index: int) -> np.ndarray:
    """The two-shot clip: `scene_rgb`, then another scene from frame CUT."""
    return scene_rgb(index - CUT, shot=1) if index >= CUT else scene_rgb(index)


def write_scene(path: Path, colour: bool, picture=scene_rgb, frames: int = FRAMES, chroma_flicker: int = 0) -> Path:
    """`picture(index)` for `frames` frames, lossless (FFV1, 4:2:0): in colour, or its luma alone."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=24)
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        for name, value in media.BT709_TAGS.items():
            setattr(stream.codec_context, name, value)
        for i in range(frames):
            y, u, v = media.rgb_to_yuv(picture(i) / 255.0, 8, 2, 2)
            if not colour:
                u, v = np.full_like(u, 128), np.full_like(v, 128)
            elif chroma_flicker:  # every other frame's colour pushed toward blue: colour flicker
                u = np.clip(u.astype(int) + chroma_flicker * (i % 2), 0, 255).astype(np.uint8)
            frame = av.VideoFrame(*SIZE, "yuv420p")
            for plane, data in zip(frame.planes, (y, u, v)):
                media.plane_view(plane, plane.width, plane.height, np.uint8)[...] = data
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("colorize")
    from vidbw.io.images import write_image

    write_image(folder / "ref0.png", scene_rgb(0))
    write_image(folder / "ref_second.png", scene_rgb(0, shot=1))
    return {
        "truth": write_scene(folder / "truth.mkv", colour=True),
        "gray": write_scene(folder / "gray.mkv", colour=False),
        "truth_cut": write_scene(folder / "truth_cut.mkv", colour=True, picture=cut_scene_rgb),
        "gray_cut": write_scene(folder / "gray_cut.mkv", colour=False, picture=cut_scene_rgb),
        "ref": folder / "ref0.png",
        "ref_second": folder / "ref_second.png",
        "folder": folder,
    }


def planes_of(path: Path) -> list[tuple[np.ndarray, ...]]:
    return [p for _, p in media.video_planes(path)]


def chroma_psnr(truth: Path, output: Path, frames: slice = slice(None)) -> float:
    """PSNR of R'G'B' over the film (or these frames), where only chroma can differ (the lumas are equal)."""
    errors = []
    for (_, u, v), (_, u2, v2) in list(zip(planes_of(truth), planes_of(output)))[frames]:
        db = (u2.astype(np.float64) - u) / 224
        dr = (v2.astype(np.float64) - v) / 224
        errors.append(np.mean((1.5748 * dr) ** 2 + (0.1873 * db + 0.4681 * dr) ** 2 + (1.8556 * db) ** 2) / 3)
    return float(10 * np.log10(1 / max(np.mean(errors), 1e-12)))


def gray_psnr(truth: Path) -> float:
    errors = []
    for _, u, v in planes_of(truth):
        db, dr = (128.0 - u) / 224, (128.0 - v) / 224
        errors.append(np.mean((1.5748 * dr) ** 2 + (0.1873 * db + 0.4681 * dr) ** 2 + (1.8556 * db) ** 2) / 3)
    return float(10 * np.log10(1 / np.mean(errors)))


# --------------------------------------------------------------------------- kernels


def test_luma_weights_read_the_y_plane_of_any_matrix_and_rec709_of_rgb():
    for matrix in ("bt709", "bt601", "bt2020"):
        for full in (False, True):
            w = luma_weights(yuv_to_rgb_matrix(matrix, full, 10))
            assert w[1] == 0 and w[2] == 0
            expect = (1 / 1023, 0.0) if full else (1 / 876, -64 / 876)
            assert w[0] == pytest.approx(expect[0], rel=1e-5) and w[3] == pytest.approx(expect[1], abs=1e-6)
    assert luma_weights(rgb_matrix(8))[:3] * 255 == pytest.approx([0.2126, 0.7152, 0.0722], rel=1e-5)


def test_fit_recovers_a_colour_grid_and_numba_matches_torch():
    import torch

    rng = np.random.default_rng(0)
    level = np.clip(rng.random((72, 128)).astype(np.float32) * 0.8 + 0.1, 0, 1)
    truth = np.stack([0.15 * np.sin(np.linspace(0, 3, 128))[None].repeat(72, 0) * level,
                      0.1 * np.ones((72, 128)) - 0.05 * level]).astype(np.float32)
    grid = fit_color_grid(level, truth, depth=8, grid_h=18, grid_w=32)
    fitted = slice_chroma_torch(torch.from_numpy(level)[None, None], torch.from_numpy(grid)[None], gamut_safe=False)
    assert np.abs(fitted[0].numpy() - truth).mean() < 0.004

    luma = (16 + 219 * np.kron(level, np.ones((2, 2)))).round().astype(np.uint8)
    cb, cr = np.empty((72, 128), np.uint8), np.empty((72, 128), np.uint8)
    slice_chroma(luma, grid, cb, cr, 8, False)
    guide = torch.from_numpy(((luma.astype(np.float32) - 16) / 219).reshape(72, 2, 128, 2).mean((1, 3)))[None, None]
    twin = slice_chroma_torch(guide, torch.from_numpy(grid)[None])[0].numpy()
    assert np.abs(np.round(128 + 224 * twin[0]) - cb).max() <= 1
    assert np.abs(np.round(128 + 224 * twin[1]) - cr).max() <= 1


def test_chroma_is_gamut_safe_black_and_white_stay_neutral():
    grid = np.zeros((4, 8, 4, 4), np.float32)
    grid[1] = 0.3  # strong constant blue-yellow and red-green chroma
    grid[3] = -0.3
    luma = np.array([[16, 16, 235, 235], [126, 126, 126, 126]], np.uint8).repeat(2, 0)
    cb, cr = np.empty((2, 2), np.uint8), np.empty((2, 2), np.uint8)
    slice_chroma(luma, grid, cb, cr, 8, False)
    assert cb[0, 0] == 128 and cr[0, 0] == 128  # black: no colour can exist
    assert cb[0, 1] == 128 and cr[0, 1] == 128  # white: likewise
    assert cb[1, 0] > 140 and cr[1, 0] < 116  # mid-gray carries the colour, shrunk into the cube


def test_small_luma_of_yuv_planes_is_the_y_plane():
    y = np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) % 940 + 64
    planes = (y, np.full((24, 32), 100, np.uint16), np.full((24, 32), 900, np.uint16))
    small = planes_to_small_luma(planes, yuv_to_rgb_matrix("bt709", False, 10), (64, 48))
    assert np.allclose(small, np.clip((y - 64) / 876, 0, 1), atol=1e-6)


def feature_match(level, key_chroma, key_features, features, flow_confidence=None, flow=None):
    """The reference colorizer's feature match alone: (2, h, w) Cb, Cr for a frame of luma `level`
    and `features`, against a key frame of the same luma. No flow is trusted unless given."""
    from vidbw.colorize import CarriedKey, Reference
    from vidbw.colorize.correspondence import _Frame

    colorizer = CarriedKey(Reference(Path("key.png"), level, key_chroma, key_features))
    flow_confidence = np.zeros(level.shape, np.float32) if flow_confidence is None else flow_confidence
    flow = np.zeros((*level.shape, 2), np.float32) if flow is None else flow
    return colorizer._feature_match(_Frame(level, features), flow_confidence, flow)[0]


def red_left_blue_right(h: int, w: int) -> np.ndarray:
    """(2, h, w) key-frame chroma: the left half red (Cr 0.3), the right half blue (Cb 0.3)."""
    chroma = np.zeros((2, h, w), np.float32)
    chroma[1, :, : w // 2] = 0.3
    chroma[0, :, w // 2 :] = 0.3
    return chroma


def test_feature_matches_give_each_pixel_the_key_frames_colour_at_its_own_luma():
    """A feature block that straddles a red cup and a white table: each of its pixels takes what
    the key frame holds at that pixel's brightness, not the block's pink average."""
    h, w = 64, 96
    # Key frame and frame alike: red cups (luma 0.35) and a white table (0.9) in a fine checkerboard,
    # both in every feature block and every key cell.
    cups = (np.indices((h, w)) // 2).sum(0) % 2 == 1
    frame = np.where(cups, 0.35, 0.9).astype(np.float32)
    key_chroma = np.zeros((2, h, w), np.float32)
    key_chroma[1][cups] = 0.3  # the cups are red (Cr), the table neutral
    features = np.full((8, h // 4, w // 4), 1 / np.sqrt(8), np.float32)  # all positions alike: only luma tells
    matched = feature_match(frame, key_chroma, features, features)
    cup = frame < 0.5
    # The block's average is Cr 0.15 for both: the cup's pixels must be far redder, the table's far less red.
    assert matched[1][cup].min() > 0.2, matched[1][cup].min()
    assert np.abs(matched[:, ~cup]).max() < 0.08, np.abs(matched[:, ~cup]).max()


def test_feature_matches_prefer_look_alikes_where_the_scenes_motion_puts_them_but_not_at_any_price():
    """Two key-frame halves look alike (same features, same luma), one red and one blue: a block
    leans to the colour of the half where the scene's motion puts it (without the preference both
    colours weigh the same). A clearly better match across the frame still wins: the distance
    penalty is bounded."""
    h, w = 64, 192
    level = np.full((h, w), 0.5, np.float32)
    key_chroma = red_left_blue_right(h, w)
    alike = np.full((8, h // 4, w // 4), 1 / np.sqrt(8), np.float32)
    # The flow is half trusted everywhere: enough to tell the camera's motion, too little to keep
    # any block from being matched by features.
    flow_confidence = np.full((h, w), 0.5, np.float32)
    still, panned = np.zeros((h, w, 2), np.float32), np.zeros((h, w, 2), np.float32)
    panned[..., 0] = w / 2  # the camera moved: what sits at x here sat at x + w/2 in the key frame

    def match(key_features, features, flow):
        cb, cr = feature_match(level, key_chroma, key_features, features, flow_confidence, flow)
        return cb[:, 16:40], cr[:, 16:40]  # left, away from the border between the halves, panned or not

    blue, red = match(alike, alike, still)
    assert (red - blue).min() > 0.05, (red - blue).min()  # mostly red: the half it sits on
    blue, red = match(alike, alike, panned)
    assert (blue - red).min() > 0.05, (blue - red).min()  # mostly blue: where the pan puts it
    # Key halves with different features; the frame looks like the right (blue) half everywhere.
    two_kinds = alike.copy()
    two_kinds[:4, :, : w // 8], two_kinds[4:, :, : w // 8] = 1 / 2, 0
    blue, red = match(two_kinds, alike, still)
    assert blue.min() > 0.25 and red.max() < 0.05, (blue.min(), red.max())  # the look-alike far away wins


def test_feature_matches_compare_a_blocks_surroundings_not_only_the_block():
    """Both key-frame halves have one key cell that looks the same (feature e0) amid different
    surroundings: e1 on the red left half, e2 on the blue right half. The halves trade places in the
    frame. The e0 block now on the left is the blue half's: its surroundings say so, though the
    block alone matches both and the nearer, red one would win."""
    size = 64  # analysis pixels: 16 × 16 feature blocks, 8 × 8 key cells
    level = np.full((size, size), 0.5, np.float32)
    basis = np.eye(8, dtype=np.float32)
    key_features = np.empty((8, 16, 16), np.float32)
    key_features[:, :, :8], key_features[:, :, 8:] = basis[1][:, None, None], basis[2][:, None, None]
    key_features[:, 8:10, 4:6] = key_features[:, 8:10, 12:14] = basis[0][:, None, None]  # one key cell each
    frame_features = np.roll(key_features, 8, axis=2)  # the halves trade places
    cb, cr = feature_match(level, red_left_blue_right(size, size), key_features, frame_features)
    centre = (slice(33, 39), slice(17, 23))  # inside the e0 cell now on the left (analysis pixels 32–40, 16–24)
    assert cb[centre].min() > 0.2 and cr[centre].max() < 0.1, (cb[centre].min(), cr[centre].max())


# --------------------------------------------------------------------------- films


def test_reference_colorization_keeps_luma_and_carries_the_key_frame_colours(scene, tmp_path, capsys):
    out = tmp_path / "colour.mkv"
    # --temporal off: this is about correspondence; the fixture's square moves 3 % of the frame
    # width per frame, fast enough that strong smoothing of the fine grids would soften it.
    run = run_inprocess(["convert", scene["gray"], "-o", out, "--colorize", "--reference", scene["ref"],
                         "--codec", "ffv1", "--explain", "--temporal", "off"], capsys)
    assert_ok(run)
    assert "reference ref0.png" in run.err
    source, result = planes_of(scene["gray"]), planes_of(out)
    assert len(result) == FRAMES
    for (y_in, _, _), (y_out, _, _) in zip(source, result):
        assert np.array_equal(y_in, y_out)  # luma is sacred: code for code
    psnr, gray = chroma_psnr(scene["truth"], out), gray_psnr(scene["truth"])
    assert psnr > gray + 5, (psnr, gray)
    # The red square of the last frame (it moved 57 px since the key frame) is red.
    _, u, v = result[-1]
    x = (20 + 3 * (FRAMES - 1) + 15) // 2
    assert v[22, x] > 160  # Cr well above neutral (128): red


def test_automatic_colorization_gives_colour_and_keeps_audio(tmp_path, capsys):
    clip = media.write_video(tmp_path / "in.mp4", audio="aac", frames=12)
    out = tmp_path / "auto.mp4"
    assert_ok(run_inprocess(["convert", clip, "-o", out, "--colorize"], capsys))
    assert media.stream_packets(out, "audio") == media.stream_packets(clip, "audio")
    assert len(planes_of(out)) == 12


def test_a_shot_without_a_key_frame_holds_its_middle_frames_automatic_colours(tmp_path, capsys):
    """Automatic mode colours each shot's middle frame with the network and carries those colours
    through the shot: on a still scene with grain the network's own per-frame guesses wobble, the
    output does not."""
    from vidbw.colorize import lowres_level
    from vidbw.models.colorizer import load_colorizer

    rng = np.random.default_rng(0)
    still = media.pattern(0, 160, 96)
    frames = [np.clip(still * 255 + rng.normal(0, 8, still.shape), 0, 255).astype(np.uint8) for _ in range(16)]
    clip = tmp_path / "grain.mkv"
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("ffv1", rate=24)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv444p"
        for rgb in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode(None))
    shots = tmp_path / "shots.json"
    shots.write_text(json.dumps({"fps": 24, "frames": 16, "shots": [{"start_frame": 0, "end_frame": 6},
                                                                   {"start_frame": 6, "end_frame": 16}]}))
    result = tmp_path / "auto.mkv"
    run = run_inprocess(["convert", clip, "-o", result, "--colorize", "--shots", shots, "--codec", "ffv1", "--explain"], capsys)
    assert_ok(run)
    assert "shot 0: frames 0-5, automatic (frame 3 coloured by the network" in run.err
    assert "shot 1: frames 6-15, automatic (frame 11 coloured by the network" in run.err

    network = load_colorizer()
    guesses = []
    for rgb in frames[6:]:
        level = lowres_level(tuple(np.ascontiguousarray(rgb[..., c] / np.float32(255)) for c in range(3)), rgb_matrix(0))
        guesses.append(network.predict_chroma(level))
    chroma = [np.stack([u, v]).astype(np.float64) / 224 for _, u, v in planes_of(result)[6:]]
    assert min(np.abs(c - 128 / 224).mean() for c in chroma) > 0.01  # it is coloured
    wobble = np.mean([np.abs(a - b).mean() for a, b in zip(guesses, guesses[1:])])
    held = np.mean([np.abs(a - b).mean() for a, b in zip(chroma, chroma[1:])])
    assert held < 0.2 * wobble, (held, wobble)


def test_shot_list_references_do_not_bleed_across_the_cut(scene, tmp_path, capsys):
    shots = {"fps": 24, "frames": FRAMES, "shots": [
        {"start_frame": 0, "end_frame": CUT, "reference": str(scene["ref"])},
        {"start_frame": CUT, "end_frame": FRAMES, "reference": "ref_second.png"}]}
    shots_file = scene["folder"] / "shots.json"  # relative references are read beside the shot list
    shots_file.write_text(json.dumps(shots))
    out = tmp_path / "cut.mkv"
    run = run_inprocess(["convert", scene["gray_cut"], "-o", out, "--colorize", "--shots", shots_file,
                         "--codec", "ffv1", "--temporal", "strong", "--explain"], capsys)
    assert_ok(run)
    assert "shot 1: frames 10-19, reference ref_second.png" in run.err
    result = planes_of(out)
    # First frame of the second shot: its yellow block is yellow (Cb well below neutral), with no red
    # carried over from the first shot's square.
    _, u, v = result[CUT]
    block = (slice(10 + 5, 40 - 5), slice(10 + 3, 30 - 3))
    assert u[block].mean() < 100 and abs(v[block].mean() - 128) < 30
    _, u_last, v_last = result[CUT - 1]
    x = (20 + 3 * (CUT - 1) + 15) // 2
    assert v_last[22, x] > 160  # the first shot still has its red square up to the cut


def test_key_frame_folder_colours_the_shot_it_falls_in(scene, tmp_path, capsys):
    from vidbw.io.images import write_image

    keys = tmp_path / "keys"
    keys.mkdir()
    write_image(keys / "frame_000014.png", scene_rgb(4, shot=1))
    shots = {"fps": 24, "frames": FRAMES, "shots": [{"start_frame": 0, "end_frame": CUT},
                                                  {"start_frame": CUT, "end_frame": FRAMES}]}
    (tmp_path / "shots.json").write_text(json.dumps(shots))
    run = run_inprocess(["convert", scene["gray_cut"], "-o", tmp_path / "k.mkv", "--colorize", "--reference", keys,
                         "--shots", tmp_path / "shots.json", "--codec", "ffv1", "--explain"], capsys)
    assert_ok(run)
    assert "shot 0: frames 0-9, automatic" in run.err
    assert "shot 1: frames 10-19, reference frame_000014.png" in run.err


ENTERS = 8  # the entering clip's red square shows from this frame on
SECOND_KEY = 14  # a key frame after it entered
ENTERING_FRAMES = 24


def entering_rgb(index: int) -> np.ndarray:
    """A still shot into which a subject enters: a blue disc on a textured, faintly green ground,
    and from frame ENTERS a red square sliding in from the right edge, 4 px a frame."""
    w, h = SIZE
    texture = np.random.default_rng(11).random((h // 6 + 1, w // 6 + 1))
    base = np.kron(texture, np.ones((6, 6)))[:h, :w] * 0.25 + 0.35
    rgb = np.stack([base * 0.9, base, base * 0.8], -1)
    ys, xs = np.mgrid[0:h, 0:w]
    rgb[(xs - 50) ** 2 + (ys - 60) ** 2 < 15**2] = (0.1, 0.25, 0.9)
    if index >= ENTERS:
        x0 = w - 4 * (index - ENTERS + 1)
        rgb[30:60, x0:x0 + 30] = (0.85, 0.1, 0.1)
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)


def square_cr(planes, index: int) -> float:
    """The mean Cr code inside the entering square at frame `index` (chroma planes are half size)."""
    x0 = (SIZE[0] - 4 * (index - ENTERS + 1)) // 2
    return float(planes[index][2][17:28, x0 + 2:min(x0 + 13, SIZE[0] // 2)].mean())


@pytest.fixture(scope="module")
def entering(tmp_path_factory):
    """The entering clip (truth and B&W) and two key-frame folders: its first frame alone, and its
    first frame with frame SECOND_KEY."""
    from vidbw.io.images import write_image

    folder = tmp_path_factory.mktemp("entering")
    one, two = folder / "one", folder / "two"
    for keys, frames in ((one, [0]), (two, [0, SECOND_KEY])):
        keys.mkdir()
        for frame in frames:
            write_image(keys / f"{frame:06d}.png", entering_rgb(frame))
    return {
        "truth": write_scene(folder / "truth.mkv", colour=True, picture=entering_rgb, frames=ENTERING_FRAMES),
        "gray": write_scene(folder / "gray.mkv", colour=False, picture=entering_rgb, frames=ENTERING_FRAMES),
        "one": one,
        "two": two,
        "folder": folder,
    }


def test_a_key_frame_after_a_subject_enters_colours_it_without_harming_the_frames_before(entering, tmp_path, capsys):
    """With the first frame alone as key frame, the red square that enters later comes out gray-green
    (no key frame shows it); a second key frame after it entered colours it red from there on, and
    the frames before are as they were, to well under a code on average. --temporal off: this is
    about where each frame's colours come from."""
    outputs = {}
    for keys in ("one", "two"):
        outputs[keys] = tmp_path / f"{keys}.mkv"
        run = run_inprocess(["convert", entering["gray"], "-o", outputs[keys], "--colorize", "--reference",
                             entering[keys], "--codec", "ffv1", "--temporal", "off", "--explain"], capsys)
        assert_ok(run)
    assert "shot 0: frames 0-23, reference 000000.png (frame 0), 000014.png (frame 14)" in run.err
    one, two = planes_of(outputs["one"]), planes_of(outputs["two"])
    truth = planes_of(entering["truth"])
    for index in range(SECOND_KEY, ENTERING_FRAMES, 3):
        assert square_cr(truth, index) > 205, square_cr(truth, index)
        assert square_cr(one, index) < 115, (index, square_cr(one, index))  # no key frame shows it: not red
    assert square_cr(two, SECOND_KEY) > 205 and square_cr(two, SECOND_KEY + 3) > 180  # red
    after = slice(ENTERS, None)
    gain = chroma_psnr(entering["truth"], outputs["two"], after) - chroma_psnr(entering["truth"], outputs["one"], after)
    assert gain > 6, gain
    # Before the subject enters, nothing changes but a faint trace where the second key frame has it.
    before = slice(0, ENTERS)
    unchanged = chroma_psnr(outputs["one"], outputs["two"], before)
    assert unchanged > 50, unchanged
    one_key, two_keys = (chroma_psnr(entering["truth"], outputs[keys], before) for keys in ("one", "two"))
    assert two_keys > one_key - 1, (one_key, two_keys)


def test_a_shot_list_takes_key_frames_as_a_list_and_a_key_frames_own_frame_reproduces_it(entering, tmp_path, capsys):
    """A shot list's "reference" as a list of {"frame", "path"} colours as the same key frames in a
    folder do, frame for frame; each key frame's own frame comes out with its colours."""
    shots = {"fps": 24, "frames": ENTERING_FRAMES, "shots": [{"start_frame": 0, "end_frame": ENTERING_FRAMES,
             "reference": [{"frame": SECOND_KEY, "path": "two/000014.png"}, {"frame": 0, "path": "two/000000.png"}]}]}
    shots_file = entering["folder"] / "keys.shots.json"  # relative paths are read beside the shot list
    shots_file.write_text(json.dumps(shots))
    listed, folder = tmp_path / "listed.mkv", tmp_path / "folder.mkv"
    run = run_inprocess(["convert", entering["gray"], "-o", listed, "--colorize", "--shots", shots_file,
                         "--codec", "ffv1", "--temporal", "off", "--explain"], capsys)
    assert_ok(run)
    assert "reference 000000.png (frame 0), 000014.png (frame 14)" in run.err  # in frame order
    assert_ok(run_inprocess(["convert", entering["gray"], "-o", folder, "--colorize", "--reference", entering["two"],
                             "--codec", "ffv1", "--temporal", "off"], capsys))
    for (_, *chroma), (_, *same) in zip(planes_of(listed), planes_of(folder)):
        assert all(np.array_equal(a, b) for a, b in zip(chroma, same))
    for key in (0, SECOND_KEY):
        psnr = chroma_psnr(entering["truth"], listed, slice(key, key + 1))
        assert psnr > 40, (key, psnr)


@pytest.mark.parametrize("reference, words", [
    ([{"frame": 30, "path": "two/000000.png"}], ("key frame", "frame 30", "outside the shot", "0-23")),
    ([{"frame": 3, "path": "two/000000.png"}, {"frame": 3, "path": "two/000014.png"}], ("two key frames for frame 3",)),
    ([{"path": "two/000000.png"}], ("frame",)),
    ([], ("reference",)),
])
def test_bad_key_frame_lists_in_a_shot_list_fail_in_one_line(entering, tmp_path, capsys, reference, words):
    shots = {"fps": 24, "frames": ENTERING_FRAMES,
             "shots": [{"start_frame": 0, "end_frame": ENTERING_FRAMES, "reference": reference}]}
    shots_file = entering["folder"] / "bad.shots.json"
    shots_file.write_text(json.dumps(shots))
    run = run_inprocess(["convert", entering["gray"], "-o", tmp_path / "o.mkv", "--colorize", "--shots", shots_file],
                        capsys)
    assert_one_line_error(run, *words)
    assert not (tmp_path / "o.mkv").exists()


def test_exported_key_frames_come_back_coloured_as_the_reference_folder(scene, tmp_path, capsys):
    """The colourist's round trip: `shots --key-frames` writes the shot's middle frame as the luma
    vidbw will colorize; coloured in place, the folder is the film's reference."""
    from vidbw.io.images import read_image, write_image

    keys = tmp_path / "keys"
    run = run_inprocess(["shots", scene["gray"], "-o", tmp_path / "shots.json", "--key-frames", keys], capsys)
    assert_ok(run)
    middle = FRAMES // 2  # one shot
    key = keys / f"{middle:06d}.png"
    assert [p.name for p in keys.iterdir()] == [key.name]
    exported = read_image(key)
    assert exported.bits == 8 and exported.rgb.shape == (SIZE[1], SIZE[0], 3)
    assert np.array_equal(exported.rgb[..., 0], exported.rgb[..., 2])  # gray, ready for colour
    level = (planes_of(scene["gray"])[middle][0].astype(np.float64) - 16) / 219  # that frame's limited-range luma
    assert np.abs(exported.rgb[..., 0] - np.clip(level, 0, 1) * 255).max() <= 0.5 + 1e-9

    write_image(key, scene_rgb(middle))  # the colourist's work
    coloured = key.read_bytes()
    again = run_inprocess(["shots", scene["gray"], "--key-frames", keys], capsys)
    assert_one_line_error(again, "key frame exists", "--overwrite")
    assert key.read_bytes() == coloured
    assert_one_line_error(run_inprocess(["shots", scene["gray"], "--key-frames", key], capsys), "is a file")

    out = tmp_path / "keyed.mkv"
    run = run_inprocess(["convert", scene["gray"], "-o", out, "--colorize", "--reference", keys, "--codec", "ffv1",
                         "--explain"], capsys)
    assert_ok(run)
    assert f"reference {key.name}" in run.err
    psnr, gray = chroma_psnr(scene["truth"], out), gray_psnr(scene["truth"])
    assert psnr > gray + 5, (psnr, gray)


def test_key_frames_are_each_shots_middle_frame_at_full_depth(tmp_path):
    from vidbw.colorize import export_key_frames
    from vidbw.io.images import read_image
    from vidbw.shots import ShotList

    clip = media.write_video(tmp_path / "in10.mkv", codec="ffv1", pix_fmt="yuv420p10le", frames=30)
    shots = ShotList.from_cuts([9, 20], 30, 24.0)
    written = export_key_frames(clip, shots, tmp_path / "keys")
    assert [p.name for p in written] == ["000004.png", "000014.png", "000025.png"]
    source = media.video_planes(clip)
    for path, frame in zip(written, (4, 14, 25)):
        image = read_image(path)
        assert image.bits == 16
        level = (source[frame][1][0].astype(np.float64) - 64) / 876  # 10-bit limited-range luma
        assert np.abs(image.rgb[..., 1] - np.clip(level, 0, 1) * 65535).max() <= 0.5 + 1e-6


def test_key_frames_of_a_rotated_film_are_upright_and_their_colours_land_in_place(tmp_path, capsys):
    """Phone footage is stored sideways with a display rotation: the colourist gets the key frame
    upright, as players show it, and the colours painted on it go back to the right pixels."""
    from vidbw.io.images import read_image, write_image

    clip = media.write_video(tmp_path / "phone.mp4", size=(96, 64), frames=12, rotation=90)
    keys = tmp_path / "keys"
    assert_ok(run_inprocess(["shots", clip, "--key-frames", keys], capsys))
    [key] = sorted(keys.iterdir())
    shown = read_image(key).rgb
    assert shown.shape[:2] == (96, 64)  # upright: 64 wide, 96 high
    stored_luma = media.video_planes(clip)[int(key.stem)][1][0].astype(np.float64)
    upright = np.rot90(np.clip((stored_luma - 16) / 219, 0, 1) * 255, 1)  # rotation 90: counter-clockwise
    assert np.abs(shown[..., 1] - upright).max() <= 1.0

    # Paint the upper half of the upright picture red and the lower half blue, then colorize with it.
    painted = shown.astype(np.int16)
    painted[:48] += np.array([60, -20, -20], np.int16)
    painted[48:] += np.array([-20, -20, 60], np.int16)
    write_image(key, np.clip(painted, 0, 255).astype(np.uint8))
    out = tmp_path / "phone_colour.mkv"
    assert_ok(run_inprocess(["convert", clip, "-o", out, "--colorize", "--reference", keys, "--codec", "ffv1",
                             "--temporal", "off"], capsys))
    _, u, v = planes_of(out)[int(key.stem)]
    u, v = (np.rot90(p.astype(np.float64), 1) for p in (u, v))  # the output's chroma, upright
    top, bottom = slice(4, 20), slice(28, 44)  # chroma rows (half height), away from the boundary
    assert v[top].mean() > v[bottom].mean() + 10  # red above
    assert u[bottom].mean() > u[top].mean() + 10  # blue below


def test_the_colorizer_warms_up_beside_its_first_use():
    """`convert --colorize` loads the network on a background thread while the analysis pass runs;
    whoever asks first, it is loaded once and both get the same network."""
    import threading

    from vidbw.colorize import ColorizeRequest

    request = ColorizeRequest()
    warming = threading.Thread(target=request.warm_up)
    warming.start()
    used = request.network
    warming.join()
    assert request.network is used
    assert hasattr(used, "predict_chroma")


def test_colour_input_is_treated_as_luma_with_a_warning(scene, tmp_path, capsys):
    out = tmp_path / "again.mkv"
    run = run_inprocess(["convert", scene["truth"], "-o", out, "--colorize", "--reference", scene["ref"],
                         "--codec", "ffv1"], capsys)
    assert_ok(run)
    assert "already in colour" in run.err
    for (y_in, _, _), (y_out, _, _) in zip(planes_of(scene["truth"]), planes_of(out)):
        assert np.array_equal(y_in, y_out)


def test_image_colorized_with_itself_as_reference(scene, tmp_path, capsys):
    from vidbw.io.images import read_image, write_image

    gray_png = tmp_path / "gray.png"
    rgb = scene_rgb(0)
    luma = np.round(rgb @ np.array([0.2126, 0.7152, 0.0722])).astype(np.uint8)
    write_image(gray_png, np.repeat(luma[..., None], 3, -1))
    out = tmp_path / "colour.png"
    assert_ok(run_inprocess(["convert", gray_png, "-o", out, "--colorize", "--reference", scene["ref"]], capsys))
    result = read_image(out).rgb.astype(np.float64)
    assert np.abs(result @ np.array([0.2126, 0.7152, 0.0722]) - luma).max() <= 1.0  # luma kept within rounding
    assert result[45, 35, 0] - result[45, 35, 2] > 80  # the red square is red again


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("case, words", [
    ("missing", ("reference not found",)),
    ("gray", ("no colour",)),
    ("aspect", ("aspect",)),
    ("beyond", ("frame 500", "20 frames")),
    ("unnumbered", ("frame number",)),
    ("no_colorize", ("--reference needs --colorize",)),
    ("style", ("--colorize",)),
])
def test_bad_references_fail_before_rendering(scene, tmp_path, capsys, case, words):
    from vidbw.io.images import write_image

    args = ["convert", scene["gray"], "-o", tmp_path / "out.mkv", "--colorize", "--reference"]
    if case == "missing":
        args.append(tmp_path / "nope.png")
    elif case == "gray":
        write_image(tmp_path / "g.png", np.full((108, 192, 3), 90, np.uint8))
        args.append(tmp_path / "g.png")
    elif case == "aspect":
        write_image(tmp_path / "tall.png", scene_rgb(0)[:, :60])
        args.append(tmp_path / "tall.png")
    elif case in ("beyond", "unnumbered"):
        keys = tmp_path / "keys"
        keys.mkdir()
        write_image(keys / ("500.png" if case == "beyond" else "key.png"), scene_rgb(0))
        args.append(keys)
    elif case == "no_colorize":
        args = ["convert", scene["gray"], "-o", tmp_path / "out.mkv", "--reference", scene["ref"]]
    else:
        args = ["convert", scene["gray"], "-o", tmp_path / "out.mkv", "--colorize", "--style", "tri-x"]
    run = run_inprocess(args, capsys)
    assert_one_line_error(run, *words)
    assert not (tmp_path / "out.mkv").exists() and not temp_files(tmp_path)


def test_shot_list_reference_must_be_a_path(scene, tmp_path, capsys):
    shots = {"fps": 24, "frames": FRAMES, "shots": [{"start_frame": 0, "end_frame": FRAMES, "reference": 3}]}
    (tmp_path / "s.json").write_text(json.dumps(shots))
    run = run_inprocess(["convert", scene["gray"], "-o", tmp_path / "o.mkv", "--colorize", "--shots",
                         tmp_path / "s.json"], capsys)
    assert_one_line_error(run, "reference")


def test_colour_flicker_reads_steady_colour_near_one_and_flickering_colour_above(scene, tmp_path, capsys):
    from vidbw.eval.flicker import measure_colour_flicker

    flickering = write_scene(tmp_path / "flicker.mkv", colour=True, chroma_flicker=12)
    steady = measure_colour_flicker(scene["gray"], scene["truth"], max_frames=FRAMES)
    unsteady = measure_colour_flicker(scene["gray"], flickering, max_frames=FRAMES)
    gray = measure_colour_flicker(scene["gray"], scene["gray"], max_frames=FRAMES)
    assert gray.ratio_rec709 == pytest.approx(1.0, abs=0.01)  # the source against itself (reference in 8-bit codes)
    # Even steady true colours read above 1 here: the flow is imperfect at the edges of flat saturated
    # squares, and an R' or B' edge is steeper than its luma edge. Flicker adds on top of that.
    assert unsteady.ratio_rec709 > steady.ratio_rec709 + 0.5, (steady.ratio_rec709, unsteady.ratio_rec709)
    assert unsteady.ratio_held_still > steady.ratio_held_still + 0.3, (steady.ratio_held_still, unsteady.ratio_held_still)
    run = run_inprocess(["eval", "flicker", scene["gray"], flickering, "--colour"], capsys)
    assert_ok(run)
    assert "held-still ratio" in run.out and "R'G'B'" in run.out


def test_ten_bit_film_keeps_its_ten_bit_luma(tmp_path, capsys):
    clip = media.write_video(tmp_path / "in10.mkv", codec="ffv1", pix_fmt="yuv420p10le", frames=6)
    out = tmp_path / "out10.mkv"
    assert_ok(run_inprocess(["convert", clip, "-o", out, "--colorize", "--codec", "ffv1"], capsys))
    source, result = media.video_planes(clip), media.video_planes(out)
    assert [fmt for fmt, _ in result] == ["yuv420p10le"] * 6
    for (_, (y_in, _, _)), (_, (y_out, u, v)) in zip(source, result):
        assert np.array_equal(y_in, y_out)
        assert u.max() <= 960 and u.min() >= 64  # chroma codes stay in 10-bit limited range
