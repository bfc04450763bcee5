"""The `vidbw` command: click commands and rich progress around the library, nothing else."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from vidbw.errors import OptionError, VidbwError

# soft_wrap: messages are never broken at the terminal width, so an error stays one line (paths are long).
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


class _Progress:
    """A rich progress bar (frames, fps, ETA) on stderr, or nothing with --quiet."""

    def __init__(self, label: str, quiet: bool):
        self.quiet = quiet
        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[fps]}"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=stderr, transient=True, disable=quiet,
        )
        self.task = self.bar.add_task(label, total=None, fps="")

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def __call__(self, done: int, total: int) -> None:
        task = self.bar.tasks[0]
        speed = task.speed
        self.bar.update(self.task, completed=done, total=total or None, fps=f"{speed:5.1f} fps" if speed else "")


def _say(quiet: bool, message: str) -> None:
    if not quiet:
        stderr.print(message)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vidbw")
def cli() -> None:
    """Colour to aesthetic black-and-white for films, images and folders of images."""


@cli.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Output file or folder [default: <stem>_bw.<ext> beside the input].")
@click.option("--pipeline", "recipe", help="A recipe from pipelines/ (or a .toml path) that presets look and encode.")
@click.option("-s", "--style", help="Look to apply (see `vidbw styles`)  [default: neutral].")
@click.option("--grain", type=click.FloatRange(0, 1), help="Film grain amount, 0 = none (0.02 fine … 0.1 heavy).")
@click.option("--grain-size", type=click.FloatRange(0.3, 4), help="Grain clump size in pixels [default: 1].")
@click.option("--grain-seed", type=int, help="Seed that makes grain reproducible [default: 0].")
@click.option("--toning", help="Print toning: sepia, selenium, cyanotype or none.")
@click.option("--codec", help="libx264 (default), libx265, prores_ks, ffv1, libvpx-vp9, mpeg2video.")
@click.option("--crf", type=click.IntRange(0, 63), help="Constant rate factor for x264/x265/vp9 [default: 18/20/31].")
@click.option("--preset", help="Encoder preset for x264/x265 [default: medium].")
@click.option("--pix-fmt", help="Output pixel format, e.g. yuv420p10le [default: from codec and bit depth].")
@click.option("--bit-depth", type=click.Choice(["8", "10"]), help="Output bit depth [default: the input's].")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary; print only the output path.")
def convert(source, output, recipe, style, grain, grain_size, grain_seed, toning, codec, crf, preset, pix_fmt, bit_depth,
            device, overwrite, quiet) -> None:
    """Convert a film, an image or a folder of images to black and white."""
    from vidbw.io.video import EncodeSettings
    from vidbw.pipeline import convert as run_convert
    from vidbw.recipes import load_recipe

    look = {"style": style, "grain": grain, "grain_size": grain_size, "grain_seed": grain_seed, "toning": toning}
    encode = {"codec": codec, "crf": crf, "preset": preset, "pix_fmt": pix_fmt, "bit_depth": int(bit_depth) if bit_depth else None}
    if recipe:
        chosen = load_recipe(recipe)
        # Flags given on the command line win over the recipe's values.
        look = {k: v if v is not None else chosen.look.get(k) for k, v in look.items()}
        encode = {k: v if v is not None else chosen.encode.get(k) for k, v in encode.items()}
    look_args = {k: v for k, v in look.items() if v is not None}
    with _Progress(f"converting {source.name}", quiet) as progress:
        result = run_convert(source, output, **look_args, encode=EncodeSettings(**encode), overwrite=overwrite,
                             device=device, progress=progress)
    for note in result.notes:
        _say(quiet, f"[yellow]note:[/] {note}")
    unit = "frames" if result.frames != 1 else "frame"
    _say(quiet, f"done: {result.frames} {unit} in {result.seconds:.1f}s ({result.fps:.1f} fps), style {look.get('style') or 'neutral'}"
         + (f", {result.concealed_frames} frames concealed" if result.concealed_frames else ""))
    click.echo(str(result.output))


@cli.command()
def styles() -> None:
    """List the looks: built-in classic styles, learned styles, and tonings."""
    from vidbw.styles import list_styles, list_tonings

    table = Table(title="styles", show_lines=False)
    for column in ("name", "kind", "description", "mix R/G/B"):
        table.add_column(column)
    for style in list_styles():
        mix = getattr(style, "mix", None)
        table.add_row(style.name, style.kind, style.description, " ".join(f"{w:+.2f}" for w in mix) if mix else "per region")
    Console().print(table)
    tonings = Table(title="tonings (--toning)")
    tonings.add_column("name")
    tonings.add_column("description")
    for toning in list_tonings():
        tonings.add_row(toning.name, toning.description)
    Console().print(tonings)


@cli.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--at", "at_seconds", type=float, default=0.0, show_default=True, help="Time of the frame, in seconds.")
@click.option("--styles", "style_names", help="Comma-separated looks [default: all].")
@click.option("--toning", help="Toning applied to every tile.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Contact sheet path (.png or .jpg).")
@click.option("--overwrite", is_flag=True)
def preview(source, at_seconds, style_names, toning, output, overwrite) -> None:
    """A labelled contact sheet of looks on one frame or image."""
    from vidbw.render import Look
    from vidbw.preview import contact_sheet
    from vidbw.styles import list_styles

    names = [n.strip() for n in style_names.split(",") if n.strip()] if style_names else [s.name for s in list_styles()]
    if not names:
        raise OptionError("--styles lists no style")
    if output.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise OptionError("contact sheet must be .png or .jpg")
    looks = [(name, Look.named(name, toning=toning)) for name in names]
    click.echo(str(contact_sheet(source, looks, output, at_seconds, overwrite)))


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or exc.__class__.__name__


def main(argv: list[str] | None = None) -> None:
    """Entry point: every expected failure becomes one line on stderr and a non-zero exit."""

    def terminate(signum, frame):  # SIGTERM unwinds like Ctrl-C, so temporary files are removed
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        cli.main(args=argv, prog_name="vidbw", standalone_mode=False)
    except VidbwError as exc:
        stderr.print(f"vidbw: error: {_one_line(exc)}", markup=False)
        sys.exit(1)
    except click.exceptions.Abort:
        stderr.print("vidbw: interrupted; no output written", markup=False)
        sys.exit(130)
    except KeyboardInterrupt:
        stderr.print("vidbw: interrupted; no output written", markup=False)
        sys.exit(130)
    except click.ClickException as exc:
        hint = f" (see vidbw {exc.ctx.command.name} --help)" if getattr(exc, "ctx", None) and exc.ctx.command else ""
        stderr.print(f"vidbw: error: {_one_line(exc.format_message())}{hint}", markup=False)
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug: still one line, the traceback only on request
        if os.environ.get("VIDBW_DEBUG"):
            raise
        stderr.print(f"vidbw: internal error: {exc.__class__.__name__}: {_one_line(exc)} (VIDBW_DEBUG=1 shows the traceback)", markup=False)
        sys.exit(3)
