"""The `vidbw` command: click commands and rich progress around the library, nothing else."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from vidbw import api
from vidbw.errors import VidbwError

# soft_wrap: messages are never broken at the terminal width, so an error stays one line (paths are long).
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


class _Progress:
    """A rich progress bar on stderr (count, rate or status, ETA); nothing with --quiet or off a terminal.

    Called as `progress(done, total)` it shows frames per second; `progress(done, total, fields)`
    shows the fields instead (losses and the like while training).
    """

    def __init__(self, label: str, quiet: bool = False):
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=stderr,
            transient=True,
            disable=quiet or not stderr.is_terminal,  # a log file gets the summary line, not bar redraws
        )
        self.task = self.bar.add_task(label, total=None, status="")
        self._shown = float("-inf")  # when the bar last changed

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def __call__(self, done: int, total: int, fields: dict | None = None) -> None:
        # At most 20 updates a second (the bar redraws 10 times): a film calls this for every frame,
        # and working out the rate each time costs the render loop ~0.1 ms.
        now = time.monotonic()
        if self.bar.disable or (now - self._shown < 0.05 and done != total):
            return
        self._shown = now
        if fields:
            status = "  ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in fields.items())
        else:
            speed = self.bar.tasks[0].speed
            status = f"{speed:5.1f} fps" if speed else ""
        self.bar.update(self.task, completed=done, total=total or None, status=status)


def _say(quiet: bool, message: str) -> None:
    if not quiet:
        stderr.print(message)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vidbw")
def cli() -> None:
    """Colour to aesthetic black-and-white (and, with convert --colorize, B&W to colour) for films,
    images and folders of images."""


_SEQUENCE_FPS = click.option(
    "--fps",
    type=float,
    help="Frame rate of an image sequence: a folder of numbered frames (DPX, TIFF, PNG ...) read as a "
    "film  [default: 24].",
)


_RENDER_OPTIONS = [
    click.option(
        "--codec",
        help="libx264 (default; or h264), libx265 (hevc), prores_ks (prores), dnxhd (dnxhr), ffv1, "
        "libvpx-vp9 (vp9), mpeg2video (mpeg2). Without it a ProRes, DNxHR or FFV1 source keeps its codec.",
    ),
    click.option(
        "--crf", type=click.IntRange(0, 63), help="Constant rate factor for x264/x265/vp9 [default: 18/20/31]."
    ),
    click.option("--preset", help="Encoder preset for x264/x265 [default: medium]."),
    click.option("--pix-fmt", help="Output pixel format, e.g. yuv420p10le [default: from codec and bit depth]."),
    click.option("--bit-depth", type=click.Choice(["8", "10"]), help="Output bit depth [default: the input's]."),
    click.option(
        "--shots",
        "shots_file",
        type=click.Path(path_type=Path),
        help="A shot list (JSON or OTIO from `vidbw shots`, maybe edited): render each shot with its own style "
        "and proxy.",
    ),
    click.option(
        "--detector",
        type=click.Choice(["adaptive", "content", "transnet"]),
        default="adaptive",
        show_default=True,
        help="Cut detector for the analysis pass of learned styles (without --shots).",
    ),
    click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True),
    click.option("--overwrite", is_flag=True, help="Replace an existing output."),
    click.option("-q", "--quiet", is_flag=True, help="No progress or summary; print only the output path."),
    click.option(
        "--job-dir", type=click.Path(path_type=Path), help="Run as a resumable chunked job kept in this folder."
    ),
    click.option(
        "--resume",
        type=click.Path(path_type=Path),
        help="Finish the job in this folder (renders only unfinished segments).",
    ),
    click.option(
        "--workers", type=click.IntRange(1, 1024), default=1, show_default=True, help="Segments rendered in parallel."
    ),
    click.option(
        "--engine",
        type=click.Choice(["local", "ray"]),
        default="local",
        show_default=True,
        help="local processes, or Ray tasks (pip install 'vidbw[ray]').",
    ),
    click.option(
        "--address",
        help="Ray cluster address (HOST:PORT, or 'local' for a private one) [default: the running "
        "cluster in RAY_ADDRESS or from `ray start`, else a private local one].",
    ),
]


def _options(options: list):
    """A decorator that adds a shared list of click options to a command, in that order."""

    def decorate(command):
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


# The encode, shot and job options that `convert` and `restore` share.
_render_options = _options(_RENDER_OPTIONS)


@cli.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Output file or folder [default: <stem>_bw.<ext> beside the input].",
)
@click.option("--pipeline", "recipe", help="A recipe from pipelines/ (or a .toml path) that presets look and encode.")
@click.option("-s", "--style", help="Look to apply (see `vidbw styles`)  [default: neutral].")
@click.option("--grain", type=click.FloatRange(0, 1), help="Film grain amount, 0 = none (0.02 fine … 0.1 heavy).")
@click.option("--grain-size", type=click.FloatRange(0.3, 4), help="Grain clump size in pixels [default: 1].")
@click.option("--grain-seed", type=int, help="Seed that makes grain reproducible [default: 0].")
@click.option("--toning", help="Print toning: sepia, selenium, cyanotype or none.")
@click.option(
    "--temporal",
    type=click.Choice(["off", "light", "strong"]),
    help="Smoothing of learned grids over time within each shot, never across a cut; light "
    "predicts every 4th frame's B&W grid (every 2nd where it changes fast), strong every 4th, "
    "and the others are interpolated  [default: light].",
)
@click.option("--explain", is_flag=True, help="Report the style and proxy chosen for each shot or image.")
@_render_options
@click.option("--colorize", is_flag=True, help="Colour B&W footage instead: luma kept exactly, chroma predicted.")
@click.option(
    "--reference",
    type=click.Path(path_type=Path),
    help="With --colorize: a coloured key frame for the film, or a folder of key frames named by frame number "
    "(any number per shot).",
)
@click.option(
    "--restore",
    is_flag=False,
    flag_value="default",
    default=None,
    metavar="[PARTS]",
    help="Restore the film before the look or the colour: deflicker, dust and scratches, or a comma list "
    "of deflicker, stabilize, dust, scratches, grain (or all).",
)
@_SEQUENCE_FPS
def convert(
    source,
    output,
    recipe,
    style,
    grain,
    grain_size,
    grain_seed,
    toning,
    temporal,
    explain,
    colorize,
    reference,
    restore,
    fps,
    **render,
) -> None:
    """Convert a film, an image or a folder of images to black and white (or, with --colorize, to colour).

    A folder converted to a film file (-o reel.mov) is read as one numbered image sequence (film scans)."""
    quiet = render["quiet"]
    done = api.convert(
        source,
        output,
        recipe=recipe,
        style=style,
        grain=grain,
        grain_size=grain_size,
        grain_seed=grain_seed,
        toning=toning,
        colorize=colorize,
        reference=reference,
        restore=restore,
        temporal=temporal,
        fps=fps,
        **_render_arguments(render),
    )
    _report(done, quiet, explain)


@cli.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Output file [default: <stem>_restored.<ext> beside the input].",
)
@click.option(
    "--parts",
    metavar="PARTS",
    help="deflicker, stabilize, dust, scratches, grain, as a comma list, or all  [default: deflicker,dust,scratches].",
)
@_render_options
def restore(source, output, parts, **render) -> None:
    """Restore an archive film (flicker, dust, scratches, gate weave, grain) and keep its own picture:
    the same luma and colours otherwise, the same encode and job options as `convert`."""
    done = api.restore_film(source, output, parts=parts, **_render_arguments(render))
    _report(done, render["quiet"], False)


def _render_arguments(render: dict) -> dict:
    """The API's keywords for `_RENDER_OPTIONS` as click passes them."""
    arguments = {k: v for k, v in render.items() if k not in ("quiet", "shots_file", "bit_depth")}
    quiet = render["quiet"]
    return {
        **arguments,
        "shots": render["shots_file"],
        "bit_depth": int(render["bit_depth"]) if render["bit_depth"] else None,
        "progress": lambda label: _Progress(label, quiet),
    }


def _report(done: api.Conversion, quiet: bool, explain: bool) -> None:
    """The summary of a conversion on stderr, then its output path on stdout."""
    for note in done.notes:
        _say(quiet, f"[yellow]note:[/] {note}")
    if explain:  # printed even with -q
        for line in done.explain or ["classic style: one constant grid, no proxies"]:
            stderr.print(f"explain: {line}", markup=False)
    look = (
        "colorized"
        if done.colorize
        else "restored"
        if done.style == api.KEEP_PICTURE
        else _styles_used(done.style, done.shots)
    )
    if done.chunked:
        from vidbw.jobs import JobResult

        job = done.result
        assert isinstance(job, JobResult)  # a chunked conversion's result is its job's
        _say(quiet, f"done: {job.frames} frames in {job.seconds:.1f}s ({job.fps:.1f} fps rendered), {look}")
        _say(
            quiet,
            f"segments: {job.segments} total, {job.rendered} rendered, {job.reused} reused from the job "
            f"folder, {job.retried} retried ({done.engine}, {done.workers} worker{'s' if done.workers != 1 else ''})"
            + (f"; job folder kept: {job.job_dir}" if job.job_dir.exists() else ""),
        )
    elif done.colorize:
        _say(quiet, f"done: {_amount_done(done, 'colorized')}")
    else:
        from vidbw.results import ConvertResult

        assert isinstance(done.result, ConvertResult)  # a single pass's result
        concealed = done.result.concealed_frames
        _say(quiet, f"done: {_amount_done(done)}, {look}" + (f", {concealed} frames concealed" if concealed else ""))
    click.echo(str(done.output))


def _amount_done(done: api.Conversion, verb: str = "") -> str:
    """'240 frames in 5.3s (45.3 fps)' for a film, '3 images in 1.3s (2.4 images/s)' for pictures."""
    still = not done.film
    noun = ("image" if still else "frame") + ("s" if done.frames != 1 else "")
    rate = f"{done.fps:.1f} {'images/s' if still else 'fps'}"
    return f"{done.frames} {noun}{' ' + verb if verb else ''} in {done.seconds:.1f}s ({rate})"


def _styles_used(style: str | None, shots_file: Path | None) -> str:
    """The summary's word on the look: one style, or the shot list's (whose shots may each have their own)."""
    style = style or "neutral"
    return f"styles from {shots_file.name} (default {style})" if shots_file is not None else f"style {style}"


@cli.command()
def styles() -> None:
    """List the looks: built-in classic styles, learned styles, and tonings."""
    table = Table(title="styles", show_lines=False)
    for column in ("name", "kind", "description", "mix R/G/B"):
        table.add_column(column)
    for style in api.list_styles():
        mix = getattr(style, "mix", None)
        table.add_row(
            style.name, style.kind, style.description, " ".join(f"{w:+.2f}" for w in mix) if mix else "per region"
        )
    Console().print(table)
    tonings = Table(title="tonings (--toning)")
    tonings.add_column("name")
    tonings.add_column("description")
    for toning in api.list_tonings():
        tonings.add_row(toning.name, toning.description)
    Console().print(tonings)


@cli.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--at", "at_seconds", type=float, default=0.0, show_default=True, help="Time of the frame, in seconds.")
@click.option("--styles", "style_names", help="Comma-separated looks [default: all].")
@click.option("--toning", help="Toning applied to every tile.")
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), required=True, help="Contact sheet path (.png or .jpg)."
)
@click.option("--overwrite", is_flag=True)
def preview(source, at_seconds, style_names, toning, output, overwrite) -> None:
    """A labelled contact sheet of looks on one frame or image."""
    names = [n.strip() for n in style_names.split(",") if n.strip()] if style_names else None
    click.echo(
        str(api.contact_sheet(source, output, styles=names, toning=toning, at_seconds=at_seconds, overwrite=overwrite))
    )


# --------------------------------------------------------------------------- learned styles (retoucher)


@cli.group()
def train() -> None:
    """Train the retoucher and render training/evaluation pairs."""


def _training_options(command):
    """The options every `vidbw train` command shares."""
    for option in reversed(
        (
            click.option("--resume", is_flag=True, help="Continue from the checkpoint in --out."),
            click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True),
            click.option("--seed", type=int, default=0, show_default=True),
            click.option("-q", "--quiet", is_flag=True),
        )
    ):
        command = option(command)
    return command


def _run_training(kind: str, quiet: bool, run) -> tuple[dict, dict]:
    """`run(command, progress)` with the command line, recorded in the model card. Returns the final
    training state and its last history record."""
    command = f"vidbw train {kind} " + " ".join(sys.argv[3:])
    state = run(command.strip(), lambda label: _Progress(label, quiet))
    return state, (state["history"][-1] if state["history"] else {})


@train.command("retoucher")
@click.option(
    "--data",
    "data",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="Folder of photos/videos, or a file (repeatable).",
)
@click.option("--out", type=click.Path(path_type=Path), default=Path("models/retoucher"), show_default=True)
@click.option("--steps", type=click.IntRange(1), default=8000, show_default=True)
@click.option("--batch", type=click.IntRange(1), default=16, show_default=True)
@_training_options
def train_retoucher_cmd(data, out, steps, batch, resume, device, seed, quiet) -> None:
    """Train grid network, style encoder and proxies on synthetic expert styles."""
    state, last = _run_training(
        "retoucher",
        quiet,
        lambda command, progress: api.train_retoucher(
            data,
            out,
            steps=steps,
            batch=batch,
            device=device,
            seed=seed,
            resume=resume,
            command=command,
            progress=progress,
        ),
    )
    _say(
        quiet,
        f"done: {state['step']} steps in {state['elapsed_s'] / 60:.1f} min, "
        f"last train PSNR {last.get('psnr', 0):.2f} dB",
    )
    click.echo(str(out))


@train.command("make-pairs")
@click.option("--style-seed", type=int, required=True, help="Expert-style seed (>= 100000: held out of training).")
@click.option(
    "--family",
    type=click.Choice(["landscape", "portrait", "noir", "soft", "infrared"]),
    help="Style family [default: chosen by the seed]; infrared is never trained on.",
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder to write color/ and bw/ into.")
@click.option(
    "--photos", multiple=True, required=True, type=click.Path(path_type=Path), help="Photo folder or file (repeatable)."
)
@click.option("--max-pixels", type=click.IntRange(1024), default=1_000_000, show_default=True)
@click.option("--limit", type=click.IntRange(1), help="Use only the first N photos.")
def train_make_pairs(style_seed, family, out, photos, max_pixels, limit) -> None:
    """Render colour/B&W pairs of photos with one expert style."""
    n = api.make_pairs(photos, out, style_seed=style_seed, family=family, max_pixels=max_pixels, limit=limit)
    stderr.print(f"{n} pairs written", markup=False)
    click.echo(str(out))


@train.command("colorizer")
@click.option(
    "--data",
    "data",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="Folder (searched recursively) of colour photos/videos, or a file (repeatable).",
)
@click.option("--exclude", multiple=True, help="File-name or path pattern to leave out, e.g. 'dog_park*' (repeatable).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("models/colorizer"), show_default=True)
@click.option("--steps", type=click.IntRange(1), default=4000, show_default=True)
@_training_options
def train_colorizer_cmd(data, exclude, out, steps, resume, device, seed, quiet) -> None:
    """Train the automatic colorizer (colour grids from luma) and its correspondence features."""
    state, last = _run_training(
        "colorizer",
        quiet,
        lambda command, progress: api.train_colorizer(
            data,
            out,
            exclude=exclude,
            steps=steps,
            device=device,
            seed=seed,
            resume=resume,
            command=command,
            progress=progress,
        ),
    )
    _say(
        quiet,
        f"done: {state['step']} steps in {state['elapsed_s'] / 60:.1f} min, last {last.get('db_vs_gray', 0):+.2f} dB "
        f"over gray, chroma strength {last.get('sat_ratio', 0):.2f} of the truth (training crops)",
    )
    click.echo(str(out))


@cli.group()
def style() -> None:
    """Learn a B&W style from example pairs, or export a classic one as a 3D LUT."""


@style.command("learn")
@click.argument("name")
@click.option(
    "--pairs",
    "pairs_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder with color/ and bw/ subfolders of matching file stems.",
)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Style file [default: the user style folder].")
@click.option("--description", help="One line shown by `vidbw styles` (<= 70 characters).")
@click.option("--steps", type=click.IntRange(10), default=300, show_default=True)
@click.option(
    "--holdout",
    type=click.FloatRange(0, 0.5),
    default=0.2,
    show_default=True,
    help="Fraction of pairs kept out of the fit to report PSNR/SSIM on (0: none).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True)
@click.option("-q", "--quiet", is_flag=True)
def style_learn(name, pairs_dir, output, description, steps, holdout, seed, overwrite, quiet) -> None:
    """Learn style NAME from colour/B&W pairs and save it as a style file."""
    learned = api.learn_style(
        name,
        pairs_dir,
        output=output,
        description=description,
        steps=steps,
        holdout=holdout,
        seed=seed,
        overwrite=overwrite,
        progress=lambda label: _Progress(label, quiet),
    )
    if learned.held_out:
        _say(
            quiet,
            f"held-out fit on {learned.held_out} pairs: PSNR {learned.heldout_psnr:.2f} dB, "
            f"SSIM {learned.heldout_ssim:.4f}",
        )
    _say(
        quiet,
        f"style {learned.name}: {learned.n_pairs} pairs, {learned.fit_seconds:.0f}s fit; "
        f"`vidbw convert --style {learned.name if learned.by_name else learned.path}` uses it",
    )
    click.echo(str(learned.path))


@style.command("export")
@click.argument("name")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="The LUT file (.cube).")
@click.option("--size", type=click.IntRange(2, 129), default=33, show_default=True, help="Lattice points per side.")
@click.option("--toning", help="Print toning baked into the LUT: sepia, selenium, cyanotype.")
@click.option("--overwrite", is_flag=True)
def style_export(name, output, size, toning, overwrite) -> None:
    """Write classic style NAME as a 3D LUT (.cube; BT.709 R'G'B' in and out) for a grading application."""
    click.echo(str(api.export_style_lut(name, output, size=size, toning=toning, overwrite=overwrite)))


@cli.group(name="eval")
def eval_group() -> None:
    """Evaluate vidbw against references and baselines."""


@eval_group.command("style")
@click.option("--pairs", "pairs_dir", type=click.Path(path_type=Path), required=True)
@click.option("--train-fraction", type=float, default=0.6, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--steps", type=click.IntRange(10), default=300, show_default=True)
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Also write the scores as JSON here.")
@click.option("-q", "--quiet", is_flag=True)
def eval_style(pairs_dir, train_fraction, seed, steps, json_out, quiet) -> None:
    """Learn a style on part of the pairs; PSNR/SSIM on the rest vs Rec.709 and mix+curve baselines."""
    ev = api.evaluate_style(
        pairs_dir,
        train_fraction=train_fraction,
        seed=seed,
        steps=steps,
        json_output=json_out,
        progress=lambda label: _Progress(label, quiet),
    )
    table = Table(title=f"style imitation: {ev.n_train} training pairs, {ev.n_test} held-out pairs")
    for column in ("method", "PSNR (dB)", "SSIM"):
        table.add_column(column)
    for name, label in (
        ("rec709", "Rec.709 luma"),
        ("mix+curve", "global mix + monotone curve"),
        ("learned", "vidbw learned style"),
    ):
        table.add_row(label, f"{ev.rows[name][0]:.2f}", f"{ev.rows[name][1]:.4f}")
    Console().print(table)
    click.echo(
        f"gain over mix+curve: {ev.gain_over_mix_curve:+.2f} dB PSNR, "
        f"{ev.rows['learned'][1] - ev.rows['mix+curve'][1]:+.4f} SSIM (fit {ev.fit_seconds:.0f}s)"
    )


# --------------------------------------------------------------------------- shots and flicker


@cli.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "--detector",
    type=click.Choice(["adaptive", "content", "transnet"]),
    default="adaptive",
    show_default=True,
    help="PySceneDetect adaptive/content detector, or the TransNetV2 network.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "csv", "edl", "otio"]),
    help="Shot list format [default: from the -o suffix, else json]; otio is an OpenTimelineIO timeline.",
)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write the shot list here [default: print it].")
@click.option(
    "--min-shot-seconds",
    type=click.FloatRange(0),
    default=None,
    help="No two cuts closer than this [default: 0.1 for adaptive, which tells flashes and dissolves from "
    "cuts itself; 0.5 for content and transnet, to keep them from cutting repeatedly].",
)
@click.option(
    "-s",
    "--style",
    default="neutral",
    show_default=True,
    help="Style written into every shot; a learned style also writes the proxy it chooses for each.",
)
@click.option(
    "--key-frames",
    "key_frames",
    type=click.Path(path_type=Path),
    help="Also write each shot's key frame (its middle frame), full size, as DIR/NNNNNN.png: colour "
    "them in any editor and give the folder to `convert --colorize --reference DIR`.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing output (and key frames of the same name).")
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary.")
@_SEQUENCE_FPS
def shots(source, detector, fmt, output, min_shot_seconds, style, key_frames, overwrite, quiet, fps) -> None:
    """Find the shots of a film (hard cuts) and write an editable shot list (JSON, CSV, EDL or OTIO)."""
    found = api.find_shots(
        source,
        output,
        detector=detector,
        fmt=fmt,
        min_shot_seconds=min_shot_seconds,
        style=style,
        key_frames=key_frames,
        overwrite=overwrite,
        fps=fps,
        progress=lambda label: _Progress(label, quiet),
    )
    count = len(found.shot_list)
    _say(
        quiet,
        f"{count} shot{'s' if count != 1 else ''} in {found.shot_list.frames} frames "
        f"({detector}, {found.seconds:.1f}s, {found.fps:.0f} fps)",
    )
    if found.key_frames:
        plural = len(found.key_frames) != 1
        _say(
            quiet,
            f"{len(found.key_frames)} key frame{'s' if plural else ''} in {key_frames}: colour "
            f"{'them' if plural else 'it'}, then vidbw convert {source} --colorize --reference {key_frames}",
        )
    if output is None:
        click.echo(found.render(fmt or "json"), nl=False)
        return
    click.echo(str(found.output))


# The options `eval flicker` and `eval restore` share: cuts, length, size, JSON.
_film_measure_options = _options(
    [
        click.option(
            "--shots",
            "shots_file",
            type=click.Path(path_type=Path),
            help="Shot list (JSON or OTIO) whose cuts are skipped [default: detect cuts on SOURCE].",
        ),
        click.option("--max-frames", type=click.IntRange(2), help="Measure only the first N frames."),
        click.option(
            "--width", type=click.IntRange(32, 3840), default=480, show_default=True, help="Analysis width in pixels."
        ),
        click.option("--json", "as_json", is_flag=True, help="Print the report as JSON."),
    ]
)


@eval_group.command("flicker")
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("output", type=click.Path(path_type=Path))
@_film_measure_options
@click.option(
    "--colour",
    "colour",
    is_flag=True,
    help="OUTPUT is a colorization: measure its R'G'B'; the look held still is a per-shot colour transform.",
)
def eval_flicker(source, output, shots_file, max_frames, width, as_json, colour) -> None:
    """Temporal flicker of OUTPUT (a conversion of SOURCE): warping error vs the same look held still
    (per shot one channel mix and tone curve of SOURCE fitted to OUTPUT), mapping flicker of the look
    vs its Rec.709 floor, the Rec.709 warping ratio and the brightness flicker index."""
    _print_report(
        api.evaluate_flicker(source, output, shots=shots_file, max_frames=max_frames, width=width, colour=colour),
        as_json,
    )


@eval_group.command("restore")
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("output", type=click.Path(path_type=Path))
@click.option(
    "--clean", type=click.Path(path_type=Path), help="The clean original, when SOURCE is a damaged copy of it."
)
@_film_measure_options
def eval_restore(source, output, clean, shots_file, max_frames, width, as_json) -> None:
    """How much OUTPUT (a restoration of SOURCE) steadied and cleaned it: brightness flicker index,
    warping error, and PSNR/SSIM against the clean original when there is one."""
    _print_report(
        api.evaluate_restore(source, output, clean=clean, shots=shots_file, max_frames=max_frames, width=width),
        as_json,
    )


@eval_group.command("colorize")
@click.argument("truth", type=click.Path(path_type=Path))
@click.argument("output", type=click.Path(path_type=Path))
@click.option(
    "--every",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Measure every Nth frame (CDC: the pairs starting there; the luma check still sees every frame).",
)
@click.option(
    "--frames",
    callback=lambda _ctx, _param, value: _frame_range(value),
    metavar="START:END",
    help="Measure only frames START to END-1 (either may be left out), e.g. before and after a key frame.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def eval_colorize(truth, output, every, frames, as_json) -> None:
    """Colorization OUTPUT vs the colour original TRUTH, and TRUTH's gray: PSNR, SSIM, colourfulness, CDC, luma kept."""
    progress = lambda label: _Progress(label, as_json)  # noqa: E731
    _print_report(api.evaluate_colorize(truth, output, every=every, frames=frames, progress=progress), as_json)


def _frame_range(text: str | None) -> range | None:
    """``START:END`` (END exclusive; either may be left out) -> range(START, END)."""
    if text is None:
        return None
    start, colon, end = text.partition(":")
    if colon and (start or "0").isdigit() and (end or "0").isdigit():
        return range(int(start or 0), int(end) if end else sys.maxsize)
    raise click.BadParameter(f"expected START:END (frame numbers, END exclusive), got {text!r}")


def _print_report(report, as_json: bool) -> None:
    """An eval report: its notes on stderr, then its table on stdout (or its JSON alone)."""
    for note in report.notes:
        _say(as_json, f"[yellow]note:[/] {note}")
    if as_json:
        click.echo(report.to_json(), nl=False)
        return
    for line in report.lines():
        click.echo(line)


def _one_line(exc: BaseException | str, text: str | None = None) -> str:
    return " ".join((str(exc) if text is None else text).split()) or exc.__class__.__name__


def _flag(param: str) -> str:
    """The flag of a library parameter: the option that sets it (`at_seconds`: --at), else --param-name."""
    commands = [cli]
    while commands:
        command = commands.pop()
        commands.extend(getattr(command, "commands", {}).values())
        for option in command.params:
            if isinstance(option, click.Option) and option.name == param:
                return next((o for o in option.opts if o.startswith("--")), option.opts[0])
    return "--" + param.replace("_", "-")


def main(argv: list[str] | None = None) -> None:
    """Entry point: every expected failure becomes one line on stderr and a non-zero exit."""

    def terminate(signum, frame):  # SIGTERM unwinds like Ctrl-C, so temporary files are removed
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        cli.main(args=argv, prog_name="vidbw", standalone_mode=False)
    except VidbwError as exc:
        stderr.print(f"vidbw: error: {_one_line(exc, exc.message_naming(_flag))}", markup=False)
        sys.exit(1)
    except click.exceptions.Abort:
        stderr.print("vidbw: interrupted; no output written", markup=False)
        sys.exit(130)
    except KeyboardInterrupt:
        stderr.print("vidbw: interrupted; no output written", markup=False)
        sys.exit(130)
    except click.ClickException as exc:
        ctx: click.Context | None = getattr(exc, "ctx", None)  # a UsageError's (ClickException has none)
        hint = f" (see vidbw {ctx.command.name} --help)" if ctx and ctx.command else ""
        stderr.print(f"vidbw: error: {_one_line(exc.format_message())}{hint}", markup=False)
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug: still one line, the traceback only on request
        if os.environ.get("VIDBW_DEBUG"):
            raise
        stderr.print(
            f"vidbw: internal error: {exc.__class__.__name__}: {_one_line(exc)} (VIDBW_DEBUG=1 shows the traceback)",
            markup=False,
        )
        sys.exit(3)
