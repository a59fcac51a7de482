"""NAM's WaveNet (layer arrays of dilated convolutions) as a torch module, weight order exact.

Layout follows Neural Amp Modeler's `nam/models/wavenet.py` and its C++ core: each layer array
is a 1x1 rechannel conv, then per dilation a dilated conv + a 1x1 input mixer of the condition
(the raw input) + activation + 1x1 residual conv; activations are summed into a head signal that
the array's 1x1 head rechannel maps to the next array (or to the output). Oord et al. 2016,
https://arxiv.org/abs/1609.03499.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as tF

from tonemorph.errors import ModelFileError, ParameterError

NAM_HEAD_SCALE = 0.02
_DILATIONS_10 = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_DILATIONS_LITE_1 = (1, 2, 4, 8, 16, 32, 64)
_DILATIONS_LITE_2 = (128, 256, 512, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

class _NumpyTanh(torch.autograd.Function):
    """tanh through numpy: this torch CPU build's tanh measured ~20x slower than np.tanh
    (8.9 ms vs 0.4 ms for 1.1 M floats, one core), and tanh was 31 % of a WaveNet forward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        y = torch.from_numpy(np.tanh(x.detach().contiguous().numpy()))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (y,) = ctx.saved_tensors
        return grad * (1 - y * y)


def tanh(x: torch.Tensor) -> torch.Tensor:
    """Exact tanh, computed by numpy for CPU float tensors (faster), else by torch."""
    if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64):
        return _NumpyTanh.apply(x)
    return torch.tanh(x)


#: activation names NAM's core knows, mapped to the exact function (the plugin's "Fasttanh"
#: approximates tanh; we run exact tanh, an ESR of ~1e-4 against the plugin is expected).
ACTIVATIONS = {
    "Tanh": tanh,
    "Fasttanh": tanh,
    "ReLU": torch.relu,
    "Sigmoid": torch.sigmoid,
    "Hardtanh": lambda x: torch.clamp(x, -1.0, 1.0),
    "LeakyReLU": lambda x: tF.leaky_relu(x, 0.01),
    "SiLU": tF.silu,
}


@dataclass(frozen=True)
class LayerArrayConfig:
    """One NAM layer array: sizes (channels), kernel size (samples), dilations (samples)."""

    input_size: int
    condition_size: int
    head_size: int
    channels: int
    kernel_size: int
    dilations: tuple[int, ...]
    activation: str = "Tanh"
    gated: bool = False
    head_bias: bool = False

    def to_dict(self) -> dict:
        """The config dict as NAM writes it in a `.nam` file."""
        d = asdict(self)
        d["dilations"] = list(self.dilations)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> LayerArrayConfig:
        """Parse a `.nam` layer-array dict; ModelFileError when a key is missing or odd."""
        try:
            cfg = cls(int(d["input_size"]), int(d["condition_size"]), int(d["head_size"]),
                      int(d["channels"]), int(d["kernel_size"]),
                      tuple(int(v) for v in d["dilations"]), str(d.get("activation", "Tanh")),
                      bool(d.get("gated", False)), bool(d.get("head_bias", False)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"WaveNet layer config is incomplete or invalid ({exc!r})") from exc
        if cfg.activation not in ACTIVATIONS:
            raise ModelFileError(f"WaveNet activation {cfg.activation!r} is not supported; "
                                 f"known: {sorted(ACTIVATIONS)}")
        if min(cfg.input_size, cfg.condition_size, cfg.head_size, cfg.channels,
               cfg.kernel_size) < 1 or not cfg.dilations or min(cfg.dilations) < 1:
            raise ModelFileError(f"WaveNet layer config has a size below 1: {d}")
        return cfg

    @property
    def receptive_field(self) -> int:
        """Samples of input one output sample of this array depends on."""
        return 1 + (self.kernel_size - 1) * sum(self.dilations)


def _array(input_size: int, head_size: int, channels: int, dilations: Sequence[int],
           head_bias: bool) -> LayerArrayConfig:
    return LayerArrayConfig(input_size, 1, head_size, channels, 3, tuple(dilations), "Tanh",
                            False, head_bias)


def _two_arrays(ch: int, d1: Sequence[int], d2: Sequence[int]) -> tuple[LayerArrayConfig, ...]:
    return (_array(1, ch // 2, ch, d1, False), _array(ch, 1, ch // 2, d2, True))


#: NAM trainer presets (`nam/train/core.py`): standard 13,802 weights, lite 6,554,
#: feather 3,026, nano 842; all see 4,093 samples.
WAVENET_PRESETS: dict[str, tuple[LayerArrayConfig, ...]] = {
    "standard": _two_arrays(16, _DILATIONS_10, _DILATIONS_10),
    "lite": _two_arrays(12, _DILATIONS_LITE_1, _DILATIONS_LITE_2),
    "feather": _two_arrays(8, _DILATIONS_LITE_1, _DILATIONS_LITE_2),
    "nano": _two_arrays(4, _DILATIONS_LITE_1, _DILATIONS_LITE_2),
}


class _LayerArray(torch.nn.Module):
    def __init__(self, cfg: LayerArrayConfig):
        super().__init__()
        self.cfg = cfg
        mid = 2 * cfg.channels if cfg.gated else cfg.channels
        conv = torch.nn.Conv1d
        self.rechannel = conv(cfg.input_size, cfg.channels, 1, bias=False)
        self.convs = torch.nn.ModuleList(
            [conv(cfg.channels, mid, cfg.kernel_size, dilation=d) for d in cfg.dilations])
        self.mixers = torch.nn.ModuleList(
            [conv(cfg.condition_size, mid, 1, bias=False) for _ in cfg.dilations])
        self.one_by_ones = torch.nn.ModuleList(
            [conv(cfg.channels, cfg.channels, 1) for _ in cfg.dilations])
        self.head_rechannel = conv(cfg.channels, cfg.head_size, 1, bias=cfg.head_bias)
        self.act = ACTIVATIONS[cfg.activation]

    def forward(self, x: torch.Tensor, c: torch.Tensor, head: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, in, L), condition c (B, cond, Lc >= L) -> (head out, layer out), both L-R+1."""
        out_len = x.shape[-1] - (self.cfg.receptive_field - 1)
        z = self.rechannel(x)
        ch = self.cfg.channels
        for conv, mixer, one in zip(self.convs, self.mixers, self.one_by_ones):
            zc = conv(z)
            n = zc.shape[-1]
            z1 = zc + mixer(c[..., -n:])
            a = self.act(z1[:, :ch]) * torch.sigmoid(z1[:, ch:]) if self.cfg.gated else (
                self.act(z1))
            z = z[..., -n:] + one(a)
            term = a[..., -out_len:]
            head = term if head is None else head[..., -out_len:] + term
        return self.head_rechannel(head), z

    def modules_in_weight_order(self) -> list[torch.nn.Conv1d]:
        mods: list[torch.nn.Conv1d] = [self.rechannel]
        for conv, mixer, one in zip(self.convs, self.mixers, self.one_by_ones):
            mods += [conv, mixer, one]
        return mods + [self.head_rechannel]


class WaveNet(torch.nn.Module):
    """NAM WaveNet; forward maps x (batch, samples) to y (batch, samples), causal, zero history.

    `receptive_field` is in samples; `warmup_samples` = receptive_field - 1 (outputs whose
    window reaches before the segment start see zeros, not the real past).
    """

    architecture = "WaveNet"

    def __init__(self, layers: Sequence[LayerArrayConfig], head_scale: float = NAM_HEAD_SCALE):
        super().__init__()
        if not layers:
            raise ParameterError("a WaveNet needs at least one layer array")
        for prev, nxt in zip(layers, layers[1:]):
            if nxt.input_size != prev.channels or nxt.channels != prev.head_size:
                raise ModelFileError("WaveNet layer arrays do not chain: array input_size must "
                                     "equal the previous channels, channels the previous "
                                     "head_size")
        if layers[0].input_size != 1 or layers[-1].head_size != 1 or any(
                a.condition_size != 1 for a in layers):
            raise ModelFileError("only mono WaveNets (input, condition and output size 1) are "
                                 "supported")
        self.layer_configs = tuple(layers)
        self.arrays = torch.nn.ModuleList([_LayerArray(c) for c in layers])
        self.register_buffer("head_scale", torch.tensor(float(head_scale)))

    @classmethod
    def preset(cls, name: str) -> WaveNet:
        """A freshly initialised NAM preset: standard, lite, feather or nano."""
        if name not in WAVENET_PRESETS:
            raise ParameterError(f"unknown WaveNet preset {name!r}; choose from "
                                 f"{list(WAVENET_PRESETS)}")
        return cls(WAVENET_PRESETS[name])

    @property
    def receptive_field(self) -> int:
        """Samples of input each output sample depends on (4,093 for the NAM presets)."""
        return 1 + sum(c.receptive_field - 1 for c in self.layer_configs)

    @property
    def warmup_samples(self) -> int:
        """Samples at each training segment start whose output sees padding, not history."""
        return self.receptive_field - 1

    def forward_valid(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, L) -> (B, L - receptive_field + 1): only outputs with a full input window."""
        c = x[:, None, :]
        y, head = c, None
        for arr in self.arrays:
            head, y = arr(y, c, head)
        return (self.head_scale * head)[:, 0, :]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T) -> y (B, T): causal, the input before sample 0 taken as silence."""
        return self.forward_valid(tF.pad(x, (self.receptive_field - 1, 0)))

    # --- NAM export protocol ---------------------------------------------------------------
    def export_config(self) -> dict:
        """The `config` object of a `.nam` file."""
        return {"layers": [c.to_dict() for c in self.layer_configs], "head": None,
                "head_scale": float(self.head_scale)}

    def _weight_tensors(self) -> list[torch.Tensor]:
        out = []
        for arr in self.arrays:
            for m in arr.modules_in_weight_order():
                out.append(m.weight)
                if m.bias is not None:
                    out.append(m.bias)
        return out

    def export_weights(self) -> np.ndarray:
        """Flat weights in NAM order (conv weights (out, in, kernel), then bias); head_scale last."""
        with torch.no_grad():
            parts = [t.detach().reshape(-1).double().cpu() for t in self._weight_tensors()]
            parts.append(self.head_scale.reshape(1).double().cpu())
            return torch.cat(parts).numpy()

    def import_weights(self, weights: Sequence[float] | np.ndarray) -> None:
        """Load flat NAM-order weights; ModelFileError when the count does not match."""
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        need = self.num_weights()
        if w.size != need:
            raise ModelFileError(f"WaveNet config needs {need} weights, the file has {w.size}")
        i = 0
        with torch.no_grad():
            for t in self._weight_tensors():
                n = t.numel()
                t.copy_(torch.from_numpy(w[i: i + n].reshape(t.shape)).to(t.dtype))
                i += n
            self.head_scale.fill_(float(w[i]))

    def num_weights(self) -> int:
        """Number of floats in the `.nam` weights list (head_scale included)."""
        return sum(t.numel() for t in self._weight_tensors()) + 1


def from_nam_config(config: dict) -> WaveNet:
    """Build a WaveNet from a `.nam` config; ModelFileError when it is not one we implement."""
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ModelFileError("WaveNet config lacks its 'layers' list")
    if config.get("head") is not None:
        raise ModelFileError("WaveNet with a separate head network is not supported "
                             "(only 'head': null, as every NAM preset writes)")
    layers = [LayerArrayConfig.from_dict(d) for d in config["layers"]]
    return WaveNet(layers, float(config.get("head_scale", NAM_HEAD_SCALE)))


__all__ = ["ACTIVATIONS", "WAVENET_PRESETS", "LayerArrayConfig", "WaveNet", "from_nam_config"]
