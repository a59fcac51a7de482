"""The reports' figures as PNG bytes (matplotlib, Agg backend, imported lazily)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "COLORS",
    "response_plot",
    "shaper_plot",
    "dynamics_plot",
    "level_binned_plot",
    "histogram_plot",
]

COLORS = {"input": "#8c939d", "output": "#e8590c", "target": "#1971c2",
          "pre_eq": "#7048e8", "post_eq": "#0ca678", "cab": "#c2255c", "total": "#212529",
          "sag": "#f08c00", "comp": "#1971c2"}
_WIDTH_IN = 7.6
_DPI = 110


def _pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({
        "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
        "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
        "grid.color": "#e9ecef", "grid.linewidth": 0.8, "axes.edgecolor": "#adb5bd",
        "axes.axisbelow": True, "figure.facecolor": "white", "savefig.facecolor": "white",
    })
    return plt


def _png(fig: Any) -> bytes:
    """Render a figure to PNG bytes and free it."""
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _freq_axis(ax: Any, lo_hz: float, hi_hz: float) -> None:
    """Log frequency axis with musical tick labels."""
    ax.set_xscale("log")
    ax.set_xlim(lo_hz, hi_hz)
    ticks = [t for t in (20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000)
             if lo_hz <= t <= hi_hz]
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t // 1000}k" if t >= 1000 else str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("frequency (Hz)")


def response_plot(freqs_hz: np.ndarray, curves_db: Mapping[str, np.ndarray],
                  labels: Mapping[str, str], title: str,
                  points: tuple[np.ndarray, np.ndarray] | None = None) -> bytes:
    """Magnitude responses (dB) over log frequency; optional control points (Hz, dB)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(_WIDTH_IN, 3.0))
    for key, db in curves_db.items():
        ax.plot(freqs_hz, db, color=COLORS.get(key, None), lw=2.2 if key == "total" else 1.6,
                label=labels.get(key, key), ls="--" if key == "total" else "-")
    if points is not None:
        ax.plot(points[0], points[1], "o", ms=2.5, color=COLORS["cab"], alpha=0.5,
                label="cab control points")
    _freq_axis(ax, float(freqs_hz[0]), float(freqs_hz[-1]))
    ax.axhline(0.0, color="#adb5bd", lw=0.8)
    ax.set_ylabel("gain (dB)")
    ax.set_title(title, loc="left")
    ax.legend(loc="best", frameon=False, ncol=2)
    return _png(fig)


def shaper_plot(x: np.ndarray, y: np.ndarray, drive_db: float, bias: float,
                input_peak: float | None) -> bytes:
    """Waveshaper transfer curve with the clean line and where the playing's peaks sit."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(_WIDTH_IN / 2 + 0.4, 3.2))
    g = 10.0 ** (drive_db / 20.0)
    ymax = float(np.max(np.abs(y))) * 1.15 or 1.0
    ax.plot(x, np.clip(g * x, -ymax, ymax), color="#ced4da", lw=1.2, ls="--",
            label="no clipping")
    ax.plot(x, y, color=COLORS["output"], lw=2.2, label="learned drive")
    if input_peak is not None and input_peak > 0:
        ax.axvspan(-input_peak, input_peak, color=COLORS["target"], alpha=0.08,
                   label="your playing (99.9 % of peaks)")
    ax.set_ylim(-ymax, ymax)
    ax.set_xlim(float(x[0]), float(x[-1]))
    ax.set_xlabel("into the drive (full scale 1)")
    ax.set_ylabel("out of the drive")
    ax.set_title(f"drive {drive_db:+.1f} dB, bias {bias:+.2f}", loc="left")
    ax.legend(loc="upper left", frameon=False)
    return _png(fig)


def dynamics_plot(level_db: np.ndarray, curves_db: Mapping[str, np.ndarray],
                  labels: Mapping[str, str]) -> bytes:
    """Static compressor curves: output level against input level (dB), with the 1:1 line."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(_WIDTH_IN / 2 + 0.4, 3.2))
    ax.plot(level_db, level_db, color="#ced4da", lw=1.2, ls="--", label="1:1")
    for key, db in curves_db.items():
        ax.plot(level_db, db, color=COLORS.get(key), lw=2.2, label=labels.get(key, key))
    ax.set_xlim(float(level_db[0]), float(level_db[-1]))
    ax.set_ylim(float(level_db[0]), float(level_db[-1]))
    ax.set_aspect("equal")
    ax.set_xlabel("level in (dBFS RMS)")
    ax.set_ylabel("level out (dBFS RMS)")
    ax.set_title("static curves", loc="left")
    ax.legend(loc="upper left", frameon=False)
    return _png(fig)


def level_binned_plot(mel_hz: np.ndarray, spectra_db: Mapping[str, np.ndarray],
                      edges_db: Mapping[str, np.ndarray]) -> bytes:
    """Mean log-mel spectra per loudness quartile (quiet .. loud), one panel per bin."""
    plt = _pyplot()
    n_bins = next(iter(spectra_db.values())).shape[0]
    names = ["quietest", "quiet", "loud", "loudest"] if n_bins == 4 else [
        f"bin {i + 1}" for i in range(n_bins)]
    fig, axes = plt.subplots(1, n_bins, figsize=(_WIDTH_IN + 2.4, 3.1), sharey=True,
                             squeeze=False)
    short = {"input": "in", "output": "out", "target": "ref"}
    for b, ax in enumerate(axes[0]):
        for key, spec in spectra_db.items():
            ax.plot(mel_hz, spec[b], color=COLORS.get(key), lw=1.5, label=key)
        _freq_axis(ax, 40.0, float(mel_hz[-1]))
        ax.set_xticks([100, 1000, 10000])
        ax.set_xticklabels(["100", "1k", "10k"])
        ranges = "  ".join(f"{short.get(k, k)} {e[b]:.0f}..{e[b + 1]:.0f}"
                           for k, e in edges_db.items())
        ax.set_title(f"{names[b]} quarter\n", loc="left")
        ax.text(0.0, 1.02, f"{ranges} dBFS", transform=ax.transAxes, fontsize=6.5,
                color="#6c757d", va="bottom")
        # a signal with no frame in this quarter (a silent output) has a NaN row: not drawn
        drawn = [s[b][np.isfinite(s[b])] for s in spectra_db.values()]
        tops = [float(d.max()) for d in drawn if d.size]
        if tops:  # the log-mel floor (-100 dB) would flatten the rest
            ax.set_ylim(max(tops) - 60.0, max(tops) + 4.0)
    axes[0][0].set_ylabel("log-mel (dB)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False,
               bbox_to_anchor=(0.5, -0.06))
    fig.tight_layout()
    return _png(fig)


def histogram_plot(values: Sequence[Mapping[str, np.ndarray]], xlabels: Sequence[str],
                   titles: Sequence[str]) -> bytes:
    """Side-by-side step histograms (density) of per-window measures, one line per signal."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(values), figsize=(_WIDTH_IN + 0.8, 2.9), squeeze=False)
    for ax, vals, xl, title in zip(axes[0], values, xlabels, titles, strict=True):
        finite = [v[np.isfinite(v)] for v in vals.values() if np.size(v)]
        if not finite:
            continue
        allv = np.concatenate(finite)
        lo, hi = np.percentile(allv, [0.5, 99.5])
        bins = np.linspace(lo - 1.0, hi + 1.0, 31)
        for key, v in vals.items():
            if np.size(v):
                c = COLORS.get(key)
                clipped = np.clip(v, bins[0], bins[-1])
                ax.hist(clipped, bins=bins, density=True, histtype="stepfilled", color=c,
                        alpha=0.12)
                ax.hist(clipped, bins=bins, density=True, histtype="step", lw=1.8, color=c,
                        label=f"{key} (median {np.median(v):.1f})")
        ax.set_xlabel(xl)
        ax.set_yticks([])
        ax.set_ylim(0, ax.get_ylim()[1] * 1.35)  # room for the legend above the bars
        ax.set_title(title, loc="left")
        ax.legend(loc="upper left", frameon=False, ncol=1)
    fig.tight_layout()
    return _png(fig)
