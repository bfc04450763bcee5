"""vidbw's Python API: one function for each thing the `vidbw` command does, with the same choices.

    import vidbw
    vidbw.convert("film.mp4", style="tri-x", grain=0.03)
    vidbw.convert("scans/", "reel.mov", colorize=True, fps=25, workers=4)
    vidbw.learn_style("my-look", "pairs/")

The command line parses its flags, calls one of these and prints what it returns, so a call here
does what the same command does (`vidbw shots` is `find_shots` and `vidbw preview` is
`contact_sheet`: `vidbw.shots` and `vidbw.preview` are modules). Keyword arguments are named like
the flags (`pix_fmt` for `--pix-fmt`); an error about one names it (`VidbwError.param`).

Progress: functions that report it take `progress`, a callable given a stage's label ("converting
film.mp4") that returns a context manager; the block it opens yields that stage's callback
`progress(done, total)` (training stages also pass a dict of losses), or None. For a plain callback:
`progress=lambda label: contextlib.nullcontext(callback)`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidbw.errors import OptionError

if TYPE_CHECKING:
    from vidbw.eval.colorize import ColorizeReport
    from vidbw.eval.flicker import FlickerReport
    from vidbw.eval.restore import RestoreReport
    from vidbw.eval.style import StyleEval
    from vidbw.jobs import JobResult
    from vidbw.results import ConvertResult
    from vidbw.shots import ShotList
    from vidbw.train.style_learn import StyleLearned

__all__ = [
    "Conversion",
    "ShotsFound",
    "Progress",
    "convert",
    "restore_film",
    "learn_style",
    "evaluate_style",
    "find_shots",
    "evaluate_flicker",
    "evaluate_restore",
    "evaluate_colorize",
    "contact_sheet",
    "export_style_lut",
    "train_retoucher",
    "train_colorizer",
    "make_pairs",
    "list_styles",
    "list_tonings",
]

PathLike = str | os.PathLike
KEEP_PICTURE = "original"  # the style that writes the picture unchanged (`vidbw.styles.KeepPicture`)
Progress = Callable[
    [str], AbstractContextManager
]  # stage label -> a block yielding progress(done, total[, fields]) or None


def _stage(progress: Progress | None, label: str) -> AbstractContextManager:
    return progress(label) if progress is not None else nullcontext(None)


def _reading_sequence_at(source: Path, fps: float | None) -> AbstractContextManager:
    """The block in which `source`, a folder's image sequence, is read at `fps` (see vidbw.io.sequence)."""
    from vidbw.io.sequence import reading_rate

    if fps is not None and not source.is_dir():
        raise OptionError("`fps` applies to image sequences (a folder of numbered frames read as a film)", param="fps")
    return reading_rate(fps)


# --------------------------------------------------------------------------- convert


@dataclass
class Conversion:
    """What `convert` did: the single pass's `ConvertResult`, or a chunked job's `JobResult`, with the
    choices that shaped it."""

    result: ConvertResult | JobResult
    source: Path
    style: str | None  # the style asked for, a recipe's included (None: neutral; or colorized)
    colorize: bool = False
    shots: Path | None = None  # the shot list given
    film: bool = True  # a film was rendered (False: an image or a folder of images)
    chunked: bool = False  # rendered as a chunked job (`result` is a JobResult)
    engine: str = "local"
    workers: int = 1

    @property
    def output(self) -> Path:
        return self.result.output

    @property
    def frames(self) -> int:
        return self.result.frames

    @property
    def seconds(self) -> float:
        return self.result.seconds

    @property
    def fps(self) -> float:
        return self.result.fps

    @property
    def notes(self) -> list[str]:
        return self.result.notes

    @property
    def explain(self) -> list[str]:
        return self.result.explain

    def to_json(self) -> str:
        import json

        data = {
            "source": str(self.source),
            "output": str(self.output),
            "frames": self.frames,
            "seconds": round(self.seconds, 3),
            "style": self.style,
            "colorize": self.colorize,
            "shots": None if self.shots is None else str(self.shots),
            "film": self.film,
            "chunked": self.chunked,
            "notes": self.notes,
            "explain": self.explain,
        }
        return json.dumps(data, indent=1)


def _check_colorize_options(colorize: bool, reference, look: dict) -> None:
    """The one check of the colorize options (single pass and chunked job alike)."""
    if colorize:
        if set(look) - {"style"} or look.get("style") not in (None, "neutral"):
            raise OptionError(
                "`colorize` makes colour; `style`, `grain` and `toning` are for black and white",
                param="colorize",
                mentions=("style", "grain", "toning"),
            )
    elif reference is not None:
        raise OptionError("`reference` needs `colorize`", param="reference", mentions=("colorize",))


def convert(
    source: PathLike,
    output: PathLike | None = None,
    *,
    recipe: str | None = None,
    style: str | None = None,
    grain: float | None = None,
    grain_size: float | None = None,
    grain_seed: int | None = None,
    toning: str | None = None,
    codec: str | None = None,
    crf: int | None = None,
    preset: str | None = None,
    pix_fmt: str | None = None,
    bit_depth: int | None = None,
    colorize: bool = False,
    reference: PathLike | None = None,
    restore: str | None = None,
    shots: PathLike | None = None,
    temporal: str | None = None,
    detector: str = "adaptive",
    device: str = "auto",
    overwrite: bool = False,
    fps: float | None = None,
    job_dir: PathLike | None = None,
    resume: PathLike | None = None,
    workers: int = 1,
    engine: str = "local",
    address: str | None = None,
    progress: Progress | None = None,
) -> Conversion:
    """Convert a film, an image or a folder of images to black and white (or, with `colorize`, B&W to colour).

    `output` defaults to `<stem>_bw.<ext>` beside the input (`_color` when colorizing). A folder
    converted to a film file is read as one numbered image sequence at `fps` (default 24).

    Look: `style` (default neutral), `grain` (0 none ... 0.1 heavy), `grain_size`, `grain_seed`,
    `toning`; `recipe` (a name from pipelines/ or a .toml path) presets look and encode, and any of
    these given here wins over it. Encode: `codec`, `crf`, `preset`, `pix_fmt`, `bit_depth`.
    `colorize` predicts colour instead, from `reference` (a coloured key frame, or a folder of them
    named by frame number, any number per shot) or automatically. `shots` is a shot list (from
    `find_shots`) rendered shot by shot; `temporal` (off, light, strong; default light) smooths
    learned grids within shots.
    `restore` restores a film before the look or the colour: `""` or `"default"` for the default
    parts, `"all"`, or a comma list of deflicker, stabilize, dust, scratches, grain (see `restore`).

    With `job_dir`, `resume` (a job folder to finish), `workers` > 1, `engine="ray"` or `address`
    the film is rendered as a resumable chunked job; otherwise in one pass. Raises `VidbwError`
    for anything the user can fix; never leaves a partial output.
    """
    from vidbw.io.encode import EncodeSettings
    from vidbw.results import default_output_for, renders_film

    source = Path(source)
    with _reading_sequence_at(source, fps):
        options: dict[str, Any]  # keyword arguments: look and encode, then the render's (look or colorize)
        options = {
            "style": style,
            "grain": grain,
            "grain_size": grain_size,
            "grain_seed": grain_seed,
            "toning": toning,
            "codec": codec,
            "crf": crf,
            "preset": preset,
            "pix_fmt": pix_fmt,
            "bit_depth": bit_depth,
        }
        if recipe:
            from vidbw.recipes import load_recipe

            options = load_recipe(recipe).apply(options)
        look = {k: options.pop(k) for k in ("style", "grain", "grain_size", "grain_seed", "toning")}
        look = {k: v for k, v in look.items() if v is not None}
        encode = EncodeSettings(**options)
        _check_colorize_options(colorize, reference, look)
        reference = Path(reference) if reference is not None else None
        shots = Path(shots) if shots is not None else None
        # temporal None when colorizing: chosen when the film is planned (`colorize_render_plan`)
        options = (
            {"colorize": True, "reference": reference, "temporal": temporal}
            if colorize
            else {**look, "temporal": temporal or "light"}
        )
        if restore is not None:
            from vidbw.restore import Restoration

            options["restore"] = Restoration.parse(restore)
        verb = "colorizing" if colorize else "restoring" if look.get("style") == KEEP_PICTURE else "converting"
        if output is None and verb == "restoring":
            output = default_output_for(source, "restored")
        label = f"{verb} {source.name}"
        chunked = job_dir is not None or resume is not None or workers > 1 or engine != "local" or bool(address)
        result: ConvertResult | JobResult
        if chunked:
            result = _convert_job(
                source,
                output,
                options,
                encode,
                device,
                overwrite,
                job_dir,
                resume,
                workers,
                engine,
                address,
                shots,
                detector,
                label,
                progress,
            )
        else:
            from vidbw.pipeline import convert as run_convert

            with _stage(progress, label) as callback:
                result = run_convert(
                    source,
                    output,
                    **options,
                    shots=shots,
                    detector=detector,
                    encode=encode,
                    overwrite=overwrite,
                    device=device,
                    progress=callback,
                )
        return Conversion(
            result,
            source,
            None if colorize else look.get("style"),
            colorize,
            shots,
            film=chunked or renders_film(source, result.output),
            chunked=chunked,
            engine=engine,
            workers=workers,
        )


def _convert_job(
    source: Path,
    output,
    look: dict,
    encode,
    device: str,
    overwrite: bool,
    job_dir,
    resume,
    workers: int,
    engine: str,
    address,
    shots,
    detector: str,
    label: str,
    progress: Progress | None,
) -> JobResult:
    """`convert` as a chunked job: segments in parallel (processes or Ray), resumable from its folder."""
    from vidbw.jobs import run_job

    job_dir = Path(job_dir) if job_dir is not None else None
    resume = Path(resume) if resume is not None else None
    if job_dir and resume and job_dir.resolve() != resume.resolve():
        raise OptionError(
            "`job_dir` and `resume` name different folders; give one", param="job_dir", mentions=("resume",)
        )
    if address and engine != "ray":
        raise OptionError("`address` needs `engine` ray", param="address", mentions=("engine",))
    with _stage(progress, label) as callback:
        return run_job(
            source,
            output,
            job_dir=resume or job_dir,
            resume=resume is not None,
            workers=workers,
            engine=engine,
            address=address,
            overwrite=overwrite,
            progress=callback,
            shots=shots,
            **look,
            encode=encode,
            device=device,
            detector=detector,
        )


def restore_film(
    source: PathLike,
    output: PathLike | None = None,
    *,
    parts: str | None = None,
    **options: Any,
) -> Conversion:
    """Restore a film and keep its picture otherwise as it is (its own luma and colours). (Not
    `restore`: that name is the `vidbw.restore` package.)

    `parts`: None or `"default"` for deflicker, dust and scratches; `"all"`; or a comma list of
    deflicker, stabilize, dust, scratches, grain. The output, encode and job options are `convert`'s
    (`codec`, `crf`, `preset`, `pix_fmt`, `bit_depth`, `shots`, `detector`, `overwrite`, `job_dir`,
    `resume`, `workers`, `engine`, `address`, `progress`). Output defaults to `<stem>_restored.<ext>`.
    """
    for name in ("style", "recipe", "grain", "grain_size", "grain_seed", "toning", "colorize", "reference", "restore"):
        if options.get(name) not in (None, False):
            raise OptionError(f"`restore` keeps the picture's look; `{name}` is for `convert`", param=name)
    return convert(source, output, style=KEEP_PICTURE, restore=parts or "default", **options)


# --------------------------------------------------------------------------- styles


def list_styles() -> list:
    """Every look `convert` takes: the classic styles, then learned ones (shipped and the user's)."""
    from vidbw.styles import list_styles as styles

    return styles()


def list_tonings() -> list:
    """The print tonings (`toning`)."""
    from vidbw.styles import list_tonings as tonings

    return tonings()


def learn_style(
    name: str,
    pairs: PathLike,
    *,
    output: PathLike | None = None,
    description: str | None = None,
    steps: int = 300,
    holdout: float = 0.2,
    seed: int = 0,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> StyleLearned:
    """Learn style `name` from colour/B&W pairs (folder `pairs` with ``color/`` and ``bw/`` of matching
    file stems) and save it as a style file (default: the user style folder, found by name).

    `holdout` (0 to 0.5) of the pairs is kept out of the first fit to report PSNR/SSIM on; the style
    is then refined on all pairs. Returns where it was written, with the scores (`to_json()`).
    """
    from vidbw.train.style_learn import learn_style as learn

    return learn(name, pairs, output, description, steps, holdout, seed, overwrite, stages=progress)


def export_style_lut(
    name: str, output: PathLike, *, size: int = 33, toning: str | None = None, overwrite: bool = False
) -> Path:
    """Write classic style `name` (with an optional print `toning`) as a 3D LUT (.cube, BT.709 R'G'B'
    in and out, `size` lattice points a side) for a grading application."""
    from vidbw.io.atomic import check_output_path
    from vidbw.styles import get_style, get_toning
    from vidbw.styles.lut import check_cube_path, style_lut, write_cube

    output = Path(output)
    check_cube_path(output)  # before the other checks and the work, as write_cube would only after them
    check_output_path(output, (), overwrite)
    look = get_style(name)
    tone = get_toning(toning) if toning else None
    tone = tone if tone is not None and tone.tint is not None else None  # "none" toning: plain gray
    lut = style_lut(look, size, tone)
    write_cube(output, lut, f"vidbw {look.name}" + (f" + {tone.name}" if tone is not None else ""), overwrite)
    return output


def contact_sheet(
    source: PathLike,
    output: PathLike,
    *,
    styles: Sequence[str] | None = None,
    toning: str | None = None,
    at_seconds: float = 0.0,
    overwrite: bool = False,
) -> Path:
    """A labelled contact sheet (.png or .jpg) of looks (`styles`, default all) on the frame of a film
    at `at_seconds`, or on an image."""
    from vidbw.preview import contact_sheet as make_sheet
    from vidbw.render import Look

    names = list(styles) if styles is not None else [s.name for s in list_styles()]
    if not names:
        raise OptionError("`styles` lists no style", param="styles")
    output = Path(output)
    if output.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise OptionError("contact sheet must be .png or .jpg", param="output")
    looks = [(name, Look.named(name, toning=toning)) for name in names]
    return make_sheet(Path(source), looks, output, at_seconds, overwrite)


def evaluate_style(
    pairs: PathLike,
    *,
    train_fraction: float = 0.6,
    seed: int = 0,
    steps: int = 300,
    json_output: PathLike | None = None,
    progress: Progress | None = None,
) -> StyleEval:
    """Learn a style on `train_fraction` of the pairs in folder `pairs`; PSNR/SSIM on the rest against
    the Rec.709 and mix+curve baselines. `json_output`: also write the scores there (`to_json()`)."""
    from vidbw.eval.style import evaluate_style as evaluate
    from vidbw.io.atomic import write_atomic
    from vidbw.train.style_learn import read_pairs

    found = read_pairs(Path(pairs))
    with _stage(progress, "learning") as callback:
        scores = evaluate(found, train_fraction, seed, steps, callback)
    if json_output is not None:
        write_atomic(Path(json_output), scores.to_json())
    return scores


# --------------------------------------------------------------------------- shots and evaluation


@dataclass
class ShotsFound:
    """What `find_shots` found and wrote."""

    shot_list: ShotList
    source: Path
    detector: str
    seconds: float  # the analysis pass
    output: Path | None = None  # the shot list file (None: not written)
    key_frames: list[Path] = field(default_factory=list)  # key frames written

    @property
    def fps(self) -> float:
        return self.shot_list.frames / self.seconds if self.seconds else 0.0

    def render(self, fmt: str = "json") -> str:
        """The shot list as text: json, csv, edl or otio."""
        from vidbw.shots import render_shots

        return render_shots(self.shot_list, fmt, clip_name=self.source.name, source=self.source)

    def to_json(self) -> str:
        return self.shot_list.to_json()


def find_shots(
    source: PathLike,
    output: PathLike | None = None,
    *,
    detector: str = "adaptive",
    fmt: str | None = None,
    min_shot_seconds: float | None = None,
    style: str = "neutral",
    key_frames: PathLike | None = None,
    overwrite: bool = False,
    fps: float | None = None,
    progress: Progress | None = None,
) -> ShotsFound:
    """Find the shots of a film (hard cuts) and, with `output`, write the editable shot list there
    (`fmt` json, csv, edl or otio; default from the suffix). `style` is written into every shot (a learned
    style also chooses each shot's proxy). With `key_frames`, each shot's middle frame is written to
    that folder as NNNNNN.png, to colour and give to `convert(colorize=True, reference=folder)`."""
    from vidbw.io.atomic import check_output_path
    from vidbw.shots import shots_for_style, write_shots
    from vidbw.shots.formats import format_for_path
    from vidbw.styles import get_style

    source = Path(source)
    output = Path(output) if output is not None else None
    key_frames = Path(key_frames) if key_frames is not None else None
    style_obj = get_style(style)
    if output is not None:
        check_output_path(output, (source,), overwrite)  # before the analysis pass, not after it
    if key_frames is not None:
        from vidbw.colorize import check_key_frame_folder

        check_key_frame_folder(key_frames)  # before the analysis pass, not after it
    started = time.perf_counter()
    with _reading_sequence_at(source, fps):
        with _stage(progress, f"finding shots in {source.name}") as callback:
            shot_list = shots_for_style(source, style_obj, detector, min_shot_seconds, callback)
        found = ShotsFound(shot_list, source, detector, time.perf_counter() - started)
        if key_frames is not None:
            from vidbw.colorize import export_key_frames

            with _stage(progress, f"writing key frames to {key_frames}") as callback:
                found.key_frames = export_key_frames(source, shot_list, key_frames, overwrite, callback)
    if output is not None:
        found.output = write_shots(
            shot_list,
            output,
            fmt or format_for_path(output),
            overwrite,
            inputs=(source,),
            clip_name=source.name,
            source=source,
        )
    return found


def evaluate_flicker(
    source: PathLike,
    output: PathLike,
    *,
    shots: PathLike | None = None,
    max_frames: int | None = None,
    width: int = 480,
    colour: bool = False,
) -> FlickerReport:
    """Temporal flicker of `output` (a conversion of `source`), skipping the cuts of `shots` (default:
    detected): the warping-error ratio to the same look held still, the mapping flicker with its
    Rec.709 floor, the Rec.709 warping ratio and the brightness flicker index. With `colour`,
    `output` is a colorization, measured in R'G'B'. The report has `lines()` and `to_json()`."""
    from vidbw.eval.flicker import measure_flicker

    return measure_flicker(source, output, shots=shots, max_frames=max_frames, width=width, colour=colour)


def evaluate_restore(
    source: PathLike,
    output: PathLike,
    *,
    clean: PathLike | None = None,
    shots: PathLike | None = None,
    max_frames: int | None = None,
    width: int = 480,
) -> RestoreReport:
    """How much `output` (a restoration of `source`) steadied and cleaned it: the brightness flicker
    index and warping error of both, within shots (`shots`, default: detected), and PSNR/SSIM against
    `clean` when `source` is a damaged copy of it. The report has `lines()` and `to_json()`."""
    from vidbw.eval.restore import measure_restoration

    return measure_restoration(source, output, clean, shots=shots, max_frames=max_frames, width=width)


def evaluate_colorize(
    truth: PathLike, output: PathLike, *, every: int = 1, frames: range | None = None, progress: Progress | None = None
) -> ColorizeReport:
    """Colorization `output` against the colour original `truth` and its gray: PSNR, SSIM,
    colourfulness, CDC and whether the luma was kept; every `every`th frame, of `frames` only when
    given (e.g. ``range(0, 140)``). `lines()`, `to_json()`."""
    from vidbw.eval.colorize import measure_colorize

    with _stage(progress, "measuring") as callback:
        return measure_colorize(truth, output, every=every, progress=callback, frames=frames)


# --------------------------------------------------------------------------- training


def _check_training_device(device: str) -> None:
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise OptionError("`device` cuda: no CUDA device available", param="device")


def _train(kind: str, device: str, progress: Progress | None, run) -> dict:
    _check_training_device(device)
    with _stage(progress, f"training {kind}") as callback:
        return run(callback)


def train_retoucher(
    data: Sequence[PathLike],
    out: PathLike = "models/retoucher",
    *,
    steps: int = 8000,
    batch: int = 16,
    device: str = "cpu",
    seed: int = 0,
    resume: bool = False,
    command: str = "",
    progress: Progress | None = None,
) -> dict:
    """Train the grid network, style encoder and proxies on synthetic expert styles from the photos
    and videos in `data`, into folder `out` (with `resume`, continue its checkpoint). `command` is
    recorded in the model card. Returns the training state (step, elapsed_s, history)."""
    from vidbw.train.retoucher import TrainConfig
    from vidbw.train.retoucher import train_retoucher as train

    cfg = TrainConfig(steps=steps, batch=batch, device=device, seed=seed)
    return _train(
        "retoucher",
        device,
        progress,
        lambda callback: train(
            [Path(d) for d in data], Path(out), cfg, resume=resume, progress=callback, command=command
        ),
    )


def train_colorizer(
    data: Sequence[PathLike],
    out: PathLike = "models/colorizer",
    *,
    exclude: Sequence[str] = (),
    steps: int = 4000,
    device: str = "cpu",
    seed: int = 0,
    resume: bool = False,
    command: str = "",
    progress: Progress | None = None,
) -> dict:
    """Train the automatic colorizer (colour grids from luma) on the colour photos and videos in
    `data` (less the `exclude` patterns), into folder `out`. Returns the training state."""
    from vidbw.train.colorizer import ColorizerTrainConfig
    from vidbw.train.colorizer import train_colorizer as train

    cfg = ColorizerTrainConfig(steps=steps, device=device, seed=seed)
    return _train(
        "colorizer",
        device,
        progress,
        lambda callback: train(
            [Path(d) for d in data], Path(out), cfg, resume=resume, exclude=exclude, progress=callback, command=command
        ),
    )


def make_pairs(
    photos: Sequence[PathLike],
    out: PathLike,
    *,
    style_seed: int,
    family: str | None = None,
    max_pixels: int = 1_000_000,
    limit: int | None = None,
) -> int:
    """Render colour/B&W pairs of `photos` with one synthetic expert style into `out` (color/, bw/);
    returns how many pairs were written."""
    from vidbw.train.pairs import make_pairs as make

    return make([Path(p) for p in photos], Path(out), style_seed, family, max_pixels, limit)
