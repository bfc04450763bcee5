"""Cuts on hard footage: the test film built from real clips (flashes, a light switched on, whip pans,
fast motion, a dissolve, a fade through black, cuts 3-4 frames apart), the default detector's targets
on it, the streaming detector's equality with the analysis pass there, and transitions in shot lists."""

from __future__ import annotations

import json

import pytest

from vidbw.errors import OptionError
from vidbw.eval.cut_film import build_hard_cut_film, score_hard_film
from vidbw.shots import LowresFilm, ShotList, detect_shots, validate
from vidbw.shots.detect import AdaptiveCuts, min_shot_frames, min_shot_seconds_for
from vidbw.shots.model import Transition


@pytest.fixture(scope="module")
def hard_film(shared_media, tmp_path_factory):
    path = tmp_path_factory.mktemp("hard") / "hard.mp4"
    truth = build_hard_cut_film(path, shared_media, (320, 180))
    return path, truth


def test_the_hard_film_holds_every_hard_case(hard_film):
    _path, truth = hard_film
    assert truth.frames == 537 and len(truth.cuts) == 13
    assert [k for _a, _b, k in truth.transitions] == ["dissolve", "fade"]
    assert len(truth.flashes) == 3 and len(truth.whip_pans) == 2 and truth.fast_motion
    gaps = [b - a for a, b in zip(truth.cuts, truth.cuts[1:])]
    assert 3 in gaps and 4 in gaps  # two pairs of cuts a few frames apart
    inside = truth.no_cut_spans + [(a, b) for a, b, _k in truth.transitions]
    assert not any(a <= c < b for c in truth.cuts for a, b in inside)


def test_default_detector_meets_the_targets_on_the_hard_film(hard_film):
    path, truth = hard_film
    shots = detect_shots(path)
    transitions = [(t.start, t.end, t.kind) for t in shots.transitions]
    result = score_hard_film(shots.cuts(), transitions, truth)
    detail = f"{result}; cuts {shots.cuts()}, transitions {transitions}, true {truth.cuts} {truth.transitions}"
    assert result.score.f1 >= 0.97, detail
    assert result.false_in_flashes == 0 and result.false_in_whips == 0, detail
    for start, end, kind in truth.transitions:  # each reported once, as a transition of its kind, with one cut
        reported = [t for t in shots.transitions if t.start < end and start < t.end]
        assert [t.kind for t in reported] == [kind], detail
        assert abs(reported[0].start - start) <= 2 and abs(reported[0].end - end) <= 2, detail
        assert len([c for c in shots.cuts() if start <= c < end]) == 1, detail
    for a, b in zip(truth.cuts, truth.cuts[1:]):
        if b - a <= 4:
            assert a in shots.cuts() and b in shots.cuts(), detail  # both cuts of a close pair
    validate(shots, truth.frames)
    back = ShotList.from_dict(json.loads(shots.to_json()))
    assert back.transitions == shots.transitions and back.cuts() == shots.cuts()


def test_the_streaming_detector_gives_the_analysis_pass_cuts_and_never_revises(hard_film):
    path, _truth = hard_film
    film = LowresFilm(path)
    stream = AdaptiveCuts(film.fps, min_shot_frames(min_shot_seconds_for("adaptive"), film.fps))
    found = []
    for frame in film:
        settled = stream.settled
        new = stream.push(frame)
        assert all(cut >= settled for cut in new) and stream.settled >= settled
        found += new
    found += stream.finish()
    expected = detect_shots(path)
    assert found == expected.cuts()
    assert stream.transitions == expected.transitions


def test_transitions_in_the_json_and_old_lists_stay_readable(tmp_path):
    shots = ShotList.from_cuts([10, 30], 40, 24.0, transitions=[Transition(25, 36, "fade"), Transition(5, 15)])
    data = json.loads(shots.to_json())
    assert data["transitions"] == [{"start_frame": 5, "end_frame": 15, "kind": "dissolve"},
                                   {"start_frame": 25, "end_frame": 36, "kind": "fade"}]
    back = ShotList.load(shots.save(tmp_path / "s.json"))
    assert back.transitions == [Transition(5, 15, "dissolve"), Transition(25, 36, "fade")]
    assert validate(back, 40).transitions == back.transitions and back.with_times().transitions == back.transitions
    del data["transitions"]  # a list written before transitions existed
    assert ShotList.from_dict(data).transitions == []
    assert set(json.loads(ShotList.from_cuts([10], 40, 24.0).to_json())) == {"fps", "frames", "shots"}
    for bad, message in (({"start_frame": 5, "end_frame": 50}, "within the film's 40 frames"),
                         ({"start_frame": 5, "end_frame": 9, "kind": "wipe"}, "'kind' must be one of"),
                         ("x", "transition #1 is not an object")):
        with pytest.raises(OptionError, match=message):
            ShotList.from_dict({**data, "transitions": [bad]})
