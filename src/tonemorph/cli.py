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
                      seconds=seconds, steps=steps, force=force, paired=paired, report=report)
        return
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


def _learn_paired(input: Path, target: Path, output: Path, *, arch: str, stages: Optional[str],
                  seed: int, seconds: Optional[float], steps: Optional[int], force: bool,
                  paired: bool, report: Optional[Path]) -> None:
    """`learn --paired`: capture with a progress bar, print latency and held-out ESR/MR-STFT."""
    import tonemorph
    from tonemorph.errors import ParameterError
    from tonemorph.io import check_output_path
    from tonemorph.losses.paired import esr_grade

    try:
        if not paired:
            raise ParameterError("--arch, --seconds and --steps need --paired (capture mode)")
        if report is not None:
            raise ParameterError("--report is for unpaired learning; leave it out with --paired")
        if arch != "greybox" and output == Path("tone.tmodel"):
            output = Path("capture.nam")
        want = ".tmodel" if arch == "greybox" else ".nam"
        if output.suffix.lower() != want:
            raise ParameterError(f"a {arch} capture is written as a {want} file; pass "
                                 f"-o NAME{want}")
        check_output_path(output, [input, target], force=force)
        t0 = time.monotonic()
        with _progress_bar() as bar, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            task = bar.add_task("aligning", total=1, loss=float("nan"))

            def progress(tag: str, done: int, total: int, loss: float) -> None:
                bar.update(task, description=tag, completed=done, total=total, loss=loss)

            result = tonemorph.learn_paired(input, target, arch=arch, seconds=seconds,
                                            steps=steps, stages=stages, seed=seed,
                                            progress=progress)
        for w in caught:
            console.print(f"[yellow]warning:[/] {w.message}", highlight=False)
        result.save(output)
    except TonemorphError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        console.print("interrupted before any model was ready; nothing written")
        raise typer.Exit(EXIT_INTERRUPTED)
    tr = result.training
    inverted = ", polarity inverted" if tr.get("polarity_inverted") else ""
    out.print(f"latency {tr['latency_samples']} samples ({tr['latency_ms']:+.2f} ms){inverted}")
    out.print(f"held-out {tr['held_out_seconds']:.1f} s: ESR {tr['esr']:.4f} "
              f"({esr_grade(tr['esr'])}), MR-STFT {tr['mrstft']:.3f}")
    if tr.get("interrupted"):
        console.print(f"[yellow]interrupted:[/] saved the best model so far to {output}")
    out.print(f"wrote {output}  ({arch}, {tr['steps']} steps, {time.monotonic() - t0:.0f} s)")


def _write_report(model: Path, input: Path, target: Path, html: Path, *, force: bool,
                  excerpt_s: Optional[float] = None, audio_format: str = "flac") -> None:
    """Build the HTML report with a progress bar; one-line error and exit 2 on failure."""
    from tonemorph.report import DEFAULT_EXCERPT_S, build_report

    try:
        with Progress(TextColumn("[bold]report {task.description:<14}"), BarColumn(),
                      TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task("reading", total=6)
            res = build_report(model, input, target, html, force=force,
                               excerpt_s=DEFAULT_EXCERPT_S if excerpt_s is None else excerpt_s,
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
    force: bool = typer.Option(False, help="allow the output to overwrite an input file"),
) -> None:
    """Write one self-contained HTML report: chain, curves, spectra, metrics, A/B/C players."""
    _write_report(model, input, target, output, force=force, excerpt_s=excerpt,
                  audio_format=audio)


@app.command()
def apply(
    model: Path = typer.Argument(..., help=".tmodel, .nam or AIDA-X .json file"),
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
    """Apply a learned tone (or a .nam / AIDA-X model) to TAKE, streaming in blocks."""
    import tonemorph

    try:
        neural = _load_neural(model, (amount, drive, tone, level))
        t = None if neural else tonemorph.load(model)
        knobs = tonemorph.Knobs(amount, drive, tone, level)
        t0 = time.monotonic()
        with Progress(TextColumn("[bold]applying"), BarColumn(), TimeRemainingColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task("apply", total=1)
            cb = lambda d, n: bar.update(task, completed=d, total=n)  # noqa: E731
            if neural:
                from tonemorph.neural.runner import apply_model_file, torch_threads

                with torch_threads(1):
                    summary = apply_model_file(neural[0], neural[1], take, output, force=force,
                                               sample_rate=sr, subtype=subtype, progress=cb)
            else:
                summary = t.apply_file(take, output, knobs=knobs, force=force, sample_rate=sr,
                                       subtype=subtype, progress=cb)
    except TonemorphError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        console.print("interrupted; nothing written")
        raise typer.Exit(EXIT_INTERRUPTED)
    dt = time.monotonic() - t0
    out.print(f"wrote {output}  ({summary['seconds']:.1f} s of audio, {summary['channels']} ch, "
              f"{summary['sample_rate']} Hz, {summary['seconds'] / max(dt, 1e-9):.0f}x realtime)")


def _load_neural(model: Path, knobs: tuple[float, float, float, float]) -> "tuple | None":
    """(module, rate) of a .nam / AIDA-X file (warnings printed), None for a .tmodel."""
    from tonemorph.errors import ParameterError
    from tonemorph.export import load_neural_model

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        neural = load_neural_model(model)
    for w in caught:
        console.print(f"[yellow]warning:[/] {w.message}", highlight=False)
    if neural and knobs != (1.0, 0.0, 0.0, 0.0):
        raise ParameterError("--amount, --drive, --tone and --level work on .tmodel tones; "
                             f"{model.name} is a neural model, apply it without them")
    return neural


@app.command("export")
def export_cmd(
    model: Path = typer.Argument(..., help=".tmodel file to export"),
    format: str = typer.Option(..., "--format", "-f", help="nam | aidax | ir"),
    output: Path = typer.Option(..., "--output", "-o", help="file to write"),
    arch: Optional[str] = typer.Option(
        None, help="nam: standard|lite|feather|nano|lstm (default standard); "
                   "aidax: lstm-H|gru-H (default lstm-16)"),
    sr: Optional[int] = typer.Option(None, "--sr", help="ir: sample rate, Hz (default: model's)"),
    post_eq: bool = typer.Option(False, "--post-eq", help="ir: include the post-EQ"),
    without_cab: bool = typer.Option(False, "--without-cab",
                                     help="nam/aidax: leave the cabinet out (use with the ir "
                                          "export: amp + IR)"),
    minutes: float = typer.Option(10.0, help="nam/aidax: distillation time budget, minutes"),
    name: Optional[str] = typer.Option(None, help="model name in the metadata"),
    modeled_by: str = typer.Option("tonemorph", help="author in the metadata"),
    seed: int = typer.Option(0, help="random seed"),
    force: bool = typer.Option(False, help="allow overwriting an existing file"),
) -> None:
    """Export a tone as a NAM model, an AIDA-X model (both distilled) or a cabinet IR."""
    import tonemorph
    from tonemorph.errors import ParameterError
    from tonemorph.export import export_tone
    from tonemorph.io import check_output_path

    try:
        if not 0 < minutes <= 600:
            raise ParameterError(f"--minutes must be in (0, 600], got {minutes}")
        check_output_path(output, [model], force=force)
        t = tonemorph.load(model)
        if format in ("nam", "aidax"):
            with _progress_bar() as bar:
                task = bar.add_task("distilling", total=1, loss=float("nan"))

                def progress(tag: str, done: int, total: int, loss: float) -> None:
                    bar.update(task, description=f"distil {tag}", completed=done, total=total,
                               loss=loss)

                s = export_tone(t, output, format, arch=arch, seconds=minutes * 60,
                                sample_rate=sr, name=name, modeled_by=modeled_by, seed=seed,
                                without_cab=without_cab, progress=progress)
        else:
            s = export_tone(t, output, format, arch=arch, sample_rate=sr, post_eq=post_eq)
    except TonemorphError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        console.print("interrupted; nothing written")
        raise typer.Exit(EXIT_INTERRUPTED)
    if s.format == "ir":
        out.print(f"wrote {output}  (cabinet IR, {s.ir_samples} samples = {s.ir_ms:.1f} ms at "
                  f"{s.sample_rate} Hz, minimum phase, float, normalised by "
                  f"{s.normalise_db:+.1f} dB)")
        return
    out.print(f"wrote {output}  ({s.arch}, {s.weights} weights, ESR {s.esr:.4f} on a held-out "
              f"take: NAM grade '{s.grade}', {s.steps} steps in {s.seconds / 60:.1f} min)")
    if s.long_time_constants:
        console.print(f"[yellow]note:[/] this tone has long time constants "
                      f"({', '.join(s.long_time_constants)}) beyond the 4,093 samples (85 ms) "
                      "a WaveNet sees; `--arch lstm` can follow them, but learns slower: compare "
                      "its ESR with the one above", highlight=False)


@app.command("capture-signal")
def capture_signal_cmd(
    output: Path = typer.Option(Path("reamp.wav"), "--output", "-o", help="wav file to write"),
    sr: int = typer.Option(48000, "--sr", help="sample rate, Hz"),
    subtype: str = typer.Option("PCM_24", help="PCM_16, PCM_24 or FLOAT"),
    force: bool = typer.Option(False, help="allow overwriting an existing file"),
) -> None:
    """Write the standard reamp test signal: play it through your gear and record the result."""
    from tonemorph.dsp.excitation import capture_signal
    from tonemorph.errors import ParameterError
    from tonemorph.io import check_output_path, write_audio
    from tonemorph.learn.distill import demo_takes

    try:
        if not 8000 <= sr <= 384000:
            raise ParameterError(f"--sr must be 8000-384000 Hz, got {sr}")
        check_output_path(output, [], force=force)
        takes = demo_takes()
        if sr != 48000:
            import soxr

            takes = [soxr.resample(g, 48000, sr, quality="HQ") for g in takes]
        x, blips = capture_signal(sr, takes)
        write_audio(output, x[None], sr, subtype=subtype)
    except TonemorphError as exc:
        _fail(exc)
    out.print(f"wrote {output}  ({len(x) / sr:.1f} s at {sr} Hz; alignment blips at "
              f"{', '.join(f'{b / sr:.2f}' for b in blips)} s)")


@app.command("master")
def master_cmd(
    mix: Path = typer.Argument(..., help="the mix (premaster) to master"),
    reference: Path = typer.Option(..., "--reference", "-r", help="released track to match"),
    output: Path = typer.Option(..., "--output", "-o", help="audio file to write"),
    lufs: Optional[float] = typer.Option(None, help="loudness target, LUFS (default: the "
                                         "reference's)"),
    ceiling: float = typer.Option(-1.0, help="true-peak ceiling, dBTP"),
    amount: float = typer.Option(1.0, help="0 = unchanged .. 1 = full match"),
    only: Optional[str] = typer.Option(None, help="match only some of eq,loudness,width,dynamics"),
    phase: str = typer.Option("linear", help="EQ phase: minimum | linear"),
    mono_bass: Optional[float] = typer.Option(None, "--mono-bass", help="mono below this, Hz"),
    report: Optional[Path] = typer.Option(None, "--report", help="write a JSON report"),
    album: Optional[list[Path]] = typer.Option(None, "--album", help="more mixes, mastered "
                                               "consistently (written as <mix>-mastered.<ext>)"),
    force: bool = typer.Option(False, help="allow overwriting an input"),
) -> None:
    """Master MIX to sound like REFERENCE: loudness, balance, width, density, true-peak safe."""
    from tonemorph.master import master
    from tonemorph.master.report import summary_rows

    try:
        with Progress(TextColumn("[bold]{task.description:<16}"), BarColumn(),
                      TimeRemainingColumn(), console=console, transient=True) as bar:
            task = bar.add_task("reading", total=1)
            rep = master(mix, reference, output, lufs=lufs, ceiling_dbtp=ceiling, amount=amount,
                         only=only, phase=phase, mono_bass_hz=mono_bass, album=album or (),
                         report=report, force=force,
                         progress=lambda tag, d, n: bar.update(task, description=tag,
                                                               completed=d, total=n))
    except TonemorphError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        console.print("interrupted; nothing written")
        raise typer.Exit(EXIT_INTERRUPTED)
    table = Table(title=f"{mix.name} -> {output.name} (reference {reference.name})")
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
    """Print a .nam file's architecture, size and metadata."""
    from tonemorph.export.nam import read_nam

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nf = read_nam(model)
    for w in caught:
        console.print(f"[yellow]warning:[/] {w.message}", highlight=False)
    table = Table(title=str(model), show_header=True)
    table.add_column("field")
    table.add_column("value", justify="right")
    md = nf.metadata
    tr = md.get("training") or {}
    rows = [("architecture", nf.architecture), ("version", nf.version),
            ("weights", str(len(nf.weights))), ("sample rate", f"{nf.sample_rate} Hz")]
    rows += [(k, str(md[k])) for k in ("name", "modeled_by", "gear_type", "tone_type",
                                       "loudness", "gain") if md.get(k) is not None]
    if tr.get("validation_esr") is not None:
        rows.append(("ESR", f"{tr['validation_esr']:.4f} ({tr.get('nam_grade', '')})"))
    for k, v in rows:
        table.add_row(k, v)
    out.print(table)


@app.command()
def info(model: Path = typer.Argument(..., help=".tmodel or .nam file")) -> None:
    """Show a model's chain, parameters in units, and training summary."""
    import tonemorph
    from tonemorph.export import neural_model_kind

    try:
        if neural_model_kind(model) == "nam":
            return _info_nam(model)
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
    if tr.get("mode") == "paired":
        out.print(f"captured from {tr.get('input', {}).get('name')} -> "
                  f"{tr.get('target', {}).get('name')} (paired): latency "
                  f"{tr.get('latency_samples')} samples, held-out ESR {tr.get('esr')}, MR-STFT "
                  f"{tr.get('mrstft')}, {tr.get('steps')} steps, {tr.get('seconds')} s, "
                  f"{tr.get('date')}")
    elif tr:
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
