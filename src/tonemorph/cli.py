"""Command line: thin wrappers over the Python API. Exit codes: 0 ok, 2 user error, 130 Ctrl-C."""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from tonemorph.errors import TonemorphError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Learn a tone from an example recording (unpaired), apply it to any take.")
console = Console(stderr=True)
out = Console()

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def _fail(exc: BaseException) -> None:
    console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_USER_ERROR)


def _progress_bar() -> Progress:
    return Progress(TextColumn("[bold]{task.description:<16}"), BarColumn(),
                    TextColumn("{task.completed}/{task.total}"),
                    TextColumn("loss {task.fields[loss]:.3f}"), TimeElapsedColumn(),
                    TextColumn("eta"), TimeRemainingColumn(), console=console,
                    transient=False)


def run_learn(input: Path, target: Path, output: Path, *, quality: str, stages: Optional[str],
              seed: int, force: bool) -> "object":
    """Learn with a progress bar; on Ctrl-C the best model so far is saved."""
    import tonemorph
    from tonemorph.io import check_output_path

    check_output_path(output, [input, target], force=force)
    with _progress_bar() as bar, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        task = bar.add_task("starting", total=1, loss=float("nan"))

        def progress(tag: str, done: int, total: int, loss: float) -> None:
            bar.update(task, description=tag, completed=done, total=total, loss=loss)

        tone = tonemorph.learn(input, target, quality=quality, stages=stages, seed=seed,
                               progress=progress)
    for w in caught:
        console.print(f"[yellow]warning:[/] {w.message}", highlight=False)
    tone.save(output)
    tr = tone.training
    if tr.get("interrupted"):
        console.print(f"[yellow]interrupted:[/] saved the best model so far to {output}")
    return tone


@app.command()
def learn(
    input: Path = typer.Option(..., "--input", "-i", help="your plain take (DI or clean)"),
    target: Path = typer.Option(..., "--target", "-t", help="example of the tone to learn"),
    output: Path = typer.Option(Path("tone.tmodel"), "--output", "-o", help="model file to write"),
    quality: str = typer.Option("default", help="fast | default | best"),
    chain: Optional[str] = typer.Option(None, "--chain",
                                        help="stages, e.g. eq,cab or eq,drive,cab,comp"),
    seed: int = typer.Option(0, help="random seed (same seed, same result)"),
    force: bool = typer.Option(False, help="allow overwriting an existing file"),
    report: Optional[Path] = typer.Option(None, "--report",
                                          help="also write an HTML report (listen, plots)"),
) -> None:
    """Learn the tone of TARGET as an effect chain for INPUT (they may play different notes)."""
    try:
        if report is not None:
            from tonemorph.io import check_output_path

            check_output_path(report, [input, target, output], force=force)
        t0 = time.monotonic()
        tone = run_learn(input, target, output, quality=quality, stages=chain, seed=seed,
                         force=force)
    except TonemorphError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        console.print("interrupted before any model was ready; nothing written")
        raise typer.Exit(EXIT_INTERRUPTED)
    tr = tone.training  # type: ignore[attr-defined]
    out.print(f"wrote {output}  ({tr['chosen']} chain, loss {tr['loss']:.3f}, "
              f"{time.monotonic() - t0:.0f} s)")
    if report is not None:
        _write_report(output, input, target, report, force=force)


def _write_report(model: Path, input: Path, target: Path, html: Path, *, force: bool,
                  excerpt_s: Optional[float] = None, audio_format: str = "flac") -> None:
    """Build the HTML report with a progress bar; one-line error and exit 2 on failure."""
    from tonemorph.report import DEFAULT_EXCERPT_S, build_report

    try:
        with Progress(TextColumn("[bold]report {task.description:<14}"), BarColumn(),
                      TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task("reading", total=6)
            res = build_report(model, input, target, html, force=force,
                               excerpt_s=excerpt_s or DEFAULT_EXCERPT_S,
                               audio_format=audio_format,
                               progress=lambda tag, d, n: bar.update(task, description=tag,
                                                                     completed=d, total=n))
    except TonemorphError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        console.print("interrupted; no report written")
        raise typer.Exit(EXIT_INTERRUPTED)
    out.print(f"wrote {html}  ({res.size_bytes / 1e6:.2f} MB, self-contained: open it in a "
              "browser)")


@app.command()
def report(
    model: Path = typer.Argument(..., help=".tmodel file"),
    input: Path = typer.Option(..., "--input", "-i", help="your plain take (DI or clean)"),
    target: Path = typer.Option(..., "--target", "-t", help="the reference tone"),
    output: Path = typer.Option(Path("report.html"), "--output", "-o",
                                help="HTML file to write"),
    excerpt: float = typer.Option(15.0, help="seconds of each A/B/C player"),
    audio: str = typer.Option("flac", help="player audio: flac (lossless) | ogg (small) | wav"),
    force: bool = typer.Option(False, help="allow overwriting an existing file"),
) -> None:
    """Write one self-contained HTML report: chain, curves, spectra, metrics, A/B/C players."""
    _write_report(model, input, target, output, force=force, excerpt_s=excerpt,
                  audio_format=audio)


@app.command()
def apply(
    model: Path = typer.Argument(..., help=".tmodel file"),
    take: Path = typer.Argument(..., help="audio to process"),
    output: Path = typer.Option(..., "--output", "-o", help="audio file to write"),
    amount: float = typer.Option(1.0, help="0 = input (same loudness) .. 1 = full tone"),
    drive: float = typer.Option(0.0, help="drive offset, dB"),
    tone: float = typer.Option(0.0, help="tilt around 1 kHz, dB (+ brighter)"),
    level: float = typer.Option(0.0, help="output level offset, dB"),
    sr: Optional[int] = typer.Option(None, "--sr", help="output sample rate, Hz"),
    subtype: Optional[str] = typer.Option(None, help="e.g. PCM_16, PCM_24, FLOAT"),
    force: bool = typer.Option(False, help="allow overwriting the input"),
) -> None:
    """Apply a learned tone to TAKE (any rate, mono or stereo), streaming in blocks."""
    import tonemorph

    try:
        t = tonemorph.load(model)
        knobs = tonemorph.Knobs(amount, drive, tone, level)
        t0 = time.monotonic()
        with Progress(TextColumn("[bold]applying"), BarColumn(), TimeRemainingColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task("apply", total=1)
            summary = t.apply_file(take, output, knobs=knobs, force=force, sample_rate=sr,
                                   subtype=subtype,
                                   progress=lambda d, n: bar.update(task, completed=d, total=n))
    except TonemorphError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        console.print("interrupted; nothing written")
        raise typer.Exit(EXIT_INTERRUPTED)
    dt = time.monotonic() - t0
    out.print(f"wrote {output}  ({summary['seconds']:.1f} s of audio, {summary['channels']} ch, "
              f"{summary['sample_rate']} Hz, {summary['seconds'] / max(dt, 1e-9):.0f}x realtime)")


@app.command()
def info(model: Path = typer.Argument(..., help=".tmodel file")) -> None:
    """Show a model's chain, parameters in units, and training summary."""
    import tonemorph

    try:
        t = tonemorph.load(model)
    except TonemorphError as exc:
        _fail(exc)
    table = Table(title=str(model), show_header=True)
    table.add_column("parameter")
    table.add_column("value", justify="right")
    for k, v in t.summary():
        table.add_row(k, v)
    out.print(table)
    tr = t.training
    if tr:
        out.print(f"learned from {tr.get('input', {}).get('name')} -> "
                  f"{tr.get('target', {}).get('name')}, quality {tr.get('quality')}, "
                  f"{tr.get('chosen')} chain chosen, loss {tr.get('loss', float('nan')):.3f}, "
                  f"{tr.get('seconds')} s, {tr.get('date')}")


@app.command()
def demo(
    out_dir: Path = typer.Option(Path("tonemorph-demo"), "--out", help="folder to write"),
    quality: str = typer.Option("fast", help="fast | default | best"),
) -> None:
    """Learn a tone from the bundled example audio, apply it, and print metrics."""
    from tonemorph.demo import run_demo

    try:
        with _progress_bar() as bar:
            task = bar.add_task("starting", total=1, loss=float("nan"))
            result = run_demo(out_dir, quality=quality, progress=lambda tag, d, n, loss: bar.update(
                task, description=tag, completed=d, total=n, loss=loss))
    except TonemorphError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_INTERRUPTED)
    table = Table(title="held-out take: distance to the true tone (lower is better)")
    for col in ("method", "MR-STFT", "log-mel dB", "loudness err LU", "crest err dB"):
        table.add_column(col, justify="right")
    for name, m in result["metrics"].items():
        table.add_row(name, f"{m['mrstft']:.3f}", f"{m['logmel_db']:.2f}",
                      f"{m['lufs_err']:+.2f}", f"{m['crest_err_db']:+.2f}")
    out.print(table)
    out.print(f"chain: {result['chosen']}, learned in {result['learn_seconds']:.0f} s; "
              f"files in {out_dir}/")


def main() -> None:
    """Entry point: run the app, turning stray tonemorph errors into one line."""
    try:
        app()
    except TonemorphError as exc:  # pragma: no cover - commands catch their own
        console.print(f"error: {exc}")
        sys.exit(EXIT_USER_ERROR)


if __name__ == "__main__":
    main()
