"""Restoration in the engine: the restore stage's windows, `--style original`, the CLI and bad input.

The parts themselves are tested in tests/test_restore_<part>.py; here, how frames reach them."""

from __future__ import annotations

import media
import numpy as np
import pytest
from conftest import assert_ok, assert_one_line_error, run_inprocess, temp_files

from vidbw.io.decode import DecodedFrame
from vidbw.kernels.colour import yuv_to_rgb_matrix
from vidbw.restore import DEFAULT_PARTS, PARTS, Restoration
from vidbw.restore.base import Part, Window
from vidbw.restore.stream import RestoreStream


class NeighbourMean(Part):
    """A real part that averages each frame's luma with its neighbours in the shot (radius 1),
    and records which neighbours it saw."""

    name = "neighbour-mean"
    radius = 1

    def __init__(self):
        self.seen: dict[int, list[int]] = {}

    def restore(self, window: Window):
        frames = [window.frame(k) for k in (-1, 0, 1)]
        present = [f for f in frames if f is not None]
        self.seen[window.centre.index] = [f.index for f in present]
        return window.centre.with_planes(y=sum(f.y for f in present) / np.float32(len(present)))


def gray_frames(count: int, start: int = 0, size=(6, 8)) -> list[DecodedFrame]:
    to_rgb = yuv_to_rgb_matrix("bt709", False, 8)
    frames = []
    for index in range(start, start + count):
        y = np.full(size, 16 + 10 * (index % 20), np.uint8)
        u = np.full((size[0] // 2, size[1] // 2), 128, np.uint8)
        frames.append(DecodedFrame((y, u, u.copy()), to_rgb, index * 10, index))
    return frames


def run_stream(parts, frames, starts):
    stream = RestoreStream(parts, starts, bit_depth=8)
    out = []
    for frame in frames:
        out.extend(stream.push(frame))
    out.extend(stream.finish())
    return out


def test_each_frame_sees_its_neighbours_in_its_shot_only():
    part = NeighbourMean()
    out = run_stream([part], gray_frames(8), starts=[0, 4])
    assert [f.index for f in out] == list(range(8))
    assert [f.pts for f in out] == [i * 10 for i in range(8)]
    assert part.seen[3] == [2, 3] and part.seen[4] == [4, 5]  # the cut at 4 is never crossed
    assert part.seen[0] == [0, 1] and part.seen[7] == [6, 7] and part.seen[5] == [4, 5, 6]
    assert int(out[5].planes[0][0, 0]) == 16 + 50  # the mean of 40, 50, 60 above black
    assert int(out[3].planes[0][0, 0]) == 16 + 25  # frames 2 and 3 only


def test_two_chained_parts_give_a_segment_the_single_pass_result_with_their_reach_as_context():
    parts = [NeighbourMean(), NeighbourMean()]
    whole = {f.index: f.planes[0].copy() for f in run_stream(parts, gray_frames(20), starts=[0])}
    reach = sum(p.reach for p in parts)
    segment = run_stream([NeighbourMean(), NeighbourMean()], gray_frames(10, start=8 - reach), starts=[0])
    inner = {f.index: f.planes[0] for f in segment if 8 <= f.index < 8 + 10 - 2 * reach}  # context both ends
    assert inner and all(np.array_equal(whole[i], plane) for i, plane in inner.items())
    # With less context, the segment's first frame differs: the check above can fail.
    short = run_stream([NeighbourMean(), NeighbourMean()], gray_frames(10, start=8 - reach + 1), starts=[0])
    assert not np.array_equal(whole[8], next(f.planes[0] for f in short if f.index == 8))


def test_the_stream_holds_frames_only_within_the_parts_reach():
    part = NeighbourMean()
    stream = RestoreStream([part], [0], bit_depth=8)
    for frame in gray_frames(50):
        stream.push(frame)
    assert len(stream._stages[0].inputs) <= 2 * part.reach + 2
    assert len(stream.finish()) == 1


def test_restoration_parts_parse():
    assert Restoration.parse(None).parts == DEFAULT_PARTS
    assert Restoration.parse("default").parts == DEFAULT_PARTS
    assert Restoration.parse("all").parts == PARTS
    assert Restoration.parse("dust, deflicker").parts == ("deflicker", "dust")  # always in PARTS order


@pytest.mark.parametrize("clip", ["clip_mkv", "clip10_mkv"])
def test_style_original_writes_the_picture_unchanged(capsys, tmp_path, request, clip):
    source_path = request.getfixturevalue(clip)
    out = tmp_path / "kept.mkv"
    assert_ok(run_inprocess(["convert", source_path, "-o", out, "--style", "original", "--codec", "ffv1"], capsys))
    source, kept = media.video_planes(source_path), media.video_planes(out)
    assert len(source) == len(kept) == 24 and source[0][0] == kept[0][0]
    assert np.ptp(source[0][1][1]) > 10  # the clip has colour to keep
    for (_, a), (_, b) in zip(source, kept):
        assert all(np.array_equal(p, q) for p, q in zip(a, b))


def test_restore_refuses_bad_input_in_one_line(capsys, tmp_path, clip_mkv):
    out = tmp_path / "out.mkv"
    run = run_inprocess(["restore", clip_mkv, "-o", out, "--parts", "dust,varnish"], capsys)
    assert "unknown restoration part 'varnish'" in assert_one_line_error(run)
    image = media.write_image(tmp_path / "still.png")
    run = run_inprocess(["convert", image, "-o", tmp_path / "still_bw.png", "--restore"], capsys)
    assert "films, not still images" in assert_one_line_error(run)
    short = media.write_video(tmp_path / "two.mkv", frames=2)
    run = run_inprocess(["restore", short, "-o", out], capsys)
    assert "needs at least 3" in assert_one_line_error(run)
    assert not out.exists() and temp_files(tmp_path) == []


def test_restore_film_is_convert_keeping_the_picture(tmp_path, clip_mkv):
    import vidbw
    from vidbw.errors import OptionError

    done = vidbw.restore_film(clip_mkv, tmp_path / "r.mkv", parts="deflicker", codec="ffv1")
    assert done.output == tmp_path / "r.mkv" and done.frames == 24 and done.style == "original"
    with pytest.raises(OptionError, match="`style` is for `convert`"):
        vidbw.restore_film(clip_mkv, tmp_path / "x.mkv", style="tri-x")
    assert not (tmp_path / "x.mkv").exists()


def test_an_rgb_film_is_restored_through_ycbcr_and_comes_back_rgb(capsys, tmp_path):
    import av

    source = tmp_path / "rgb.mov"
    with av.open(str(source), "w") as container:  # PNG in MOV decodes to R'G'B' planes
        stream = container.add_stream("png", rate=24)
        stream.width, stream.height, stream.pix_fmt = 160, 90, "rgb24"
        for index in range(12):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(media.pattern_rgb8(index, 160, 90), format="rgb24")))
        container.mux(stream.encode(None))
    out, kept = tmp_path / "restored.mkv", tmp_path / "kept.mkv"
    encode = ["--codec", "ffv1", "--pix-fmt", "yuv444p"]
    assert_ok(run_inprocess(["restore", source, "-o", out, "--parts", "deflicker,dust,scratches", *encode], capsys))
    assert_ok(run_inprocess(["convert", source, "-o", kept, "--style", "original", *encode], capsys))

    def rgb(path):
        with av.open(str(path)) as container:
            return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]

    # Nothing to repair: through Y'CbCr and back, the picture is the one `--style original` writes.
    after = rgb(out)
    assert len(after) == 12 and all(np.array_equal(a, b) for a, b in zip(rgb(kept), after))
    assert max(np.abs(a.astype(int) - b).max() for a, b in zip(rgb(source), after)) <= 3


def test_a_one_frame_shot_passes_through_every_part_unchanged(shared_media):
    from restore_frames import gray_frames, work_frames

    from vidbw.eval.damage import ARCHIVE_DAMAGE, Damager
    from vidbw.restore.stream import restore_work_frames

    clean = gray_frames(shared_media / "video" / "juggler_park_720p.mp4", 12, (320, 180))
    damager = Damager(ARCHIVE_DAMAGE, clean[0].shape)
    damaged = work_frames([damager(i, y).y for i, y in enumerate(clean)])
    restored = restore_work_frames(Restoration.parse("all").make_parts(), damaged, shot_starts=[0, 6, 7])
    assert [f.index for f in restored] == list(range(12))
    assert np.array_equal(restored[6].y, damaged[6].y) and restored[6].grain is None
    assert not np.array_equal(restored[3].y, damaged[3].y)  # the frames around it are restored
