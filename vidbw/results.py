"""What a conversion tells its caller: where the output goes by default (``film_bw.mp4``,
``film_color.mp4``, ``photos_bw/``), its progress, the `ConvertResult`, and the notes and explain
lines the user reads. Single passes, image conversions and chunked jobs all word them here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vidbw.io.decode import DecodeStats
from vidbw.io.muxers import MUXER_BY_SUFFIX
from vidbw.io.probe import is_image_path

COLOUR_INPUT_SPREAD = 0.02  # chroma spread (see colorize.colour_content) above which the input is colour film
COLOUR_INPUT_TINT = 0.01  # mean chroma magnitude above which a gray-looking input is a tinted scan

ProgressCallback = Callable[[int, int], None]  # (frames done, frames expected or 0)


@dataclass
class ConvertResult:
    output: Path
    frames: int = 0
    seconds: float = 0.0
    concealed_frames: int = 0  # damaged or lost frames that the output covers by concealment
    notes: list[str] = field(default_factory=list)
    explain: list[str] = field(default_factory=list)  # which style and proxy each shot or image got

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


# --------------------------------------------------------------------------- output naming


def renders_film(source: Path, output: Path) -> bool:
    """Whether converting `source` to `output` renders a film: a film file, or a folder's numbered
    image sequence written to a film container (`vidbw.io.sequence`); not images or a folder of photos."""
    if is_image_path(source):
        return False
    return not source.is_dir() or output.suffix.lower() in MUXER_BY_SUFFIX


def default_output_for(source: Path, suffix: str = "bw") -> Path:
    if source.is_dir():
        return source.with_name(f"{source.name}_{suffix}")
    return source.with_name(f"{source.stem}_{suffix}{source.suffix}")


# --------------------------------------------------------------------------- notes and explain lines


def interlaced_note(colorizing: bool) -> str:
    """What a render of interlaced input tells the user (single passes and chunked jobs alike)."""
    if colorizing:
        return "input is interlaced: deinterlace it first for clean colour edges (fields are colorized together)"
    return "input is interlaced: fields are converted together as frames (deinterlace first if you need progressive)"


def input_colour_note(spread: float, tint: float) -> str | None:
    """What to tell the user about colour already in the input of a colorization (None: it is gray)."""
    if spread > COLOUR_INPUT_SPREAD:
        return "input is already in colour: its colours are discarded and its luma is colorized"
    if tint > COLOUR_INPUT_TINT:
        return "input is tinted (sepia or toned scan): the tint is discarded and its luma is colorized"
    return None


def damaged_input_note(decode_errors: int, concealed_frames: int) -> str:
    """What a render of damaged input tells the user."""
    return f"damaged input: {decode_errors} packets failed to decode; {concealed_frames} frames concealed"


def ended_early_note(info, stats: DecodeStats, start_pts: int) -> str | None:
    """A note when the decodable pictures stop short of what the header promised (a cut file)."""
    if info.frame_count:
        if stats.frames < info.frame_count:
            return f"input ended early: converted the decodable {stats.frames} of {info.frame_count} frames"
        return None
    # Matroska and MPEG-TS headers give no frame count: compare where the pictures stop with the
    # video stream's own length (not the container's, which audio may extend).
    if stats.last_pts is None or not info.frame_rate or not info.video_duration_s:
        return None
    frame_time = 1 / float(info.frame_rate)
    end = float((stats.last_pts - start_pts) * info.time_base) + frame_time
    if end < info.video_duration_s - 1.5 * frame_time:
        return (
            f"input ended early: converted the decodable {stats.frames} frames "
            f"({end:.2f}s of {info.video_duration_s:.2f}s)"
        )
    return None


def explain_shots(shot_list) -> list[str]:
    return [
        f"shot {s.index}: frames {s.start_frame}-{s.end_frame - 1}, style {s.style}, proxy "
        f"{'-' if s.proxy is None else s.proxy}"
        for s in shot_list.shots
    ]
