"""Paired capture: tonemorph's capture mode vs Neural Amp Modeler's own trainer, same pair, same
CPU time, one run; plus grey-box capture time and quality.

Protocol: the reamp signal (`tonemorph.dsp.excitation.capture_signal`, sweeps, noise bursts and
guitar-like phrases at several levels) is played through a third-party chain (guitarix / Calf
LV2 plugins, sox, cabinet IRs; `bench/chains.py`) with an added interface latency. Every method
trains on that one pair, aligned once by `tonemorph.dsp.align` (NAM gets the same aligned
files and the same train / validation split), and is scored on held-out guitar: performance C
of the bench cases (FluidR3 guitar, other notes) through the same chain, against the chain's
own output. Neural methods get the same wall-clock budget on the same 2 CPU threads.

    .venv/bin/pip install -c constraints.txt -e ".[nam]"
    flock /tmp/tonemorph-heavy.lock .venv/bin/python bench/bench_paired.py --seconds 180

Results: bench/results/paired.md, paired.json, paired_esr_vs_time.png.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from audio_util import read_mono
from chains import CHAINS

from tonemorph.dsp.align import align_pair, apply_lag
from tonemorph.learn.paired import _three_way, capture_module, fit_paired_chain
from tonemorph.learn.train import SEGMENT_SAMPLES, VAL_MAX_SAMPLES, predict
from tonemorph.metrics import esr_grade, mrstft_distance

SR = 48000
INTERFACE_LATENCY = 150  # samples added to the reamp, as an audio interface round trip would
OUTPUT_PEAK = 0.9  # the reamp's peak after the chain (full scale 1)
NAM_WAVENET_STANDARD = {  # NAM's "standard" WaveNet in the trainer 0.13 config layout
    "layers_configs": [
        {"input_size": 1, "condition_size": 1, "channels": 16, "kernel_size": 3,
         "dilations": [2 ** i for i in range(10)], "activation": "Tanh",
         "head": {"out_channels": 8, "kernel_size": 1, "bias": False}},
        {"input_size": 16, "condition_size": 1, "channels": 8, "kernel_size": 3,
         "dilations": [2 ** i for i in range(10)], "activation": "Tanh",
         "head": {"out_channels": 1, "kernel_size": 1, "bias": True}},
    ],
    "head_scale": 0.02,
}
# NAM's classic training recipe (its colab / GUI defaults): ESR validation, pre-emphasis,
# Adam 4e-3 with exponential decay per epoch, batches of 16 x 8192 samples
NAM_LOSS = {"val_loss": "esr", "mask_first": 4096, "pre_emph_weight": 1.0, "pre_emph_coef": 0.85,
            "mrstft_weight": 2e-4}
NAM_OPT = {"optimizer": {"lr": 0.004},
           "lr_scheduler": {"class": "ExponentialLR", "kwargs": {"gamma": 0.993}}}


def held_out(case_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Held-out guitar (C) and the chain's output for it, mono float32 at SR."""
    return (read_mono(case_dir / "C_input.wav"), read_mono(case_dir / "C_truth.wav"))


def score(pred: np.ndarray, truth: np.ndarray, offset: int) -> dict:
    """ESR and MR-STFT of a prediction aligned to the truth (`offset`: the chain's own lag)."""
    t = truth[offset:]
    p = pred[: len(t)]
    t = t[: len(p)]
    e = float(np.sum((t.astype(np.float64) - p) ** 2) / np.sum(t.astype(np.float64) ** 2))
    return {"esr": e, "mrstft": mrstft_distance(p, t, SR), "grade": esr_grade(e)}


class _ValTimes:
    """Lightning callback: (seconds since fit start, validation ESR) after each validation."""

    def __new__(cls):  # built lazily so the bench imports without pytorch_lightning
        import pytorch_lightning as pl

        class Cb(pl.Callback):
            def __init__(self):
                self.t0 = time.monotonic()
                self.history: list[tuple[float, float]] = []

            def on_validation_end(self, trainer, pl_module):
                v = trainer.callback_metrics.get("ESR", trainer.callback_metrics.get("val_loss"))
                if v is not None:
                    self.history.append((time.monotonic() - self.t0, float(v)))

        return Cb()


def train_nam(x_tr: np.ndarray, y_tr: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
              seconds: float, seed: int) -> tuple[torch.nn.Module, dict]:
    """NAM's own Lightning trainer on the given aligned split, stopped after `seconds`."""
    import pytorch_lightning as pl
    from nam.data import Split, init_dataset
    from nam.train import lightning_module as lm
    from torch.utils.data import DataLoader

    pl.seed_everything(seed, verbose=False)
    tmp = Path(tempfile.mkdtemp(prefix="tm_nam_"))
    for name, a in (("xt", x_tr), ("yt", y_tr), ("xv", x_val), ("yv", y_val)):
        sf.write(tmp / f"{name}.wav", a, SR, subtype="FLOAT")
    model = lm.LightningModule.init_from_config(
        {"net": {"name": "WaveNet", "config": NAM_WAVENET_STANDARD}, "loss": NAM_LOSS, **NAM_OPT})
    data = {"train": {"x_path": str(tmp / "xt.wav"), "y_path": str(tmp / "yt.wav"), "ny": 8192},
            "validation": {"x_path": str(tmp / "xv.wav"), "y_path": str(tmp / "yv.wav"),
                           "ny": None},
            "common": {"nx": model.net.receptive_field, "delay": 0}}
    dt, dv = init_dataset(data, Split.TRAIN), init_dataset(data, Split.VALIDATION)
    for ds in (dt, dv):
        ds.handshake(model.net)
        model.net.handshake(ds)
    ck = pl.callbacks.ModelCheckpoint(monitor="val_loss", save_top_k=1, dirpath=str(tmp / "ck"))
    times = _ValTimes()
    trainer = pl.Trainer(max_time={"seconds": seconds}, max_epochs=100000, accelerator="cpu",
                         callbacks=[ck, times], default_root_dir=str(tmp), logger=False,
                         enable_progress_bar=False, enable_model_summary=False)
    t0 = time.monotonic()
    trainer.fit(model, DataLoader(dt, batch_size=16, shuffle=True, drop_last=True),
                DataLoader(dv))
    train_s = time.monotonic() - t0
    if ck.best_model_path:
        model = lm.LightningModule.load_from_checkpoint(
            ck.best_model_path, **lm.LightningModule.parse_config(
                {"net": {"name": "WaveNet", "config": NAM_WAVENET_STANDARD}, "loss": NAM_LOSS,
                 **NAM_OPT}))
    model.eval()
    return model.net, {"seconds": round(train_s, 1), "steps": int(trainer.global_step),
                       "epochs": int(trainer.current_epoch),
                       "history": [[round(t, 1), round(e, 6)] for t, e in times.history]}


def nam_predict(net: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """NAM net output for a 1-D signal (its own zero padding of the receptive field)."""
    with torch.no_grad():
        return net(torch.from_numpy(x.astype(np.float32))).numpy().reshape(-1)[: len(x)]


LINEAR_FFT = 8192  # Welch segment and FIR length of the linear reference fits


def linear_references(xa: np.ndarray, ya: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best linear FIRs from an aligned pair: unconstrained (H1 = S_xy / S_xx) and minimum
    phase with the same magnitude (what a grey-box cabinet can be at best)."""
    import scipy.signal

    from tonemorph.dsp.fir import minimum_phase_from_magnitude

    _, p_xy = scipy.signal.csd(xa, ya, fs=SR, nperseg=LINEAR_FFT)
    _, p_xx = scipy.signal.welch(xa, fs=SR, nperseg=LINEAR_FFT)
    h1 = p_xy / np.maximum(p_xx, 1e-30)
    free = np.fft.irfft(h1, LINEAR_FFT)
    minph = minimum_phase_from_magnitude(20 * np.log10(np.abs(h1) + 1e-12), LINEAR_FFT)
    out = scipy.signal.fftconvolve(xa, minph)[: len(xa)]
    minph = minph * float(np.dot(out, ya) / np.dot(out, out))  # least-squares level
    return free, minph


def run_chain(name: str, case_dir: Path, seconds: float, greybox_s: float, seed: int,
              reamp: np.ndarray, neural: bool = True) -> dict:
    """All methods on one chain (only the grey-box capture when `neural` is False)."""
    chain = CHAINS[name]
    y = chain.process(reamp)
    # one output gain for the pair and the held-out truth: NAM refuses targets that reach 0 dBFS
    gain = OUTPUT_PEAK / float(np.max(np.abs(y)))
    y_lat = np.concatenate([np.zeros(INTERFACE_LATENCY, np.float32), gain * y])
    xa, ya, al = align_pair(reamp, y_lat, SR)
    own_lag = al.lag_samples - INTERFACE_LATENCY  # the chain's own delay, also in the truth
    xc, yc = held_out(case_dir)
    yc = gain * yc
    res: dict = {"chain": name, "kind": chain.kind, "summary": chain.summary,
                 "output_gain_db": round(20 * np.log10(gain), 2),
                 "latency_found": al.lag_samples, "latency_true_interface": INTERFACE_LATENCY,
                 "chain_own_lag": own_lag, "correlation": round(al.correlation, 3),
                 "reamp_seconds": round(len(reamp) / SR, 1),
                 "held_out_seconds": round(len(xc) / SR, 1), "methods": {}}
    res["methods"]["identity"] = score(xc, yc, own_lag)
    import scipy.signal

    free, minph = linear_references(xa, ya)
    for label, h in (("linear FIR, free phase (H1)", free),
                     ("linear FIR, minimum phase", minph)):
        res["methods"][label] = score(scipy.signal.fftconvolve(xc, h)[: len(xc)], yc, own_lag)

    t0 = time.monotonic()
    tone = fit_paired_chain(reamp, y_lat, SR, seconds=greybox_s, seed=seed)
    gb_s = time.monotonic() - t0
    res["methods"]["tonemorph grey-box"] = {
        **score(tone.apply(xc, SR), yc, own_lag), "train_s": round(gb_s, 1),
        "steps": tone.training["steps"], "esr_capture_tail": tone.training["esr"]}
    print(f"[{name}] grey-box {gb_s:.0f} s: {res['methods']['tonemorph grey-box']}", flush=True)
    if not neural:
        return res

    from tonemorph.neural import make_model

    torch.manual_seed(seed)
    model = make_model("standard")
    fit, tr = capture_module(model, reamp, y_lat, SR, seconds=seconds, seed=seed)
    res["methods"]["tonemorph WaveNet standard"] = {
        **score(predict(fit.module, xc, model.warmup_samples), yc, own_lag),
        "train_s": tr["seconds"],
        "steps": tr["steps"], "history": tr["history"]}
    print(f"[{name}] tonemorph WaveNet: {res['methods']['tonemorph WaveNet standard']['esr']:.4f}",
          flush=True)

    warm = model.warmup_samples
    n_train, n_val, _ = _three_way(len(xa), warm + SEGMENT_SAMPLES, VAL_MAX_SAMPLES, SR)
    xa, ya = apply_lag(reamp, y_lat, al.lag_samples)
    try:
        net, info = train_nam(xa[:n_train], ya[:n_train], xa[n_train: n_train + n_val],
                              ya[n_train: n_train + n_val], seconds, seed)
        res["methods"]["NAM trainer WaveNet standard"] = {
            **score(nam_predict(net, xc), yc, own_lag), "train_s": info["seconds"],
            "steps": info["steps"], "epochs": info["epochs"], "history": info["history"]}
        print(f"[{name}] NAM: {res['methods']['NAM trainer WaveNet standard']['esr']:.4f}",
              flush=True)
    except ImportError as exc:
        res["methods"]["NAM trainer WaveNet standard"] = {"error": f"not installed: {exc}"}
    return res


def table(results: list[dict]) -> str:
    """Markdown: ESR / MR-STFT on held-out guitar per chain and method."""
    lines = ["| chain | method | ESR | grade | MR-STFT | train s | steps |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        for m, v in r["methods"].items():
            if "error" in v:
                lines.append(f"| {r['chain']} | {m} | - | - | - | - | {v['error']} |")
                continue
            lines.append(f"| {r['chain']} | {m} | {v['esr']:.4f} | {v['grade']} | "
                         f"{v['mrstft']:.3f} | {v.get('train_s', '-')} | {v.get('steps', '-')} |")
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    """Validation ESR against training time for the two neural trainers, per chain."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = [r for r in results if any(v.get("history") for v in r["methods"].values())]
    if not results:
        return
    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 3.5), squeeze=False)
    for ax, r in zip(axes[0], results):
        for m, v in r["methods"].items():
            h = v.get("history")
            if h:
                t, e = zip(*h)
                ax.semilogy(t, e, marker=".", label=m)
        ax.set_title(r["chain"])
        ax.set_xlabel("training time, s")
        ax.set_ylabel("validation ESR")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chains", default="amp_crunch,heavy_drive_cab")
    ap.add_argument("--greybox-chains", default="linear_eq_cab",
                    help="chains captured by the grey-box only (simple ones, run first)")
    ap.add_argument("--cases", default=str(HERE / "cases" / "quick"),
                    help="bench cases folder (held-out C takes)")
    ap.add_argument("--source", default="fr3_clean")
    ap.add_argument("--seconds", type=float, default=180.0, help="neural training budget, s")
    ap.add_argument("--greybox-seconds", type=float, default=40.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(HERE / "results" / "paired"))
    ap.add_argument("--reamp-seconds", type=float, default=None,
                    help="use only the start of the reamp signal (smoke tests)")
    ap.add_argument("--deadline", default=None,
                    help="HH:MM UTC: shrink the budget (not below 60 s) and the chain list to "
                         "finish by then")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    chains = [c for c in args.chains.split(",") if c]
    gb_chains = [c for c in args.greybox_chains.split(",") if c]
    if args.deadline:
        now = time.gmtime()
        hh, mm = (int(v) for v in args.deadline.split(":"))
        left = (hh * 60 + mm) * 60 - (now.tm_hour * 3600 + now.tm_min * 60 + now.tm_sec)
        per_chain_extra = args.greybox_seconds + 90.0  # rendering, alignment, scoring, NAM setup
        gb_cost = args.greybox_seconds + 40.0
        # the first full comparison comes first, then the grey-box-only chains, then the rest
        if left < per_chain_extra + 2 * 60.0 + len(gb_chains) * gb_cost:
            gb_chains = []
        left -= len(gb_chains) * gb_cost
        while chains and left / len(chains) < per_chain_extra + 2 * 60.0:
            chains = chains[:-1]
        if chains:
            args.seconds = min(args.seconds, (left / len(chains) - per_chain_extra) / 2)
        print(f"deadline {args.deadline}: {len(chains)} chain(s), {args.seconds:.0f} s budget",
              flush=True)
    from tonemorph.dsp.excitation import capture_signal

    reamp, _ = capture_signal(SR)
    if args.reamp_seconds:
        reamp = reamp[: int(args.reamp_seconds * SR)]
    results = []
    for name in gb_chains + chains:
        case_dir = Path(args.cases) / args.source / name
        results.append(run_chain(name, case_dir, args.seconds, args.greybox_seconds,
                                 args.seed, reamp, neural=name in chains))
        out = Path(args.out)
        meta = {"budget_s": args.seconds, "greybox_budget_s": args.greybox_seconds,
                "threads": torch.get_num_threads(), "seed": args.seed,
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results},
                                                       indent=1))
        md = (f"# Paired capture vs NAM's trainer\n\nSame reamp pair (capture_signal, "
              f"{results[0]['reamp_seconds']} s) through each third-party chain, same "
              f"alignment and split, {args.seconds:.0f} s wall-clock budget per neural trainer "
              f"on {meta['threads']} CPU threads; grey-box budget {args.greybox_seconds:.0f} s. "
              "Scored on held-out guitar (bench case C through the same chain), no loudness "
              f"normalisation. {meta['date']}.\n\n{table(results)}\n")
        out.with_suffix(".md").write_text(md)
        plot(results, out.parent / (out.name + "_esr_vs_time.png"))
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
