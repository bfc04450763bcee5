"""Shot lists as OpenTimelineIO timelines: `vidbw shots --format otio` and `--shots film.otio`.

Real films and the real opentimelineio package: a JSON list round-trips through OTIO unchanged (a
24000/1001 film included); a timeline edited through otio's own API (a cut moved, a shot
re-styled) renders as edited, through a chunked job too, and colorize and `eval flicker` read it;
one as an editing system writes it (relinked media, a timecode origin, no vidbw metadata) is read;
timelines vidbw cannot follow are refused in one line.
"""

from __future__ import annotations

import importlib.metadata
import json
from fractions import Fraction

import media
import numpy as np
import opentimelineio as otio
import pytest
from conftest import assert_ok, assert_one_line_error, run_inprocess, temp_files
from opentimelineio.opentime import RationalTime, TimeRange

from vidbw.shots import Shot, ShotList, read_shots, validate, write_shots
from vidbw.shots.model import Transition

NTSC = 24000 / 1001


@pytest.fixture(scope="session")
def ntsc_mkv(media_dir):
    """24 frames at 24000/1001 fps."""
    return media.write_video(media_dir / "ntsc.mkv", rate=Fraction(24000, 1001))


def three_shots(film, tmp_path, name="film.otio"):
    """The 24-frame film cut at 8 and 16, every shot neutral, as a timeline file."""
    return write_shots(ShotList.from_cuts([8, 16], 24, 24.0, style="neutral"), tmp_path / name, source=film)


def edit(path, change, out):
    """Read a timeline with otio, change it, write it back with otio (as an editing system would)."""
    timeline = otio.adapters.read_from_file(str(path))
    change(timeline)
    otio.adapters.write_to_file(timeline, str(out))
    return out


def clips(timeline):
    return list(timeline.video_tracks()[0].find_clips())


def lumas(path) -> list[np.ndarray]:
    return [planes[0].astype(int) for _, planes in media.video_planes(path)]


# --------------------------------------------------------------------------- writing and round trip


def test_json_to_otio_to_shot_list_keeps_every_field_at_24000_1001(tmp_path, ntsc_mkv):
    transitions = [
        Transition(0, 3, "fade"),
        Transition(4, 9, "dissolve"),
        Transition(10, 16, "dissolve"),
        Transition(17, 22, "fade"),
    ]
    made = ShotList.from_cuts([6, 13, 14, 20], 24, NTSC, style="tri-x", transitions=transitions)
    made.shots[1] = Shot(
        1, 6, 13, made.shots[1].start_time, made.shots[1].end_time, proxy=2, style="red", reference="keys/000009.png"
    )
    made.shots[3] = Shot(3, 14, 20, made.shots[3].start_time, made.shots[3].end_time, style=None)
    original = ShotList.load(made.save(tmp_path / "film.shots.json"))
    path = write_shots(original, tmp_path / "film.otio", source=ntsc_mkv)

    back = read_shots(path, ntsc_mkv)
    assert back == original  # every field: frames, seconds, styles, proxy, reference, transitions, fps

    # What an editing system sees, through otio's own reader.
    timeline = otio.adapters.read_from_file(str(path))
    info = timeline.metadata["vidbw"]
    assert (info["film"], info["frames"], info["fps"], info["version"]) == (
        str(ntsc_mkv.absolute()),
        24,
        NTSC,
        importlib.metadata.version("vidbw"),
    )
    # Transitions without exactly one cut inside (a fade-in at the start; a dissolve over two cuts)
    # have no pair of clips to sit between: kept in the timeline's metadata.
    assert [dict(t) for t in info["transitions"]] == [
        {"start_frame": 0, "end_frame": 3, "kind": "fade"},
        {"start_frame": 10, "end_frame": 16, "kind": "dissolve"},
    ]
    track = timeline.video_tracks()[0]
    got = clips(timeline)
    assert [c.name for c in got] == ["shot 0", "shot 1", "shot 2", "shot 3", "shot 4"]
    for clip, shot in zip(got, original):
        assert clip.media_reference.target_url == ntsc_mkv.absolute().as_uri()
        assert clip.media_reference.available_range == TimeRange(RationalTime(0, NTSC), RationalTime(24, NTSC))
        assert clip.source_range == TimeRange(RationalTime(shot.start_frame, NTSC), RationalTime(shot.frames, NTSC))
        assert clip.source_range.start_time.rate == NTSC  # the film's rate, not 23.976
        fields = clip.metadata["vidbw"]
        assert (fields["style"], fields["proxy"], fields["key_frame"]) == (shot.style, shot.proxy, shot.middle_frame)
        assert fields.get("reference") == shot.reference
    # The others are otio Transitions at their cut, over the film's own frames of the transition.
    placed = [item for item in track if isinstance(item, otio.schema.Transition)]
    assert [(t.transition_type, t.metadata["vidbw"]["kind"]) for t in placed] == [
        (otio.schema.TransitionTypes.SMPTE_Dissolve, "dissolve"),
        (otio.schema.TransitionTypes.Custom, "fade"),
    ]
    assert [track.range_of_child(t) for t in placed] == [
        TimeRange(RationalTime(4, NTSC), RationalTime(5, NTSC)),
        TimeRange(RationalTime(17, NTSC), RationalTime(5, NTSC)),
    ]


def test_vidbw_shots_writes_otio_and_it_reads_back_as_the_json_list(tmp_path, ntsc_mkv, capsys):
    assert_ok(run_inprocess(["shots", ntsc_mkv, "-o", tmp_path / "film.json", "--style", "tri-x"], capsys))
    run = run_inprocess(["shots", ntsc_mkv, "-o", tmp_path / "film.otio", "--style", "tri-x"], capsys)
    assert_ok(run)
    assert run.out.strip() == str(tmp_path / "film.otio")
    assert read_shots(tmp_path / "film.otio", ntsc_mkv) == ShotList.load(tmp_path / "film.json")
    printed = run_inprocess(["shots", ntsc_mkv, "--format", "otio", "--style", "tri-x", "-q"], capsys)
    assert_ok(printed)
    timeline = otio.adapters.read_from_string(printed.out)
    assert clips(timeline)[0].metadata["vidbw"]["style"] == "tri-x"


# --------------------------------------------------------------------------- editing and rendering


def move_cut_and_restyle(timeline):
    """The cut at 8 moved 3 frames later, and the last shot given another look."""
    first, second, third = clips(timeline)
    first.source_range = TimeRange(RationalTime(0, 24), RationalTime(11, 24))
    second.source_range = TimeRange(RationalTime(11, 24), RationalTime(5, 24))
    third.metadata["vidbw"]["style"] = "red"


def test_an_edited_timeline_renders_as_edited(tmp_path, clip_mkv, capsys):
    original = three_shots(clip_mkv, tmp_path)
    edited = edit(original, move_cut_and_restyle, tmp_path / "edited.otio")
    shots = validate(read_shots(edited, clip_mkv), 24)
    assert [(s.start_frame, s.end_frame, s.style) for s in shots] == [
        (0, 11, "neutral"),
        (11, 16, "neutral"),
        (16, 24, "red"),
    ]
    assert shots.shots[0].end_time == pytest.approx(11 / 24) and shots.shots[1].start_time == pytest.approx(11 / 24)

    out_a, out_b = tmp_path / "a.mkv", tmp_path / "b.mkv"
    assert_ok(run_inprocess(["convert", clip_mkv, "-o", out_a, "--codec", "ffv1", "--shots", original], capsys))
    run = run_inprocess(["convert", clip_mkv, "-o", out_b, "--codec", "ffv1", "--shots", edited, "--explain"], capsys)
    assert_ok(run)
    assert "shot 0: frames 0-10, style neutral" in run.err and "shot 2: frames 16-23, style red" in run.err
    a, b = lumas(out_a), lumas(out_b)
    assert [i for i in range(24) if not np.array_equal(a[i], b[i])] == list(range(16, 24))  # the re-styled shot
    flicker = run_inprocess(["eval", "flicker", clip_mkv, out_b, "--shots", edited, "--json"], capsys)
    assert_ok(flicker)
    assert json.loads(flicker.out)["skipped_at_cuts"] == 2  # the frame pairs across the timeline's cuts


def test_a_chunked_job_renders_an_edited_timeline_as_one_pass(tmp_path, clip_mkv, capsys):
    from vidbw.io.encode import EncodeSettings
    from vidbw.jobs import run_job

    edited = edit(three_shots(clip_mkv, tmp_path), move_cut_and_restyle, tmp_path / "edited.otio")
    single, chunked = tmp_path / "single.mkv", tmp_path / "chunked.mkv"
    assert_ok(run_inprocess(["convert", clip_mkv, "-o", single, "--codec", "ffv1", "--shots", edited], capsys))
    run_job(
        clip_mkv,
        chunked,
        job_dir=tmp_path / "job",
        shots=edited,
        segment_frames=4,
        encode=EncodeSettings(codec="ffv1"),
        device="cpu",
    )
    plan = json.loads((tmp_path / "job" / "job.json").read_text())
    assert {11, 16} <= {start for start, _ in plan["segments"]}  # segments split at the edited cuts
    assert json.loads((tmp_path / "job" / "shots.json").read_text())["shots"][2]["style"] == "red"
    assert all(np.array_equal(x, y) for x, y in zip(lumas(single), lumas(chunked), strict=True))


def test_colorize_takes_each_shots_key_frame_from_the_timeline(tmp_path, clip_mkv, capsys):
    from vidbw.io.images import write_image

    write_image(tmp_path / "key.png", media.pattern_rgb8(12, 160, 90))  # read beside the timeline, as with JSON
    listing = ShotList.from_cuts([8], 24, 24.0, style=None)
    listing.shots[1] = Shot(1, 8, 24, reference="key.png")
    path = write_shots(listing, tmp_path / "film.otio", source=clip_mkv)
    run = run_inprocess(
        ["convert", clip_mkv, "-o", tmp_path / "c.mkv", "--colorize", "--codec", "ffv1", "--shots", path, "--explain"],
        capsys,
    )
    assert_ok(run)
    assert "shot 0: frames 0-7, automatic" in run.err and "shot 1: frames 8-23, reference key.png" in run.err


def test_a_timeline_as_an_editing_system_writes_it_is_read(tmp_path, clip_mkv):
    """Media relinked to another folder as a plain path, counted from the film's timecode 01:00:00:00,
    no vidbw metadata anywhere, and a dissolve the editor added."""
    origin = 86400  # 01:00:00:00 at 24 fps
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    for start, frames in [(0, 10), (10, 14)]:
        media_file = otio.schema.ExternalReference(
            "D:\\footage\\clip.mkv", TimeRange(RationalTime(origin, 24), RationalTime(24, 24))
        )
        if start:
            track.append(
                otio.schema.Transition(
                    transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                    in_offset=RationalTime(2, 24),
                    out_offset=RationalTime(3, 24),
                )
            )
        track.append(
            otio.schema.Clip(
                name=f"reel {start}",
                media_reference=media_file,
                source_range=TimeRange(RationalTime(origin + start, 24), RationalTime(frames, 24)),
            )
        )
    timeline = otio.schema.Timeline(tracks=[track, otio.schema.Track(kind=otio.schema.TrackKind.Audio)])
    path = tmp_path / "from-the-edit.otio"
    otio.adapters.write_to_file(timeline, str(path))
    shots = validate(read_shots(path, clip_mkv), 24)
    assert (shots.fps, shots.frames) == (24.0, 24)
    assert [(s.start_frame, s.end_frame, s.style, s.proxy) for s in shots] == [
        (0, 10, None, None),
        (10, 24, None, None),
    ]
    assert shots.transitions == [Transition(8, 13, "dissolve")]


# --------------------------------------------------------------------------- refused


def another_film(timeline):
    clips(timeline)[1].media_reference.target_url = "file:///elsewhere/other.mkv"


def shortened(timeline):
    second = clips(timeline)[1]
    second.source_range = TimeRange(second.source_range.start_time, RationalTime(6, 24))


def deleted(timeline):
    track = timeline.video_tracks()[0]
    track[1] = otio.schema.Gap(duration=RationalTime(8, 24))


def two_video_tracks(timeline):
    timeline.tracks.append(otio.schema.Track(kind=otio.schema.TrackKind.Video))


def faster(timeline):
    clips(timeline)[2].effects.append(otio.schema.LinearTimeWarp(time_scalar=2.0))


def no_media(timeline):
    clips(timeline)[0].media_reference = otio.schema.MissingReference()


def misspelt_style(timeline):
    clips(timeline)[1].metadata["vidbw"]["style"] = "trix"


@pytest.mark.parametrize(
    "change, words",
    [
        (another_film, ("shot 1", "other.mkv", "not of clip.mkv")),
        (shortened, ("gap", "frames 14-15 belong to no shot")),
        (deleted, ("gap", "frames 8-15 belong to no shot")),
        (two_video_tracks, ("2 video tracks",)),
        (faster, ("shot 2", "changes speed", "LinearTimeWarp")),
        (no_media, ("shot 0", "no media file", "MissingReference")),
        (misspelt_style, ("shot 1", "trix", "tri-x")),
        ("garbage", ("not an OTIO timeline", "JSON parse error")),
        ('{"OTIO_SCHEMA": "Clip.2"}', ("not an OTIO timeline", "Clip", "media_references")),
        ('{"OTIO_SCHEMA": "Track.1", "children": []}', ("not an OTIO timeline", "Track")),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_a_timeline_vidbw_cannot_follow_is_refused_in_one_line(tmp_path, clip_mkv, capsys, change, words):
    bad = tmp_path / "bad.otio"
    if callable(change):
        edit(three_shots(clip_mkv, tmp_path), change, bad)
    else:
        bad.write_text(change)
    out = tmp_path / "out.mkv"
    assert_one_line_error(run_inprocess(["convert", clip_mkv, "-o", out, "--shots", bad], capsys), *words)
    assert not out.exists() and temp_files(tmp_path) == []
