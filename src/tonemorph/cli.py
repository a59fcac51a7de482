"""Command line: thin wrappers over the Python API.

Exit codes: 0 ok, 2 user error (one line on stderr), 130 Ctrl-C, 143 SIGTERM. Outputs follow
one rule (`tonemorph.io.paths`): never an input of the command, never two outputs on one path,
an existing file is replaced only with --force, and every output location is checked before
any work starts.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from typer.core import TyperCommand, TyperGroup

from tonemorph.errors import TonemorphError

if TYPE_CHECKING:  # the CLI imports the model only when a command needs it
    from tonemorph.model import Tone

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class _Command(TyperCommand):
    """Help without type placeholders on flags, usage with MODEL TAKE instead of {model}."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _plain_flags(self.get_params(ctx))
        super().format_help(ctx, formatter)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for p in self.get_params(ctx):
            if p.param_type_name == "argument":
                name = (p.name or "").upper()
                pieces.append(name if p.required else f"[{name}]")
        return pieces


class _Group(TyperGroup):
    """Top-level help without a type placeholder on --help / --version."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _plain_flags(self.get_params(ctx))
        super().format_help(ctx, formatter)


def _plain_flags(params: list[Any]) -> None:
    """Flags take no value: show none (typer would print `<bool>`)."""
    for p in params:
        if getattr(p, "is_flag", False):
            p.metavar = ""


app = typer.Typer(add_completion=False, no_args_is_help=True, cls=_Group,
                  help="Learn a tone from an example recording (unpaired), apply it to any take.")
console = Console(stderr=True)
out = Console()


def _version(value: bool) -> None:
    if value:
        from tonemorph import __version__

        out.print(f"tonemorph {__version__}")
        raise typer.Exit()


@app.callback()
def _main_options(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Learn a tone from an example recording (unpaired), apply it to any take."""


# library parameter named by an error's `option` -> the flag of this CLI that sets it
_FLAGS = {"force": "--force", "allow_low_rate": "--allow-low-rate", "drive_db": "--drive",
          "tone_db": "--tone", "level_db": "--level", "amount": "--amount",
          "excerpt_s": "--excerpt", "arch": "--arch", "sample_rate": "--sr",
          "report": "--report", "format": "--format",
          "seed": "--seed", "reference": "--reference", "stages": "--chain",
          "without_cab": "--without-cab", "post_eq": "--post-eq", "seconds": "--seconds",
          "steps": "--steps"}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C so that temp files are cleaned up."""


class _Stop:
    """What stopped the command: set by the SIGTERM handler (a fitter swallows the exception)."""

    terminated = False


def _on_sigterm(signum: int, frame: Any) -> None:
    from tonemorph.io.paths import STOP_REQUESTED

    _Stop.terminated = True
    # the exception is lost when the signal lands in a C callback (numba's compiler):
    # writers poll the flag too, and _guard checks it after the body
    STOP_REQUESTED.set()
    raise Terminated()


def _quiet_unraisable(hook: Any) -> Any:
    """sys.unraisablehook that drops our own swallowed interrupt (numba's C callback printed
    it as "Exception ignored ... Traceback"); anything else goes to `hook`."""

    def quiet(info: Any) -> None:
        if isinstance(info.exc_value, KeyboardInterrupt):
            return
        hook(info)

    return quiet


def _show_warning(message: Any, category: Any, filename: str, lineno: int, file: Any = None,
                  line: Any = None) -> None:
    console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


def _fail(exc: BaseException | str) -> None:
    console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_USER_ERROR)


def _stop_code() -> int:
    return EXIT_TERMINATED if _Stop.terminated else EXIT_INTERRUPTED


@contextlib.contextmanager
def _guard(stopped: str = "nothing written") -> Iterator[None]:
    """Run a command body: one-line errors (exit 2), Ctrl-C 130 / SIGTERM 143, warnings printed.

    Library errors, and OS errors such as a full disk, become one `error:` line; an interrupt
    prints `interrupted; <stopped>` (temp files are removed by the writers on the way out).
    """
    from tonemorph.io.paths import STOP_REQUESTED, remove_live_temps

    _Stop.terminated = False
    STOP_REQUESTED.clear()
    main_thread = threading.current_thread() is threading.main_thread()
    old_term = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    old_unraisable = sys.unraisablehook
    sys.unraisablehook = _quiet_unraisable(old_unraisable)
    stopping = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _show_warning
            yield
        if STOP_REQUESTED.is_set():
            # the handler's exception was swallowed and nothing polled the flag since
            raise Terminated()
    except TonemorphError as exc:
        # library errors speak of the library; the flag that allows the thing is the CLI's
        flag = _FLAGS.get(exc.option or "")
        _fail(f"{exc} ({flag})" if flag else exc)
    except OSError as exc:
        from tonemorph.io import os_reason

        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        _fail(f"{where}{os_reason(exc)}")
    except KeyboardInterrupt as exc:
        if isinstance(exc, Terminated):
            _Stop.terminated = True
        word = "terminated" if _Stop.terminated else "interrupted"
        console.print(f"{word}; {stopped}", highlight=False)
        stopping = True
        raise typer.Exit(_stop_code()) from None
    finally:
        # after a stop the process exits: objects the interrupt left half-built (llvmlite's,
        # mid numba compile) complain from __del__ at shutdown; that is not the user's news
        stopping = stopping or _Stop.terminated or STOP_REQUESTED.is_set()
        sys.unraisablehook = (lambda info: None) if stopping else old_unraisable
        if stopping:
            # a stop that landed between a temp file's creation and its writer's cleanup
            remove_live_temps()
        STOP_REQUESTED.clear()
        if main_thread and old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


class _LazyBar:
    """A learning progress bar that appears at the first report, after inputs were checked."""

    def __init__(self, first: str = "starting") -> None:
        self.bar: Progress | None = None
        self.task: Any = None
        self.first = first

    def __call__(self, tag: str, done: int, total: int, loss: float = math.nan) -> None:
        if self.bar is None:
            self.bar = _progress_bar()
            self.bar.start()
            self.task = self.bar.add_task(self.first, total=total, loss=loss)
        self.bar.update(self.task, description=tag, completed=done, total=total, loss=loss)

    def stop(self, interrupted: bool = False) -> None:
        """Close the bar; an interrupted run shows as such, with the steps it really did."""
        if self.bar is None:
            return
        if interrupted:
            self.bar.update(self.task, description="interrupted")
        self.bar.stop()
        self.bar = None

    def __enter__(self) -> _LazyBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(interrupted=exc[0] is not None and issubclass(exc[0], KeyboardInterrupt))


def _progress_bar() -> Progress:
    return Progress(TextColumn("[bold]{task.description:<16}"), BarColumn(),
                    TextColumn("{task.completed}/{task.total}"),
                    TextColumn("loss {task.fields[loss]:.3f}"), TimeElapsedColumn(),
                    TextColumn("eta"), TimeRemainingColumn(), console=console,
                    transient=False)


def _saved_interrupted(output: Path) -> None:
    """After a learner stopped early and its best model was saved: say so, exit 130/143."""
    word = "terminated" if _Stop.terminated else "interrupted"
    console.print(f"[yellow]{word}:[/] saved the best model so far to {output}",
                  highlight=False)
    raise typer.Exit(_stop_code())


def run_learn(input: Path, target: Path, output: Path, *, quality: str, stages: Optional[str],
              seed: int, force: bool, allow_low_rate: bool = False,
              report: Optional[Path] = None) -> Any:
    """Learn with a progress bar and save; Ctrl-C after the first candidate saves the best
    model so far and exits 130 (143 on SIGTERM)."""
    import tonemorph
    from tonemorph.io import HTML_SUFFIXES, check_outputs, check_suffix, check_tone_path

    check_outputs([output] if report is None else [output, report], [input, target],
                  force=force)
    # names the learned files could not be read back by, refused before the minutes of work
    check_tone_path(output)
    if report is not None:
        check_suffix(report, HTML_SUFFIXES, "the report is a self-contained web page", "report")
    with _LazyBar() as bar:
        tone = tonemorph.learn_tone(input, target, quality=quality, stages=stages, seed=seed,
                               allow_low_rate=allow_low_rate, progress=bar)
        bar.stop(interrupted=bool(tone.training.get("interrupted")))
    tone.save(output, overwrite=force)
    return tone


@app.command(cls=_Command)
def learn(
    input: Path = typer.Option(..., "--input", "-i", help="your plain take (DI or clean)"),
    target: Path = typer.Option(..., "--target", "-t", help="example of the tone to learn"),
    output: Path = typer.Option(Path("tone.tmodel"), "--output", "-o", help="model file to write"),
    quality: str = typer.Option("default", help="fast | default (best: as default)"),
    chain: Optional[str] = typer.Option(None, "--chain",
                                        help="stages, e.g. eq,cab or eq,drive,cab,comp "
                                             "(default: all)"),
    seed: int = typer.Option(0, help="random seed (same seed, same result)"),
    force: bool = typer.Option(False, "--force", help="replace existing output files"),
    report: Optional[Path] = typer.Option(None, "--report",
                                          help="also write an HTML report (listen, plots)"),
    allow_low_rate: bool = typer.Option(False, "--allow-low-rate",
                                        help="learn from recordings below 16 kHz (their top "
                                             "octaves are missing)"),
    paired: bool = typer.Option(False, "--paired",
                                help="capture mode: TARGET is INPUT reamped through your gear"),
    arch: str = typer.Option("greybox", "--arch", help="with --paired: greybox (.tmodel) | "
                             "standard | lite | feather | nano | lstm (.nam)"),
    seconds: Optional[float] = typer.Option(None, "--seconds",
                                            help="with --paired: training time budget, s"),
    steps: Optional[int] = typer.Option(None, "--steps", help="with --paired: training "
                                        "steps instead of a time budget (reproducible)"),
) -> None:
    """Learn the tone of TARGET as an effect chain for INPUT (they may play different notes)."""
    if paired or arch != "greybox" or seconds is not None or steps is not None:
        _learn_paired(input, target, output, arch=arch, stages=chain, seed=seed,
                      seconds=seconds, steps=steps, force=force, paired=paired, report=report,
                      allow_low_rate=allow_low_rate)
        return
    with _guard("interrupted before any model was ready; nothing written"):
        t0 = time.monotonic()
        tone = run_learn(input, target, output, quality=quality, stages=chain, seed=seed,
                         force=force, allow_low_rate=allow_low_rate, report=report)
    tr = tone.training
    if tr.get("interrupted"):
        _saved_interrupted(output)
    out.print(f"wrote {output}  ({_chosen(tone)}, loss {tr['loss']:.3f}, "
              f"{time.monotonic() - t0:.0f} s)")
    _say_how_learned(tr)
    if report is not None:
        _write_report(output, input, target, report, force=force)


def _learn_paired(input: Path, target: Path, output: Path, *, arch: str, stages: Optional[str],
                  seed: int, seconds: Optional[float], steps: Optional[int], force: bool,
                  paired: bool, report: Optional[Path], allow_low_rate: bool) -> None:
    """`learn --paired`: capture with a progress bar, print latency and held-out ESR/MR-STFT."""
    import tonemorph
    from tonemorph.api import NEURAL_ARCHS
    from tonemorph.errors import ParameterError
    from tonemorph.io import check_outputs
    from tonemorph.metrics import esr_grade

    with _guard("interrupted before any model was ready; nothing written"):
        if not paired:
            raise ParameterError("--arch, --seconds and --steps need --paired (capture mode)")
        if report is not None:
            raise ParameterError("--report is for unpaired learning; leave it out with --paired")
        if arch != "greybox" and arch not in NEURAL_ARCHS:
            raise ParameterError(f"unknown architecture {arch!r} (--arch); choose from "
                                 f"greybox, {', '.join(NEURAL_ARCHS)}")
        if arch != "greybox" and output == Path("tone.tmodel"):
            output = Path("capture.nam")
        want = ".tmodel" if arch == "greybox" else ".nam"
        if output.suffix.lower() != want:
            raise ParameterError(f"a {arch} capture is written as a {want} file; pass "
                                 f"-o NAME{want}")
        check_outputs([output], [input, target], force=force)
        t0 = time.monotonic()
        with _LazyBar("aligning") as bar:
            if arch == "greybox":
                result = tonemorph.learn_paired(input, target, seconds=seconds, steps=steps,
                                                stages=stages, seed=seed,
                                                allow_low_rate=allow_low_rate, progress=bar)
            else:
                if stages is not None:
                    raise ParameterError("--chain applies to the grey-box capture only; leave "
                                         "it out with a neural --arch")
                result = tonemorph.learn_neural(input, target, arch=arch, seconds=seconds,
                                                steps=steps, seed=seed,
                                                allow_low_rate=allow_low_rate, progress=bar)
            bar.stop(interrupted=bool(result.training.get("interrupted")))
        result.save(output, overwrite=force)
    tr = result.training
    inverted = ", polarity inverted" if tr.get("polarity_inverted") else ""
    out.print(f"reamp latency {tr['latency_samples']} samples ({tr['latency_ms']:+.2f} ms, "
              f"measured and removed){inverted}")
    out.print(f"held-out {tr['held_out_seconds']:.1f} s: ESR {tr['esr']:.4f} "
              f"({esr_grade(tr['esr'])}), MR-STFT {tr['mrstft']:.3f}")
    if tr.get("interrupted"):
        _saved_interrupted(output)
    out.print(f"wrote {output}  ({arch}, {tr['steps']} steps, {time.monotonic() - t0:.0f} s)")


def _write_report(model: Path, input: Path, target: Path, html: Path, *, force: bool,
                  excerpt_s: Optional[float] = None, audio_format: str = "flac") -> None:
    """Build the HTML report with a progress bar; one-line error and exit 2 on failure."""
    from tonemorph.report import DEFAULT_EXCERPT_S, build_report

    with _guard("no report written"):
        with Progress(TextColumn("[bold]report {task.description:<14}"), BarColumn(),
                      TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task("reading", total=6)
            res = build_report(model, input, target, html, force=force,
                               excerpt_s=DEFAULT_EXCERPT_S if excerpt_s is None else excerpt_s,
                               audio_format=audio_format,
                               progress=lambda tag, d, n, *_: bar.update(task, description=tag,
                                                                     completed=d, total=n))
    out.print(f"wrote {html}  ({res.size_bytes / 1e6:.2f} MB, self-contained: open it in a "
              "browser)")


@app.command(cls=_Command)
def report(
    model: Path = typer.Argument(..., help=".tmodel file"),
    input: Path = typer.Option(..., "--input", "-i", help="your plain take (DI or clean)"),
    target: Path = typer.Option(..., "--target", "-t", help="the reference tone"),
    output: Path = typer.Option(Path("report.html"), "--output", "-o",
                                help="HTML file to write"),
    excerpt: float = typer.Option(15.0, help="seconds of each A/B/C player"),
    audio: str = typer.Option("flac", help="player audio: flac (lossless) | ogg (small) | wav"),
    force: bool = typer.Option(False, "--force", help="replace an existing output file"),
) -> None:
    """Write one self-contained HTML report: chain, curves, spectra, metrics, A/B/C players."""
    _write_report(model, input, target, output, force=force, excerpt_s=excerpt,
                  audio_format=audio)


@app.command(cls=_Command)
def apply(
    model: Path = typer.Argument(..., help=".tmodel, .nam or AIDA-X .json file"),
    take: Path = typer.Argument(..., help="audio to process"),
    output: Path = typer.Option(..., "--output", "-o", help="audio file to write"),
    amount: float = typer.Option(1.0, help="0 = neutral settings: the input at the same "
                                 "loudness (a 10 Hz high-pass stays) .. 1 = full tone"),
    drive: float = typer.Option(0.0, help="drive offset, dB (more or less distortion at the "
                                "same loudness)"),
    tone: float = typer.Option(0.0, help="tilt around 1 kHz, dB (+ brighter)"),
    level: float = typer.Option(0.0, help="output level offset, dB"),
    ceiling: Optional[float] = typer.Option(None, "--ceiling",
                                            help="true-peak limit the output at this level, "
                                                 "dBTP (e.g. -1)"),
    sr: Optional[int] = typer.Option(None, "--sr", help="output sample rate, Hz"),
    subtype: Optional[str] = typer.Option(None, help="e.g. PCM_16, PCM_24, FLOAT"),
    force: bool = typer.Option(False, "--force", help="replace an existing output file"),
    loudness_guard: bool = typer.Option(True, "--loudness-guard/--no-loudness-guard",
                                        help="keep the take's loudness within 3 dB of what "
                                             "the tone did to its learning take"),
) -> None:
    """Apply a learned tone (or a .nam / AIDA-X model) to TAKE, streaming in blocks."""
    with _guard():
        import tonemorph
        from tonemorph.io import check_output_path, check_sample_rate

        if sr is not None:
            check_sample_rate(sr, "--sr")
        check_output_path(output, [model, take], force=force)
        neural = _load_neural(model, (amount, drive, tone, level))
        t = None if neural else tonemorph.load(model)
        knobs = tonemorph.Knobs(amount, drive, tone, level)
        t0 = time.monotonic()
        with Progress(TextColumn("[bold]applying"), BarColumn(), TimeRemainingColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task("apply", total=1)
            cb = lambda tag, d, n, loss=math.nan: bar.update(task, completed=d, total=n)  # noqa: E731
            if neural:
                from tonemorph.neural.runner import apply_model_file, torch_threads

                with torch_threads(1):
                    summary = apply_model_file(neural[0], neural[1], take, output, force=force,
                                               sample_rate=sr, subtype=subtype,
                                               ceiling_dbtp=ceiling, progress=cb)
            else:
                summary = t.apply_file(take, output, knobs=knobs, force=force, sample_rate=sr,
                                       subtype=subtype, ceiling_dbtp=ceiling,
                                       loudness_guard=loudness_guard, progress=cb)
    dt = time.monotonic() - t0
    out.print(f"wrote {output}  ({summary['seconds']:.1f} s of audio, {summary['channels']} ch, "
              f"{summary['sample_rate']} Hz, {_speed(summary['seconds'], dt)} realtime)")
    if summary.get("guard_db"):
        from tonemorph.model import LOUDNESS_GUARD_DB as tol

        g = summary["guard_db"]
        console.print(f"[yellow]note:[/] the tone made this take {abs(g) + tol:.1f} dB "
                      f"{'louder' if g < 0 else 'quieter'} than its learning take at the same "
                      f"input loudness (it plays bands the learning take lacked); the output is "
                      f"{g:+.1f} dB to stay within {tol:g} dB of it (--no-loudness-guard: as learned)")
    _warn_overs(summary, level, ceiling)


def _speed(audio_s: float, wall_s: float) -> str:
    """Processing speed as a multiple of realtime, with a digit below 10x ('0.5x', '37x')."""
    x = audio_s / max(wall_s, 1e-9)
    return f"{x:.1f}x" if x < 10 else f"{x:.0f}x"


def _level_fix(level_db: float) -> tuple[str | None, str]:
    """For an output that needs --level `level_db` (dB) to fit: ('--level X', '') when the knob
    reaches it, else (None, a note that it does not: --ceiling is the way)."""
    from tonemorph.model import MAX_KNOB_DB

    if level_db >= -MAX_KNOB_DB:
        return f"--level {level_db:.1f}", ""
    return None, (f" (no --level is low enough: it would take {level_db:.1f} dB, past the "
                  f"knob's {-MAX_KNOB_DB:g} dB)")


def _warn_overs(summary: dict, level_db: float, ceiling_dbtp: float | None) -> None:
    """Say when the output went past full scale: clipped (fixed point) or kept (float); or,
    lossy, past the ceiling or full scale once decoded."""
    encoded = summary.get("encoded_peak_dbtp")
    if encoded is not None and ceiling_dbtp is not None and encoded > ceiling_dbtp + 0.05:
        console.print(f"[yellow]warning:[/] the {summary['subtype']} encoder took the peaks to "
                      f"{encoded:+.1f} dBTP, past --ceiling {ceiling_dbtp:g}; pass --ceiling "
                      f"{2 * ceiling_dbtp - encoded - 0.1:.1f} for this file, or write a WAV "
                      "or FLAC", highlight=False, soft_wrap=True)
        return
    if encoded is not None and ceiling_dbtp is None and encoded > 0.05:
        # the encoder may clip what went past full scale: the level comes down by the higher
        top = max(encoded, summary["peak_dbfs"])
        fix, none = _level_fix(level_db - top - 1.0)
        console.print(f"[yellow]warning:[/] the {summary['subtype']} file decodes to "
                      f"{encoded:+.1f} dBTP, past full scale (players clip it); pass --ceiling "
                      f"-1 for a true-peak-safe file{f', or {fix}' if fix else none}",
                      highlight=False, soft_wrap=True)
        return
    peak = summary["peak_dbfs"]
    if not peak > 0.0:
        return
    fix, none = _level_fix(level_db - peak - 0.1)
    if summary["clipped_samples"]:
        console.print(f"[yellow]warning:[/] {summary['clipped_samples']} samples clipped in the "
                      f"{summary['subtype']} file (peak {peak:+.1f} dBFS); pass "
                      f"{f'{fix} to avoid it, ' if fix else ''}--ceiling -1 for a true-peak-safe "
                      f"output, or write a float WAV (--subtype FLOAT){none}",
                      highlight=False, soft_wrap=True)
    elif summary.get("float_output"):
        console.print(f"[yellow]note:[/] the output peaks at {peak:+.1f} dBFS; the float file "
                      f"keeps the overs, but {f'lower it ({fix}) or ' if fix else ''}limit it "
                      f"(--ceiling -1) before converting to fixed point{none}",
                      highlight=False, soft_wrap=True)


def _load_neural(model: Path, knobs: tuple[float, float, float, float]) -> "tuple | None":
    """(module, rate) of a .nam / AIDA-X file, None for a .tmodel."""
    from tonemorph.errors import ParameterError
    from tonemorph.export import load_neural_model

    neural = load_neural_model(model)
    if neural and knobs != (1.0, 0.0, 0.0, 0.0):
        raise ParameterError("--amount, --drive, --tone and --level work on .tmodel tones; "
                             f"{model.name} is a neural model, apply it without them")
    return neural


@app.command("export", cls=_Command)
def export_cmd(
    model: Path = typer.Argument(..., help=".tmodel file to export"),
    format: Optional[str] = typer.Option(
        None, "--format", "-f",
        help="nam | aidax | ir | plugin (default: from the output's extension: .nam, .json, "
             ".wav)"),
    output: Path = typer.Option(..., "--output", "-o",
                                help="file to write (plugin: folder for the bundles)"),
    arch: Optional[str] = typer.Option(
        None, help="nam: standard|lite|feather|nano|lstm (default standard); "
                   "aidax: lstm-H|gru-H (default lstm-16)"),
    sr: Optional[int] = typer.Option(None, "--sr", help="ir: sample rate, Hz (default: model's)"),
    post_eq: bool = typer.Option(False, "--post-eq",
                                 help="ir: include the post-EQ (a tone that is all filters is "
                                      "exported whole, every EQ with the cabinet)"),
    without_cab: bool = typer.Option(False, "--without-cab",
                                     help="nam/aidax: leave the cabinet out (use with the ir "
                                          "export: amp + IR)"),
    minutes: Optional[float] = typer.Option(
        None, help="nam/aidax: distillation time budget, minutes (default 10)"),
    name: Optional[str] = typer.Option(None, help="nam/aidax/plugin: model name in the "
                                                  "metadata"),
    modeled_by: Optional[str] = typer.Option(None, help="nam/aidax: author in the metadata "
                                                        "(default tonemorph)"),
    seed: Optional[int] = typer.Option(None, help="nam/aidax: random seed (default 0)"),
    force: bool = typer.Option(False, "--force", help="replace an existing output file"),
) -> None:
    """Export a tone as a NAM model, an AIDA-X model (both distilled), a cabinet IR, or an
    LV2/VST3/CLAP plugin with the tone built in (for hosts without a file picker)."""
    given = {"--arch": arch is not None, "--sr": sr is not None, "--post-eq": post_eq,
             "--without-cab": without_cab, "--minutes": minutes is not None,
             "--name": name is not None, "--modeled-by": modeled_by is not None,
             "--seed": seed is not None}
    if format == "plugin":
        with _guard():
            _refuse_foreign_options("plugin", given)
        _export_plugin(model, output, name, force)
        return
    with _guard():
        import tonemorph
        from tonemorph.api import EXPORT_FORMATS, export_tone
        from tonemorph.errors import ParameterError
        from tonemorph.export import check_export_path, format_for_output
        from tonemorph.io import check_output_path, check_sample_rate

        format = format or format_for_output(output)
        if format not in EXPORT_FORMATS:
            raise ParameterError(f"unknown export format {format!r}; choose "
                                 f"{', '.join(EXPORT_FORMATS)} or plugin", option="format")
        _refuse_foreign_options(format, given)
        minutes = 10.0 if minutes is None else minutes
        modeled_by = "tonemorph" if modeled_by is None else modeled_by
        seed = 0 if seed is None else seed
        if not 0 < minutes <= 600:
            raise ParameterError(f"--minutes must be in (0, 600], got {minutes}")
        if sr is not None:
            check_sample_rate(sr, "--sr")
        check_output_path(output, [model], force=force)
        check_export_path(output, format)
        t = tonemorph.load(model)
        if format in ("nam", "aidax"):
            # the bar starts with the distillation: a refused option prints no bar before it
            with contextlib.ExitStack() as stack:
                shown: list[tuple[Progress, TaskID]] = []

                def progress(tag: str, done: int, total: int, loss: float) -> None:
                    if not shown:
                        bar = stack.enter_context(_progress_bar())
                        shown.append((bar, bar.add_task("distilling", total=total, loss=loss)))
                    bar, task = shown[0]
                    bar.update(task, description=f"distil {tag}", completed=done, total=total,
                               loss=loss)

                s = export_tone(t, output, format, arch=arch, seconds=minutes * 60,
                                sample_rate=sr, name=name, modeled_by=modeled_by, seed=seed,
                                without_cab=without_cab, progress=progress)
        else:
            s = export_tone(t, output, format, arch=arch, sample_rate=sr, post_eq=post_eq)
    if s.format == "ir":
        what = ("the whole tone as one IR: it is all filters, EQ and cabinet" if s.filter_tone
                else "cabinet IR")
        out.print(f"wrote {output}  ({what}, {s.ir_samples} samples = {s.ir_ms:.1f} ms at "
                  f"{s.sample_rate} Hz, minimum phase, "
                  f"{'float' if s.ir_subtype == 'FLOAT' else '24-bit'}, normalised by "
                  f"{s.normalise_db:+.1f} dB)")
        return
    out.print(f"wrote {output}  ({s.arch}, {s.weights} weights, ESR {s.esr:.4f} on a held-out "
              f"take: NAM grade '{s.grade}', {s.steps} steps in {s.seconds / 60:.1f} min)")
    if s.interrupted:
        # SIGTERM wrote the partial model and exited 0, as if it had finished
        word = "terminated" if _Stop.terminated else "interrupted"
        console.print(f"[yellow]{word}:[/] the distillation stopped early; {output} holds the "
                      "model as distilled so far (its ESR above)", highlight=False)
        raise typer.Exit(_stop_code())
    if s.filter_tone:
        console.print("[yellow]note:[/] this tone is all filters (EQ and cabinet, no drive or "
                      f"dynamics): `tonemorph export {model} -o tone_ir.wav` writes it as one IR, "
                      "without distillation, for NAM's and AIDA-X's IR loaders",
                      highlight=False)
    if s.long_time_constants:
        console.print(f"[yellow]note:[/] this tone has long time constants "
                      f"({', '.join(s.long_time_constants)}) beyond the 4,093 samples (85 ms) "
                      "a WaveNet sees; `--arch lstm` can follow them, but learns slower: compare "
                      "its ESR with the one above", highlight=False)


#: The export options and the formats each applies to (the others refuse it, not ignore it).
_EXPORT_OPTION_FORMATS = {
    "--arch": ("nam", "aidax"), "--sr": ("nam", "aidax", "ir"), "--post-eq": ("ir",),
    "--without-cab": ("nam", "aidax"), "--minutes": ("nam", "aidax"),
    "--name": ("nam", "aidax", "plugin"), "--modeled-by": ("nam", "aidax"),
    "--seed": ("nam", "aidax"),
}


def _refuse_foreign_options(fmt: str, given: dict[str, bool]) -> None:
    """ParameterError naming the first option `given` that does not apply to export `fmt`."""
    from tonemorph.errors import ParameterError

    for flag, on in given.items():
        fits = _EXPORT_OPTION_FORMATS[flag]
        if on and fmt not in fits:
            raise ParameterError(f"{flag} does not apply to a {fmt} export; it is for "
                                 f"{' and '.join(fits)} exports: leave it out")


@app.command("capture-signal", cls=_Command)
def capture_signal_cmd(
    output: Path = typer.Option(Path("reamp.wav"), "--output", "-o", help="wav file to write"),
    sr: int = typer.Option(48000, "--sr", help="sample rate, Hz"),
    subtype: str = typer.Option("PCM_24", help="PCM_16, PCM_24 or FLOAT"),
    force: bool = typer.Option(False, "--force", help="replace an existing output file"),
) -> None:
    """Write the standard reamp test signal: play it through your gear and record the result."""
    with _guard():
        from tonemorph.dsp.excitation import capture_signal
        from tonemorph.io import check_output_path, check_sample_rate, write_audio
        from tonemorph.learn.distill import demo_takes

        check_sample_rate(sr, "--sr")
        check_output_path(output, [], force=force)
        _check_capture_subtype(output, subtype)
        takes = demo_takes()
        if sr != 48000:
            import soxr

            takes = [soxr.resample(g, 48000, sr, quality="HQ") for g in takes]
        x, blips = capture_signal(sr, takes)
        write_audio(output, x[None], sr, subtype=subtype, overwrite=force)
    out.print(f"wrote {output}  ({len(x) / sr:.1f} s at {sr} Hz; alignment blips at "
              f"{', '.join(f'{b / sr:.2f}' for b in blips)} s)")


CAPTURE_SUBTYPES = ("PCM_16", "PCM_24", "FLOAT")


def _check_capture_subtype(output: Path, subtype: str) -> None:
    """The reamp signal is stored losslessly, in one of CAPTURE_SUBTYPES its format takes."""
    import soundfile as sf

    from tonemorph.errors import ParameterError
    from tonemorph.io import format_for

    sub = subtype.upper()
    if sub not in CAPTURE_SUBTYPES:
        raise ParameterError(f"--subtype must be one of {', '.join(CAPTURE_SUBTYPES)}, got "
                             f"{subtype!r}")
    fmt = format_for(output)
    if not sf.check_format(fmt, sub):
        fits = [s for s in CAPTURE_SUBTYPES if sf.check_format(fmt, s)]
        if not fits:
            raise ParameterError(f"the reamp signal must be stored losslessly: {output.name} "
                                 f"would be {fmt}; write it as .wav")
        raise ParameterError(f"a {fmt} file cannot hold {sub} samples; use --subtype "
                             f"{' or '.join(fits)}, or write a .wav")


def _keep_freed_blocks() -> None:
    """Let glibc's malloc keep freed blocks of up to 32 MB for reuse (mmap threshold, trim
    threshold 128 MB): the streaming passes allocate and free 0.5-1 MB numpy temporaries per
    block, and by default each comes from a fresh mmap whose pages fault in again (a sixth of
    a 5-minute master's CPU time was that). Peak memory grows by about 20 MB. A no-op where
    the C library has no mallopt."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's <malloc.h> parameter numbers
    mallopt(m_mmap_threshold, 32 << 20)
    mallopt(m_trim_threshold, 128 << 20)


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """The cyclic garbage collector off for the block (back on after, as it was): the imports
    and numba's first-call setup create hundreds of thousands of objects, and the automatic
    collections walk them again and again (0.4 s of a 5-minute master); the audio is freed
    by reference counting all along (peak memory unchanged)."""
    import gc

    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@app.command("master", cls=_Command)
def master_cmd(
    mix: Path = typer.Argument(..., help="the mix (premaster) to master"),
    reference: list[str] = typer.Option(..., "--reference", "-r", help="released track to "
                                        "match; repeat for several, PATH:WEIGHT to weight one"),
    output: Path = typer.Option(..., "--output", "-o", help="audio file to write"),
    lufs: Optional[float] = typer.Option(None, help="loudness target, LUFS (default: the "
                                         "reference's)"),
    target: Optional[str] = typer.Option(None, "--target", help="loudness preset: streaming "
                                         "(-14 LUFS), broadcast (-23 LUFS), cd (the "
                                         "reference's); -1 dBTP. --lufs and --ceiling, given "
                                         "too, replace its numbers"),
    ceiling: Optional[float] = typer.Option(None, help="true-peak ceiling, dBTP (default -1)"),
    amount: str = typer.Option("1", help="0 = unchanged .. 1 = full match; per aspect as "
                               "eq=0.5,dynamics=1"),
    only: Optional[str] = typer.Option(None, help="match only some of eq,loudness,width,dynamics"),
    phase: str = typer.Option("linear", help="EQ phase: minimum | linear"),
    mono_bass: Optional[float] = typer.Option(None, "--mono-bass", help="mono below this, Hz"),
    report: Optional[Path] = typer.Option(None, "--report", help="write a report: .html for a "
                                          "page with curves and A/B/C players, else JSON"),
    album: Optional[list[Path]] = typer.Option(None, "--album", help="another mix, mastered "
                                               "consistently; repeat for each (--album b.wav "
                                               "--album c.wav), written as "
                                               "<mix>-mastered.<ext>"),
    subtype: Optional[str] = typer.Option(None, help="e.g. PCM_16, PCM_24, FLOAT (default: "
                                          "the mix's; dithered when integer)"),
    force: bool = typer.Option(False, "--force", help="replace existing output files"),
) -> None:
    """Master MIX to sound like REFERENCE: loudness, balance, width, density, true-peak safe."""
    _keep_freed_blocks()
    with _guard(), _no_cyclic_gc():
        from tonemorph.master import MasterConfig, master
        from tonemorph.master.report import summary_rows

        cfg = MasterConfig(lufs=lufs, target=target, ceiling_dbtp=ceiling, amount=amount,
                           only=only, phase=phase, mono_bass_hz=mono_bass)
        with Progress(TextColumn("[bold]{task.description:<16}"), BarColumn(),
                      TimeRemainingColumn(), console=console, transient=True) as bar:
            task = bar.add_task("reading", total=1)
            rep = master(mix, reference, output, config=cfg, album=album or (),
                         report=report, subtype=subtype, force=force,
                         progress=lambda tag, d, n, *_: bar.update(task, description=tag,
                                                               completed=d, total=n))
    table = Table(title=f"{mix.name} -> {output.name} (reference "
                        f"{', '.join(Path(r).name for r in reference)})")
    for col in ("", "mix", "master", "reference"):
        table.add_column(col, justify="left" if not col else "right")
    for row in summary_rows(rep):
        table.add_row(*row)
    out.print(table)
    for note in rep.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    written = ", ".join(str(t.output) for t in rep.tracks)
    out.print(f"wrote {written}  ({rep.seconds:.1f} s)")


def _info_nam(model: Path) -> None:
    """Print a .nam file's architecture, size, rate and metadata (loudness in 0.1 dB)."""
    from tonemorph.export.nam import read_nam

    nf = read_nam(model)  # a newer-version warning is printed by _guard
    md = nf.metadata
    tr = md.get("training") or {}
    rows = [("architecture", nf.architecture), ("version", nf.version),
            ("weights", str(len(nf.weights))), ("sample rate", f"{nf.sample_rate} Hz")]
    rows += [(k, str(md[k])) for k in ("name", "modeled_by", "gear_type", "tone_type")
             if md.get(k) is not None]
    if md.get("loudness") is not None:
        rows.append(("loudness", f"{md['loudness']:.1f} dB"))
    if md.get("gain") is not None:
        rows.append(("gain", f"{md['gain']:.2f}"))
    if tr.get("validation_esr") is not None:
        rows.append(("ESR", f"{tr['validation_esr']:.4f} ({tr.get('nam_grade', '')})"))
    table = Table(title=str(model), show_header=True)
    table.add_column("field")
    table.add_column("value", justify="right")
    for k, v in rows:
        table.add_row(k, v)
    out.print(table)


def _info_aidax(model: Path) -> None:
    """Print an AIDA-X file's layers, size, gains (dB) and rate."""
    from tonemorph.export.aidax import read_aidax_file

    af = read_aidax_file(model)
    rows = [("architecture", f"RTNeural {af.unit}"), ("hidden size", str(af.hidden_size)),
            ("layers", f"{af.unit.lower()} {af.hidden_size} -> dense 1"),
            ("weights", str(af.num_weights)), ("input skip", "yes" if af.in_skip else "no"),
            ("output gain", f"{af.out_gain_db:+.1f} dB")]
    if af.in_gain_db is not None:
        rows.append(("input gain", f"{af.in_gain_db:+.1f} dB"))
    rows.append(("sample rate", f"{af.sample_rate} Hz" if af.sample_rate
                 else "not stored (runs at 48000 Hz)"))
    rows += [(k, str(af.metadata[k])) for k in ("name", "modeled_by", "gear_type", "tone_type")
             if af.metadata.get(k) is not None]
    table = Table(title=str(model), show_header=True)
    table.add_column("field")
    table.add_column("value", justify="right")
    for k, v in rows:
        table.add_row(k, v)
    out.print(table)


@app.command(cls=_Command)
def info(model: Path = typer.Argument(..., help=".tmodel, .nam or AIDA-X .json file")) -> None:
    """Show a model's chain, parameters in units, and training summary."""
    with _guard():
        import tonemorph
        from tonemorph.export import neural_model_kind

        kind = neural_model_kind(model)
        if kind == "nam":
            return _info_nam(model)
        if kind == "aidax":
            return _info_aidax(model)
        t = tonemorph.load(model)
    table = Table(title=str(model), show_header=True)
    table.add_column("parameter")
    table.add_column("value", justify="right")
    for k, v in t.summary():
        table.add_row(k, v)
    out.print(table)
    tr = t.training
    src = (tr.get("input") or {}).get("name"), (tr.get("target") or {}).get("name")
    if tr.get("mode") == "paired":
        out.print(f"captured from {src[0]} -> {src[1]} (paired): reamp latency "
                  f"{tr.get('latency_samples')} samples (removed), held-out ESR {tr.get('esr')}, "
                  f"MR-STFT {tr.get('mrstft')}, {tr.get('steps')} steps, {tr.get('seconds')} s, "
                  f"{tr.get('date')}")
    elif tr:
        loss = tr.get("loss")  # a finite number or absent (checked on load)
        out.print(f"learned from {src[0]} -> {src[1]}, quality {tr.get('quality')}, "
                  f"{tr.get('chosen')} chain chosen, loss "
                  f"{'?' if loss is None else format(loss, '.3f')}, "
                  f"{tr.get('seconds')} s, {tr.get('date')}")
        _say_how_learned(tr)


def _chosen(tone: Tone) -> str:
    """ "linear chain", or "nonlinear chain (drive +23 dB, sag 3.9:1 @ -36 dB)"."""
    from tonemorph.model import level_blocks

    chosen = tone.training.get("chosen", "-")
    kept = level_blocks(tone.parameters) if chosen == "nonlinear" else []
    return f"{chosen} chain" + (f" ({', '.join(kept)})" if kept else "")


def _say_how_learned(training: dict) -> None:
    """Print what an unpaired tone's training record says of its learning: the silence left
    out, how the cabinet was matched, why a linear chain was kept."""
    from tonemorph.dsp.silence import LONG_SILENCE_S
    from tonemorph.model import why_linear

    gone = [f"{s:.1f} s from the {role}" for role in ("input", "target")
            if (s := (training.get(role) or {}).get("silence_left_out_s") or 0.0) >= 0.05]
    if gone:
        out.print(f"silence over {LONG_SILENCE_S:g} s left out: {' and '.join(gone)}")
    if training.get("cab_match"):
        out.print(f"cabinet matched {training['cab_match']}")
    if why_linear(training):
        out.print(why_linear(training))


@app.command(cls=_Command)
def demo(
    out_dir: Path = typer.Option(Path("tonemorph-demo"), "--out", help="folder to write"),
    quality: str = typer.Option("default", help="fast | default (best: as default)"),
    force: bool = typer.Option(False, "--force", help="replace the files of an earlier demo"),
) -> None:
    """Learn a tone from the bundled example audio, apply it, and print metrics."""
    with _guard():
        from tonemorph.demo import run_demo

        with _LazyBar() as bar:
            result = run_demo(out_dir, quality=quality, force=force, progress=bar)
    table = Table(title="a take the tone never heard: distance to the real chain's output "
                        "(lower is better)")
    for col in ("method", "MR-STFT", "soft notes dB", "loud notes dB", "loudness err LU",
                "crest err dB"):
        table.add_column(col, justify="right")
    for name, m in result["metrics"].items():
        table.add_row(name, f"{m['mrstft']:.3f}", f"{m['soft_db']:.2f}", f"{m['loud_db']:.2f}",
                      f"{m['lufs_err']:+.2f}", f"{m['crest_err_db']:+.2f}")
    out.print(table)
    out.print("soft/loud notes: spectrum error on the quietest and loudest quarter of the take; "
              "the target's drive and compander treat them differently, a static EQ cannot")
    out.print(f"chain: {_chosen(result['tone'])}, learned in {result['learn_seconds']:.0f} s")
    _say_how_learned(result["tone"].training)
    a, b, c = (str(p) for p in result["listen"])
    out.print(f"listen: {a} (your take) -> {b} (tonemorph) vs {c} (the real chain)")
    out.print(f"report: {result['report']} (players, curves, spectra per level)")
    for note in result["notes"]:
        out.print(f"note: {note}")


# --- the plugin (tonemorph.plugin: builds with the system toolchain, no torch) -----------------

plugin_app = typer.Typer(no_args_is_help=True, cls=_Group,
                         help="Build and install the LV2/VST3/CLAP plugin that plays .tmodel "
                              "tones in a DAW.")
app.add_typer(plugin_app, name="plugin")
_PLUGIN_FORMATS_HELP = "comma-separated: lv2,vst3,clap (jack: a standalone program)"


def _plugin_formats(formats: str) -> tuple[str, ...]:
    return tuple(f.strip() for f in formats.split(",") if f.strip())


def _print_bundles(bundles: dict) -> None:
    for fmt, path in bundles.items():
        out.print(f"{fmt:5s} {path}")


@plugin_app.command("build", cls=_Command)
def plugin_build_cmd(
    output: Path = typer.Option(Path("build/plugin"), "--output", "-o",
                                help="build folder (objects and bundles)"),
    formats: str = typer.Option("lv2,vst3,clap", "--formats", help=_PLUGIN_FORMATS_HELP),
    jobs: int = typer.Option(2, "--jobs", "-j", help="parallel compiler jobs"),
) -> None:
    """Compile the plugin that loads any .tmodel file (LV2, VST3, CLAP)."""
    with _guard():
        from tonemorph.plugin import build

        result = build(output, formats=_plugin_formats(formats), jobs=jobs)
    _print_bundles(result.bundles)


@plugin_app.command("install", cls=_Command)
def plugin_install_cmd(
    tone: Optional[Path] = typer.Argument(None, help="build this .tmodel in (default: the "
                                                     "plugin with a file picker)"),
    output: Path = typer.Option(Path("build/plugin"), "--output", "-o", help="build folder"),
    formats: str = typer.Option("lv2,vst3,clap", "--formats", help=_PLUGIN_FORMATS_HELP),
    jobs: int = typer.Option(2, "--jobs", "-j", help="parallel compiler jobs"),
) -> None:
    """Build the plugin and copy it into ~/.lv2, ~/.vst3 and ~/.clap."""
    with _guard():
        from tonemorph.plugin import build, export_plugin, install

        fmts = _plugin_formats(formats)
        # installing replaces what was installed: the build folder's bundles likewise
        result = (export_plugin(tone, output, formats=fmts, jobs=jobs, overwrite=True) if tone
                  else build(output, formats=fmts, jobs=jobs))
        installed = install(result)
    _print_bundles(installed)
    out.print("rescan plugins in your host (see README: the plugin in a DAW)")


def _export_plugin(model: Path, output: Path, name: Optional[str], force: bool) -> None:
    with _guard():
        from tonemorph.plugin import export_plugin

        result = export_plugin(model, output, name=name, overwrite=force)
    _print_bundles(result.bundles)
    out.print("install with `tonemorph plugin install "
              f"{model}` or copy the bundles into ~/.lv2, ~/.vst3, ~/.clap")


def main() -> None:
    """Run the app (raises SystemExit); stray errors become one line, never a traceback."""
    try:
        app()
    except TonemorphError as exc:  # pragma: no cover - commands catch their own
        console.print(f"error: {exc}", highlight=False)
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt as exc:  # pragma: no cover - outside a command's guard
        sys.exit(EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED)


def entry() -> None:
    """The `tonemorph` command: `main`, then the process ends without the interpreter's
    finalisers (every file is written and closed by then). Where a command imported torch,
    they deregister torch's operator libraries one by one: 1.0-1.3 s after a `learn` (a
    twentieth of a fast one), 0.4 s after torch's import alone."""
    try:
        main()
        code: int | str | None = 0
    except SystemExit as exc:
        code = exc.code
    if isinstance(code, str):  # as sys.exit("message") reports it
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe or stream
            stream.flush()
    os._exit(0 if code is None else int(code))


if __name__ == "__main__":
    entry()
