"""The proxy choice of a learned style. `vidbw convert` finds shots and proxies in the render pass
itself (`ShotStream`): the film is decoded once in all. The analysis pass (`vidbw shots`, chunked
jobs) takes its evidence from its own frames: every frame's evidence is kept while the bounded
reservoir allows, so short shots of long films need no second decode; shots it holds no frame of
(and shot lists given with --shots) get frames decoded for the purpose, with seeks. Both see the
same frames of each shot's opening and choose the same proxies."""

from __future__ import annotations

import json

import av
import cv2
import numpy as np
import pytest

import media
from conftest import assert_ok, run_inprocess
from vidbw.errors import InputError
from vidbw.io import decode
from vidbw.models.content import CONTENT_DIM, content_features
from vidbw.render import Look, RenderPlan
from vidbw.shots import FilmSampler, LowresFilm, ProxySamples, Shot, ShotList, detect_shots, shots_for_style
from vidbw.shots.detect import AdaptiveCuts, detect_cuts
from vidbw.shots.proxies import PROXY_WINDOW, SEEK_GAP, frame_evidence, sample_indices
from vidbw.shots.streaming import ShotStream
from vidbw.style_plan import shot_render_plan
from vidbw.styles import get_style

FRAMES, CUT = 300, 130


@pytest.fixture(scope="module")
def cut_clip(tmp_path_factory):
    """320x180 H.264 with B-frames, 300 frames at 24 fps, a keyframe every 48, one hard cut at 130."""
    path = tmp_path_factory.mktemp("proxies") / "cut.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24, options={
            "preset": "ultrafast", "x264-params": "keyint=48:min-keyint=48:scenecut=0:bframes=2"})
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        for i in range(FRAMES):
            rgb = media.pattern_rgb8(i, 320, 180)
            if i >= CUT:  # another picture: colours inverted and swapped
                rgb = np.ascontiguousarray(255 - rgb[:, :, ::-1])
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def analysis_frames(cut_clip):
    return list(LowresFilm(cut_clip))


@pytest.fixture(scope="module")
def evidence(analysis_frames):
    """What the proxy choice sees of each analysis frame: its content features, computed directly."""
    return np.stack([content_features(frame.astype(np.float32) / 255) for frame in analysis_frames])


@pytest.fixture
def decoded(monkeypatch):
    """pts of every picture any decoder in vidbw produces (a spy on the real packet decoder)."""
    seen = []
    real = decode._decode_packet

    def spy(packet, stats):
        frames = real(packet, stats)
        seen.extend(f.pts for f in frames)
        return frames

    monkeypatch.setattr(decode, "_decode_packet", spy)
    return seen


def test_a_learned_style_decodes_the_film_once_before_rendering(cut_clip, decoded, tmp_path):
    look = Look.named("landscape-master")
    plan, shots = shot_render_plan(cut_clip, look, "light")
    assert shots.cuts() == [CUT]
    assert len(decoded) == FRAMES and len(set(decoded)) == FRAMES  # one pass, every frame once
    assert all(isinstance(s.proxy, int) for s in shots)
    assert [r.proxy for r in plan.shots] == [s.proxy for s in shots]
    # The same shots given back with --shots (proxies left to the style): frames decoded for the
    # purpose are the analysis pass's frames, so the choices are the same.
    edited = ShotList(shots.fps, shots.frames, [Shot(s.index, s.start_frame, s.end_frame) for s in shots])
    decoded.clear()
    _, again = shot_render_plan(cut_clip, look, "light", edited.save(tmp_path / "shots.json"))
    assert [s.proxy for s in again] == [s.proxy for s in shots]
    assert 0 < len(decoded) < FRAMES  # only up to the last sampled frame (271)


def test_every_shot_gets_a_proxy_one_frame_shots_included(cut_clip, tmp_path):
    bounds = [(0, 1), (1, CUT), (CUT, CUT + 1), (CUT + 1, FRAMES - 1), (FRAMES - 1, FRAMES)]
    edited = ShotList(24.0, FRAMES, [Shot(i, a, b) for i, (a, b) in enumerate(bounds)])
    plan, shots = shot_render_plan(cut_clip, Look.named("landscape-master"), "off", edited.save(tmp_path / "s.json"))
    assert [(s.start_frame, s.end_frame) for s in shots] == bounds
    assert all(isinstance(s.proxy, int) for s in shots)
    assert [(r.start, r.end, r.proxy) for r in plan.shots] == [(s.start_frame, s.end_frame, s.proxy) for s in shots]


def test_convert_finds_shots_and_proxies_while_it_renders_decoding_each_frame_once(cut_clip, decoded, tmp_path, capsys):
    run = run_inprocess(["convert", cut_clip, "-o", tmp_path / "out.mkv", "--style", "landscape-master",
                         "--codec", "ffv1", "--explain"], capsys)
    assert_ok(run)
    assert len(decoded) == FRAMES and sorted(decoded) == sorted(set(decoded))  # no analysis pass before the render
    listed = shots_for_style(cut_clip, get_style("landscape-master"))  # what the analysis pass finds
    assert listed.cuts() == [CUT]
    for shot in listed:
        assert f"shot {shot.index}: frames {shot.start_frame}-{shot.end_frame - 1}, style landscape-master, proxy {shot.proxy}" in run.err


def test_adaptive_cuts_are_final_when_made_and_equal_the_whole_films(analysis_frames):
    stream = AdaptiveCuts(24.0, 12)
    found = []
    for frame in analysis_frames:
        settled = stream.settled
        new = stream.push(frame)
        assert all(cut >= settled for cut in new)  # never inside frames already said to be settled
        assert stream.settled <= stream.frames
        found += new
    found += stream.finish()
    assert stream.settled == FRAMES
    assert found == detect_cuts(iter(analysis_frames), 24.0, "adaptive", 12) == [CUT]


def test_a_shot_stream_passes_frames_on_only_once_their_shot_and_proxy_are_planned(cut_clip):
    from vidbw.io.probe import describe_video, open_input
    from vidbw.io.decode import DecodeStats, read_media

    style = get_style("landscape-master")
    with open_input(cut_clip) as container:
        info = describe_video(container, cut_clip)
        stream = ShotStream(RenderPlan.single(Look(style), "light"), 24.0, info.width, info.height)
        passed, most_held = [], 0
        for pushed, item in enumerate(read_media(container, info, [], DecodeStats()), 1):
            ready = stream.push(item)
            for frame in ready:
                shot = stream.plan.shots[stream.plan.shot_index(frame.index)]
                assert shot.proxy is not None and (shot.end is None or frame.index < shot.end)
            passed += [f.index for f in ready]
            most_held = max(most_held, pushed - len(passed))
        passed += [f.index for f in stream.finish()]
    assert passed == list(range(FRAMES))
    assert most_held <= PROXY_WINDOW + AdaptiveCuts.LOOKAHEAD  # the proxy's window plus the detector's look-ahead
    expected = shots_for_style(cut_clip, style)
    got = stream.shot_list()
    assert [(s.start_frame, s.end_frame, s.proxy) for s in got] == [(s.start_frame, s.end_frame, s.proxy) for s in expected]
    assert [(r.start, r.end, r.proxy) for r in stream.plan.shots] == [(s.start_frame, None if s.end_frame == FRAMES else s.end_frame, s.proxy) for s in expected]


def test_every_frame_is_kept_so_the_shortest_shots_need_no_second_decode(cut_clip, evidence, decoded):
    samples = ProxySamples(fallback=FilmSampler(cut_clip))
    detect_shots(cut_clip, samples=samples)
    assert samples.stride == 1 and samples.indices.tolist() == list(range(FRAMES))
    np.testing.assert_array_equal(samples.evidence, evidence)
    decoded.clear()
    ones = [Shot(i, f, f + 1) for i, f in enumerate((0, CUT - 1, CUT, FRAMES - 25, FRAMES - 1))]  # 1-frame shots
    for shot in ones:
        np.testing.assert_array_equal(samples(shot), evidence[shot.start_frame][None])
    assert samples.fallback_shots == 0 and decoded == []


def test_the_reservoir_is_bounded_and_keeps_evenly_spread_evidence(cut_clip, evidence):
    samples = ProxySamples(max_bytes=10 * ProxySamples.ENTRY_BYTES)
    shots = detect_shots(cut_clip, samples=samples)
    assert shots.cuts() == [CUT] and shots.frames == FRAMES
    assert samples.capacity == 10 and samples.count <= 10
    assert samples.stride == 32  # 300 frames thinned 1 -> 2 -> ... -> 32
    assert samples.indices.tolist() == list(range(0, FRAMES, 32))
    np.testing.assert_array_equal(samples.evidence, evidence[samples.indices])
    # Each of a shot's three sample positions (4, 12, 20: its first PROXY_WINDOW frames) gets the
    # kept frame nearest to it inside the shot.
    assert sample_indices(shots.shots[0], 3) == [4, 12, 20]
    np.testing.assert_array_equal(samples(shots.shots[0]), evidence[[0, 32]])
    # Only frames inside the shot: for frames 134 and 142, 160 is taken although 128 is nearer.
    assert CUT == 130 and sample_indices(Shot(1, CUT, 200), 3) == [134, 142, 150]
    np.testing.assert_array_equal(samples(Shot(1, CUT, 200)), evidence[[160]])
    with pytest.raises(ValueError, match="no analysis frame kept"):  # and no fallback given
        samples(Shot(2, CUT, 150))


def test_a_shot_with_no_kept_frame_is_decoded_with_a_seek(cut_clip, evidence, decoded):
    samples = ProxySamples(fallback=FilmSampler(cut_clip), max_bytes=10 * ProxySamples.ENTRY_BYTES)
    detect_shots(cut_clip, samples=samples)
    decoded.clear()
    far = FRAMES - 25  # one frame, not kept (stride 32), beyond SEEK_GAP: reached by a seek
    assert far > SEEK_GAP and far not in samples.indices
    np.testing.assert_array_equal(samples(Shot(0, far, far + 1)), evidence[far][None])
    assert samples.fallback_shots == 1
    assert 0 < len(decoded) <= 48 + 3  # from the keyframe before it (240), not from the start
    near = CUT + 5  # behind the decoder now: read again from the start, no seek needed
    np.testing.assert_array_equal(samples(Shot(1, near, near + 2)), evidence[near:near + 2])
    assert samples.fallback_shots == 2


def test_film_sampler_evidence_is_the_analysis_frames_forward_and_after_seeks(cut_clip, evidence):
    sampler = FilmSampler(cut_clip)
    shots = [Shot(0, 0, 100), Shot(1, 100, 110), Shot(2, 280, FRAMES), Shot(3, 40, 41)]  # last two: a seek, a restart
    for shot in shots:
        got = sampler(shot)
        assert got.dtype == np.float32 and got.shape == (len(sample_indices(shot, 3)), CONTENT_DIM)
        np.testing.assert_array_equal(got, evidence[sample_indices(shot, 3)])
    with pytest.raises(InputError, match="past the film.s end"):
        sampler(Shot(9, FRAMES, FRAMES + 3))


def test_evidence_is_of_the_frame_at_most_256_px():
    rng = np.random.default_rng(0)
    landscape = rng.integers(0, 256, (135, 240, 3), dtype=np.uint8)  # a 16:9 analysis frame: described as it is
    np.testing.assert_array_equal(frame_evidence(landscape), content_features(landscape / np.float32(255)))
    portrait = rng.integers(0, 256, (427, 240, 3), dtype=np.uint8)  # a portrait film's: area-averaged to 144 x 256 first
    small = cv2.resize(portrait, (144, 256), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(frame_evidence(portrait), content_features(small / np.float32(255)))
    assert not np.array_equal(frame_evidence(portrait), content_features(portrait / np.float32(255)))


def test_vidbw_shots_writes_the_proxies_convert_renders_and_an_edited_proxy_changes_only_its_shot(cut_clip, tmp_path, capsys):
    listing = tmp_path / "cut.shots.json"
    assert_ok(run_inprocess(["shots", cut_clip, "--style", "landscape-master", "-o", listing, "-q"], capsys))
    listed = ShotList.load(listing)
    assert listed.cuts() == [CUT] and all(isinstance(s.proxy, int) for s in listed)
    direct, given, edited = tmp_path / "direct.mkv", tmp_path / "given.mkv", tmp_path / "edited.mkv"
    run = run_inprocess(["convert", cut_clip, "-o", direct, "--style", "landscape-master", "--codec", "ffv1", "--explain"], capsys)
    assert_ok(run)
    for shot in listed:  # convert chose what the list says
        assert f"shot {shot.index}: frames {shot.start_frame}-{shot.end_frame - 1}, style landscape-master, proxy {shot.proxy}" in run.err
    assert_ok(run_inprocess(["convert", cut_clip, "-o", given, "--style", "landscape-master", "--codec", "ffv1",
                             "--shots", listing], capsys))
    other = (listed.shots[1].proxy + 1) % get_style("landscape-master").n_proxies
    data = json.loads(listing.read_text())
    data["shots"][1]["proxy"] = other
    listing.write_text(json.dumps(data))
    assert_ok(run_inprocess(["convert", cut_clip, "-o", edited, "--style", "landscape-master", "--codec", "ffv1",
                             "--shots", listing], capsys))
    a, b, c = ([planes[0] for _, planes in media.video_planes(p)] for p in (direct, given, edited))
    assert len(a) == len(b) == len(c) == FRAMES
    assert all(np.array_equal(x, y) for x, y in zip(a, b))  # the list as written renders as convert does
    changed = [i for i in range(FRAMES) if not np.array_equal(a[i], c[i])]
    assert changed == list(range(CUT, FRAMES))  # exactly the edited shot: smoothing never crosses the cut
