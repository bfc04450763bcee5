"""Shots: the shot-list model and its validation, JSON/CSV/EDL files, the analysis pass, cut
detection on real footage with known cuts (both detectors), dissolves, TransNetV2's global-state
isolation, the proxy hook, the `vidbw shots` command, and the one-OpenCV packaging rule."""

from __future__ import annotations

import csv
import importlib.metadata
import io
import json
import random
import warnings
from dataclasses import replace

import numpy as np
import pytest

from conftest import assert_ok, assert_one_line_error, run_inprocess, temp_files
from vidbw.errors import OptionError
from vidbw.shots import (
    FilmSampler,
    LowresFilm,
    Shot,
    ShotList,
    assign_proxies,
    detect_cuts,
    detect_shots,
    enforce_min_shot,
    render_shots,
    timecode,
    timecode_rate,
    validate,
    write_shots,
)
from vidbw.eval.cuts import Segment, build_cut_film, cut_f1, dissolve_spans

CAMERA_CLIPS = ["dog_park_720p.mp4", "juggler_park_720p.mp4", "cups_table_720p.mp4", "hands_blocks_720p.mp4",
                "flower_macro_540p.mp4", "bedroom_kids_540p.mp4", "airfield_sound_360p.mp4"]
SEGMENT_FRAMES = [20, 27, 34, 41, 23, 30, 37]


def shot_list(bounds, frames=None, fps=24.0, style="neutral") -> ShotList:
    frames = frames if frames is not None else bounds[-1][1]
    return ShotList(fps, frames, [Shot(i, a, b, style=style) for i, (a, b) in enumerate(bounds)])


# --------------------------------------------------------------------------- model and validation


def test_from_cuts_tiles_the_film_and_no_cut_is_one_shot():
    shots = ShotList.from_cuts([50, 10, 50, 0, 99], 100, 25.0)
    assert [(s.start_frame, s.end_frame) for s in shots] == [(0, 10), (10, 50), (50, 99), (99, 100)]
    assert [s.index for s in shots] == [0, 1, 2, 3]
    assert shots.cuts() == [10, 50, 99]
    assert shots.shots[1].start_time == pytest.approx(0.4) and shots.shots[1].end_time == pytest.approx(2.0)
    one = ShotList.from_cuts([], 7, 24.0)
    assert len(one) == 1 and (one.shots[0].start_frame, one.shots[0].end_frame) == (0, 7)
    assert validate(shots, 100) is not shots  # a validated copy


def test_json_round_trip_keeps_every_field(tmp_path):
    shots = ShotList.from_cuts([12, 30], 40, 24000 / 1001, style="tri-x")
    shots.shots[1] = Shot(1, 12, 30, shots.shots[1].start_time, shots.shots[1].end_time, proxy=3, style="red")
    path = shots.save(tmp_path / "s.json")
    data = json.loads(path.read_text())
    assert set(data) == {"fps", "frames", "shots"}
    assert set(data["shots"][0]) == {"index", "start_frame", "end_frame", "start", "end", "proxy", "style"}
    assert data["shots"][1]["end"] == pytest.approx(30 * 1001 / 24000, abs=1e-6)
    back = ShotList.load(path)
    assert back.fps == pytest.approx(23.976, abs=1e-3) and back.frames == 40
    assert [(s.start_frame, s.end_frame, s.proxy, s.style) for s in back] == [(0, 12, None, "tri-x"), (12, 30, 3, "red"),
                                                                              (30, 40, None, "tri-x")]


def test_json_round_trip_keeps_key_frames_as_one_path_or_a_list_by_frame(tmp_path):
    """A shot's "reference": one image path stays a string; a list of key frames comes back in frame
    order, and its relative paths are read beside the shot list."""
    from vidbw.shots import KeyFrame

    shots = ShotList.from_cuts([12], 40, 24.0, style=None)
    shots.shots[0] = replace(shots.shots[0], reference="keys/a.png")
    shots.shots[1] = replace(shots.shots[1], reference=(KeyFrame("keys/b.png", 12), KeyFrame("/abs/c.png", 39)))
    path = shots.save(tmp_path / "s.json")
    data = json.loads(path.read_text())
    assert data["shots"][0]["reference"] == "keys/a.png"
    assert data["shots"][1]["reference"] == [{"frame": 12, "path": "keys/b.png"}, {"frame": 39, "path": "/abs/c.png"}]
    data["shots"][1]["reference"].reverse()  # any order in the file
    back = ShotList.from_dict(data)
    assert [s.reference for s in back] == [shots.shots[0].reference, shots.shots[1].reference]
    assert back.shots[0].key_frames(path) == (KeyFrame(str(tmp_path / "keys/a.png")),)
    assert back.shots[1].key_frames(path) == (KeyFrame(str(tmp_path / "keys/b.png"), 12), KeyFrame("/abs/c.png", 39))
    assert back.shots[1].key_frames(None)[0].path == "keys/b.png"


def test_validate_accepts_any_partition_including_one_frame_shots_and_any_order():
    frames = 10
    rng = random.Random(4)
    for _ in range(50):
        cuts = sorted(rng.sample(range(1, frames), rng.randint(0, frames - 1)))
        bounds = list(zip([0, *cuts], [*cuts, frames]))
        shuffled = shot_list(bounds, frames)
        rng.shuffle(shuffled.shots)
        checked = validate(shuffled, frames, {"neutral"})
        assert [(s.start_frame, s.end_frame) for s in checked] == bounds
        assert [s.index for s in checked] == list(range(len(bounds)))
    every_frame = shot_list([(i, i + 1) for i in range(frames)])
    assert len(validate(every_frame, frames)) == frames


@pytest.mark.parametrize("bounds, frames, message", [
    ([(0, 10), (10, 121), (118, 200)], 200, "shot 2 overlaps shot 1 (starts at frame 118, shot 1 ends at 121)"),
    ([(0, 10), (12, 20)], 20, "gap between shot 0 and shot 1: frames 10-11 belong to no shot"),
    ([(3, 10)], 10, "shot 0 starts at frame 3; the first shot must start at frame 0"),
    ([(0, 5), (5, 9)], 10, "last shot 1 ends at frame 9, before the end of the film (10 frames"),
    ([(0, 5), (5, 5), (5, 10)], 10, "shot 1 is empty or reversed (start_frame 5, end_frame 5"),
    ([(0, 5), (5, 3), (3, 10)], 10, "shot 1 is empty or reversed"),
])
def test_validate_errors_are_one_clear_line(bounds, frames, message):
    with pytest.raises(OptionError) as err:
        validate(shot_list(bounds, frames), frames)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_validate_frame_count_and_styles():
    shots = shot_list([(0, 5), (5, 10)])
    with pytest.raises(OptionError, match="shot list is for 10 frames but the film has 12"):
        validate(shots, 12)
    shots.shots[1] = Shot(1, 5, 10, style="trix")
    with pytest.raises(OptionError, match="shot 1: unknown style 'trix'; did you mean 'tri-x'"):
        validate(shots, 10, {"neutral", "tri-x"})
    from vidbw.styles import get_style

    with pytest.raises(OptionError, match="^shot 1: unknown style 'trix'"):
        validate(shots, 10, get_style)  # a callable that raises its own OptionError
    shots.shots[1] = Shot(1, 5, 10, style="Tri X")
    assert validate(shots, 10, get_style).shots[1].style == "Tri X"
    assert validate(shots, 10, None)  # no style check asked for


@pytest.mark.parametrize("text, message", [
    ("{not json", "is not valid JSON (line 1"),
    ("[]", "expected a JSON object"),
    ('{"fps": 0, "frames": 3, "shots": []}', "'fps' must be a positive number"),
    ('{"fps": 24, "frames": true, "shots": []}', "'frames' must be a positive whole number"),
    ('{"fps": 24, "frames": 3, "shots": []}', "'shots' must be a non-empty list"),
    ('{"fps": 24, "frames": 3, "shots": [{"index": 4, "start_frame": 0}]}', "shot 4 has no 'end_frame'"),
    ('{"fps": 24, "frames": 3, "shots": [{"start_frame": 0, "end_frame": 2.5}]}', "'end_frame' must be a whole frame number"),
    ('{"fps": 24, "frames": 3, "shots": [{"start_frame": 0, "end_frame": 3, "style": 7}]}', "'style' must be a style name"),
    ('{"fps": 24, "frames": 3, "shots": [{"start_frame": 0, "end_frame": 3, "proxy": [1]}]}', "'proxy' must be"),
])
def test_load_rejects_malformed_files(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(OptionError) as err:
        ShotList.load(path)
    assert message in str(err.value) and str(path) in str(err.value)
    with pytest.raises(OptionError, match="shots file not found"):
        ShotList.load(tmp_path / "missing.json")


def test_user_edits_merge_and_split_are_accepted(tmp_path):
    shots = ShotList.from_cuts([10, 20, 30], 40, 24.0)
    data = json.loads(shots.to_json())
    # merge shots 1 and 2, split shot 3 in two, and leave seconds and indices stale
    data["shots"][1]["end_frame"] = 30
    del data["shots"][2]
    data["shots"].append({"index": 9, "start_frame": 35, "end_frame": 40, "style": "red"})
    data["shots"][2]["end_frame"] = 35
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data))
    checked = validate(ShotList.load(path), 40, {"neutral", "red"})
    assert [(s.index, s.start_frame, s.end_frame, s.style) for s in checked] == [
        (0, 0, 10, "neutral"), (1, 10, 30, "neutral"), (2, 30, 35, "neutral"), (3, 35, 40, "red")]


def test_jobs_read_cut_frames_from_a_saved_shot_list(tmp_path):
    from vidbw.jobs.plan import load_cuts

    path = ShotList.from_cuts([12, 30], 40, 24.0).save(tmp_path / "s.json")
    assert load_cuts(path) == [0, 12, 30]
    assert ShotList.load(path).shot_at(29).start_frame == 12 and ShotList.load(path).shot_at(30).index == 2


# --------------------------------------------------------------------------- files


def test_timecodes_are_non_drop_frame_at_the_rounded_rate():
    assert timecode_rate(24000 / 1001) == 24 and timecode_rate(30000 / 1001) == 30 and timecode_rate(25) == 25
    assert timecode_rate(60000 / 1001) == 60
    assert timecode(0, 24) == "00:00:00:00"
    assert timecode(24 * 3600 + 24 * 61 + 23, 24) == "01:01:01:23"
    assert timecode(30 * 60 - 1, 30) == "00:00:59:29"  # no dropped frame numbers
    assert timecode(100 * 59 + 7, 100) == "00:00:59:07"


def test_edl_has_one_cut_event_per_shot_with_source_and_record_timecodes():
    shots = ShotList.from_cuts([1, 48, 1000], 1441, 30000 / 1001, style="tri-x")
    text = render_shots(shots, "edl", clip_name="film.mp4")
    lines = text.splitlines()
    assert lines[0] == "TITLE: film"
    assert lines[1] == "FCM: NON-DROP FRAME"
    assert "29.97 FPS" in lines[2] and "COUNTED AT 30 FRAMES PER SECOND" in lines[2] and lines[2].startswith("*")
    events = [line.split() for line in lines if line[:3].isdigit()]
    assert [e[0] for e in events] == ["001", "002", "003", "004"]
    assert all(e[1:4] == ["AX", "V", "C"] for e in events)
    assert events[0][4:] == ["00:00:00:00", "00:00:00:01"] * 2  # a 1-frame shot: out is exclusive
    assert events[1][4:6] == ["00:00:00:01", "00:00:01:18"]
    assert events[3][4:6] == ["00:00:33:10", "00:00:48:01"]
    assert events[3][6:] == events[3][4:6]
    assert sum("FROM CLIP NAME: film.mp4" in line for line in lines) == 4
    assert "STYLE tri-x" in text


def test_csv_rows_match_the_shots():
    shots = ShotList.from_cuts([12], 30, 24.0, style="red")
    rows = list(csv.DictReader(io.StringIO(render_shots(shots, "csv"))))
    assert [(r["index"], r["start_frame"], r["end_frame"], r["frames"], r["start"], r["end"], r["start_tc"], r["style"], r["proxy"])
            for r in rows] == [("0", "0", "12", "12", "0.000", "0.500", "00:00:00:00", "red", ""),
                               ("1", "12", "30", "18", "0.500", "1.250", "00:00:00:12", "red", "")]


def test_write_is_atomic_and_refuses_to_replace_without_overwrite(tmp_path):
    shots = ShotList.from_cuts([5], 10, 24.0)
    target = tmp_path / "shots.edl"
    write_shots(shots, target)
    assert target.read_text().startswith("TITLE:")
    from vidbw.errors import OutputError

    with pytest.raises(OutputError, match="output exists"):
        write_shots(shots, target, "json")
    write_shots(shots, target, "json", overwrite=True)
    assert json.loads(target.read_text())["frames"] == 10
    assert temp_files(tmp_path) == []


# --------------------------------------------------------------------------- detection logic (no media)


def test_min_shot_keeps_the_strongest_cut_of_a_burst():
    assert enforce_min_shot([(30, 0.6), (31, 0.9), (33, 0.7), (60, 0.5), (5, 1.0)], 12) == [31, 60]
    assert enforce_min_shot([(12, 1.0), (24, 1.0)], 12) == [12, 24]
    assert enforce_min_shot([], 12) == []


def _noise_frames(lengths, seed=0, size=(64, 36)):
    """Static random-texture segments: every join is a hard cut."""
    rng = np.random.default_rng(seed)
    frames = []
    for n in lengths:
        still = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        frames += [still] * n
    return frames


@pytest.mark.parametrize("detector", ["adaptive", "content"])
def test_scenedetect_detectors_are_fed_our_frames(detector):
    frames = _noise_frames([20, 15, 30, 13])
    seen = []
    cuts = detect_cuts(iter(frames), 24.0, detector, min_shot=12, progress=seen.append)
    assert cuts == [20, 35, 65]
    assert seen[-1] == len(frames)


def test_min_shot_length_suppresses_flashes():
    frames = _noise_frames([30, 3, 30])  # a 3-frame flash inside 0.5 s
    assert len(detect_cuts(iter(frames), 24.0, "adaptive", min_shot=12)) <= 1
    assert detect_cuts(iter(_noise_frames([30])), 24.0, "adaptive") == []
    with pytest.raises(OptionError, match="unknown detector 'magic'"):
        detect_cuts(iter(frames), 24.0, "magic")


# --------------------------------------------------------------------------- the analysis pass


def test_analysis_pass_numbers_every_frame_and_times_them(clip_mp4, vfr_mkv):
    film = LowresFilm(clip_mp4)
    frames = list(film)
    assert film.frames == len(frames) == 24
    assert frames[0].dtype == np.uint8 and frames[0].shape == (90, 160, 3)  # small input: not enlarged
    assert film.times[:3] == pytest.approx([0, 1 / 24, 2 / 24]) and len(film.times) == 25
    vfr = LowresFilm(vfr_mkv)
    list(vfr)
    from conftest import VFR_STEPS

    steps = np.diff(vfr.times[:6]) * 1000
    assert steps == pytest.approx(VFR_STEPS[:5], abs=1.01)
    shots = detect_shots(vfr_mkv, style=None)
    assert shots.frames == 24 and shots.shots[-1].end_time == pytest.approx(vfr.times[-1])


def test_analysis_pass_shrinks_to_240_wide(long_clip):
    film = LowresFilm(long_clip)
    first = next(iter(film))
    assert first.shape == (135, 240, 3)


# --------------------------------------------------------------------------- real footage, known cuts


@pytest.fixture(scope="module")
def cut_film(shared_media, tmp_path_factory):
    """13 hard cuts between segments of 7 real camera clips (no cuts of their own), 320x180."""
    video = shared_media / "video"
    segments = ([Segment(video / c, 5, SEGMENT_FRAMES[i]) for i, c in enumerate(CAMERA_CLIPS)]
                + [Segment(video / c, 100, SEGMENT_FRAMES[(i + 3) % 7]) for i, c in enumerate(reversed(CAMERA_CLIPS))])
    path = tmp_path_factory.mktemp("cuts") / "cuts.mp4"
    truth = build_cut_film(path, segments)
    assert len(truth) == 13
    return path, truth


@pytest.fixture(scope="module")
def dissolve_film(shared_media, tmp_path_factory):
    """Clip A, a 24-frame (1 s) cross-fade into clip B, 24-frame hold, then a hard cut to clip C."""
    video = shared_media / "video"
    segments = [Segment(video / "juggler_park_720p.mp4", 0, 60), Segment(video / "cups_table_720p.mp4", 0, 60),
                Segment(video / "flower_macro_540p.mp4", 0, 30)]
    dissolves = [24, 0]
    path = tmp_path_factory.mktemp("dissolve") / "dissolve.mp4"
    truth = build_cut_film(path, segments, dissolves=dissolves)
    return path, truth, dissolve_spans(segments, dissolves)


@pytest.mark.parametrize("detector", ["adaptive", "transnet"])
def test_cut_detection_f1_on_real_footage(cut_film, detector):
    path, truth = cut_film
    shots = detect_shots(path, detector)
    score = cut_f1(shots.cuts(), truth, tolerance=1)
    assert score.f1 >= 0.95, f"{detector}: {score}; found {shots.cuts()}, true {truth}"
    validate(shots, shots.frames)


@pytest.mark.parametrize("detector", ["adaptive", "transnet"])
def test_a_dissolve_gives_at_most_one_cut(dissolve_film, detector):
    path, truth, spans = dissolve_film
    (first, last), = spans
    cuts = detect_shots(path, detector).cuts()
    in_dissolve = [c for c in cuts if first - 2 <= c <= last + 2]
    outside = [c for c in cuts if c not in in_dissolve]
    assert len(in_dissolve) <= 1, cuts
    assert outside == [truth[1]], cuts  # the hard cut, exactly, and nothing else


def test_a_camera_clip_without_cuts_is_one_shot(shared_media):
    shots = detect_shots(shared_media / "video" / "dog_park_720p.mp4")
    assert len(shots) == 1 and shots.frames == 289
    assert shots.shots[0].end_time == pytest.approx(9.64, abs=0.05)


# --------------------------------------------------------------------------- TransNetV2 isolation


def test_transnet_leaves_global_torch_state_alone():
    import torch

    from vidbw.shots.detect import TransNetCuts, torch_global_state

    torch.manual_seed(1234)
    np.random.seed(99)
    random.seed(7)
    threads = torch.get_num_threads()
    before = torch_global_state()
    assert not before["deterministic"]
    with TransNetCuts() as model:
        assert torch.are_deterministic_algorithms_enabled()  # what its constructor does, inside our guard
        probabilities = list(model.probabilities(iter(_noise_frames([40, 40], size=(96, 54)))))
    after = torch_global_state()
    assert len(probabilities) == 80 and all(0.0 <= p <= 1.0 for p in probabilities)
    assert not torch.are_deterministic_algorithms_enabled()
    assert torch.get_num_threads() == threads
    for key in ("deterministic", "deterministic_warn_only", "cudnn_deterministic", "cudnn_benchmark", "num_threads",
                "grad_enabled", "mps_fallback_env"):
        assert after[key] == before[key], key
    assert torch.equal(after["torch_rng"], before["torch_rng"])
    assert str(after["numpy_rng"]) == str(before["numpy_rng"])
    assert after["python_rng"] == before["python_rng"]
    assert after["warning_filters"] == before["warning_filters"]
    # and the generators continue exactly where they were
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    with TransNetCuts():
        pass
    assert torch.equal(torch.rand(3), expected)


# --------------------------------------------------------------------------- proxies


class _Chooser:
    name = "learned-test"

    def __init__(self):
        self.calls = []

    def grids_for(self, batch):  # marks it as a Style for assign_proxies
        raise NotImplementedError

    def choose_proxy(self, frames):
        self.calls.append(frames.shape)
        return np.int64(len(self.calls) * 10)


def test_assign_proxies_only_asks_styles_that_choose():
    shots = ShotList.from_cuts([10], 20, 24.0)
    asked = []

    def provider(shot):
        asked.append(shot.index)
        return np.zeros((2, 4, 4, 3), np.float32)

    from vidbw.styles import get_style

    plain = assign_proxies(shots, get_style("neutral"), provider)
    assert [s.proxy for s in plain] == [None, None] and asked == []
    chooser = _Chooser()
    chosen = assign_proxies(shots, chooser, provider)
    assert [s.proxy for s in chosen] == [10, 20] and isinstance(chosen.shots[0].proxy, int)
    assert asked == [0, 1] and chooser.calls == [(2, 4, 4, 3)] * 2
    json.loads(chosen.to_json())  # proxies stay JSON
    # per-shot styles through a resolver; a proxy the user set is kept
    kept = ShotList(24.0, 20, [Shot(0, 0, 10, proxy=7, style="learned"), Shot(1, 10, 20, style="neutral")])
    resolved = assign_proxies(kept, lambda name: chooser if name == "learned" else get_style("neutral"), provider)
    assert [s.proxy for s in resolved] == [7, None]


def test_film_sampler_gives_evidence_of_frames_inside_each_shot(clip_mkv):
    from vidbw.shots import LowresFilm
    from vidbw.shots.proxies import frame_evidence, sample_indices

    shots = ShotList.from_cuts([1, 10], 24, 24.0)
    sampler = FilmSampler(clip_mkv, per_shot=3, max_side=64)
    samples = [sampler(s) for s in shots]
    frames = list(LowresFilm(clip_mkv))
    for shot, got in zip(shots, samples):
        want = [frame_evidence(frames[i], max_side=64) for i in sample_indices(shot, 3)]
        assert got.dtype == np.float32 and len(got) == min(3, shot.frames)
        np.testing.assert_array_equal(got, np.stack(want))
    again = sampler(shots.shots[1])  # going back restarts the pass
    np.testing.assert_array_equal(again, samples[1])


# --------------------------------------------------------------------------- the command


def test_shots_command_prints_json_and_writes_files(shared_media, tmp_path, capsys):
    clip = shared_media / "video" / "flower_macro_540p.mp4"
    run = run_inprocess(["shots", clip, "-q", "--style", "Tri_X"], capsys)
    assert_ok(run)
    data = json.loads(run.out)
    assert data["frames"] == 150 and len(data["shots"]) == 1
    assert data["shots"][0]["style"] == "tri-x" and data["shots"][0]["proxy"] is None
    assert data["fps"] == pytest.approx(29.97, abs=0.01)
    out = tmp_path / "flower.edl"
    run = run_inprocess(["shots", clip, "-o", out, "-q"], capsys)
    assert_ok(run)
    assert run.out.strip() == str(out) and "FCM: NON-DROP FRAME" in out.read_text()
    assert_one_line_error(run_inprocess(["shots", clip, "-o", out], capsys), "output exists")
    assert_ok(run_inprocess(["shots", clip, "-o", out, "--overwrite", "--format", "csv", "-q"], capsys))
    assert out.read_text().startswith("index,start_frame")
    assert temp_files(tmp_path) == []


def test_shots_command_bad_options_are_one_line(tmp_path, capsys, clip_mkv):
    assert_one_line_error(run_inprocess(["shots", clip_mkv, "--style", "trix"], capsys), "unknown style 'trix'")
    assert_one_line_error(run_inprocess(["shots", clip_mkv, "--detector", "magic"], capsys), "magic")
    assert_one_line_error(run_inprocess(["shots", tmp_path / "missing.mp4"], capsys), "input not found")
    assert_one_line_error(run_inprocess(["shots", clip_mkv, "--min-shot-seconds", "-1"], capsys), "min-shot-seconds")


# --------------------------------------------------------------------------- packaging


def test_exactly_one_opencv_distribution_and_it_is_headless():
    names = ["opencv-python", "opencv-python-headless", "opencv-contrib-python", "opencv-contrib-python-headless"]
    installed = []
    for name in names:
        try:
            importlib.metadata.distribution(name)
            installed.append(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    assert installed == ["opencv-python-headless"], f"OpenCV distributions installed: {installed}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import scenedetect  # works with the headless cv2

    assert scenedetect.__version__ == "0.7.2"
