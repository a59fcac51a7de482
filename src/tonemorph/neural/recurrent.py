"""Recurrent models: NAM's LSTM (layers x hidden, learned-free initial state) and the
RTNeural one-RNN-plus-dense layout AIDA-X loads (LSTM or GRU, optional input skip)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from tonemorph.errors import ModelFileError, ParameterError

SETTLE_SAMPLES = 48000  # silence run to find the initial state (NAM uses 1 s at 48 kHz)
RNN_WARMUP_SAMPLES = 4096  # segment start ignored in training while the state forgets zeros
AIDAX_HIDDEN_SIZES = (8, 12, 16, 20, 32, 40, 64, 80)  # sizes the AIDA-X plugin has compiled


class NamLSTM(torch.nn.Module):
    """NAM LSTM: stacked torch LSTM + linear head; starts from a state settled on silence.

    forward maps x (batch, samples) -> y (batch, samples), causal. `h0`, `c0` (layers, hidden)
    are buffers written by `settle()`; the `.nam` file stores them as the initial state.
    """

    architecture = "LSTM"
    receptive_field = 1
    warmup_samples = RNN_WARMUP_SAMPLES

    def __init__(self, hidden_size: int = 24, num_layers: int = 1, input_size: int = 1):
        super().__init__()
        if hidden_size < 1 or num_layers < 1:
            raise ParameterError(f"LSTM needs hidden_size and num_layers >= 1, got "
                                 f"{num_layers} layers of {hidden_size} hidden units")
        if input_size != 1:
            raise ModelFileError("only mono LSTMs (input_size 1) are supported")
        self.core = torch.nn.LSTM(input_size, hidden_size, num_layers, batch_first=True)
        self.head = torch.nn.Linear(hidden_size, 1)
        self.register_buffer("h0", torch.zeros(num_layers, hidden_size))
        self.register_buffer("c0", torch.zeros(num_layers, hidden_size))

    @property
    def hidden_size(self) -> int:
        """Units per layer."""
        return self.core.hidden_size

    @property
    def num_layers(self) -> int:
        """Stacked LSTM layers."""
        return self.core.num_layers

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> torch.Tensor:
        """x (B, T) -> y (B, T), from `state` ((L, B, H) each) or the settled initial state."""
        y, _ = self.forward_with_state(x, state)
        return y

    def forward_with_state(self, x: torch.Tensor,
                           state: tuple[torch.Tensor, torch.Tensor] | None = None
                           ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Like forward, also returning the final (h, c) for streaming."""
        if state is None:
            b = x.shape[0]
            state = (self.h0[:, None].expand(-1, b, -1).contiguous().to(x.dtype),
                     self.c0[:, None].expand(-1, b, -1).contiguous().to(x.dtype))
        feats, new_state = self.core(x[:, :, None], state)
        return self.head(feats)[:, :, 0], new_state

    @torch.no_grad()
    def settle(self, samples: int = SETTLE_SAMPLES) -> None:
        """Set h0, c0 to the state after `samples` of silence from zero (what NAM exports)."""
        z = torch.zeros(1, samples, 1, dtype=self.head.weight.dtype)
        _, (h, c) = self.core(z)
        self.h0.copy_(h[:, 0])
        self.c0.copy_(c[:, 0])

    # --- NAM export protocol ---------------------------------------------------------------
    def export_config(self) -> dict:
        """The `config` object of a `.nam` file."""
        return {"input_size": 1, "hidden_size": self.hidden_size, "num_layers": self.num_layers}

    def export_weights(self) -> np.ndarray:
        """Per layer [W_ih | W_hh] (4H x (in+H)), b_ih + b_hh, h0, c0; then head weight, bias."""
        parts = []
        with torch.no_grad():
            for i in range(self.num_layers):
                w = torch.cat([getattr(self.core, f"weight_ih_l{i}"),
                               getattr(self.core, f"weight_hh_l{i}")], dim=1)
                b = getattr(self.core, f"bias_ih_l{i}") + getattr(self.core, f"bias_hh_l{i}")
                parts += [w.reshape(-1), b, self.h0[i], self.c0[i]]
            parts += [self.head.weight.reshape(-1), self.head.bias]
            return torch.cat([p.double().cpu() for p in parts]).numpy()

    def import_weights(self, weights: Sequence[float] | np.ndarray) -> None:
        """Load NAM-order weights (the summed bias goes to b_ih, b_hh is zeroed)."""
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        need = self.num_weights()
        if w.size != need:
            raise ModelFileError(f"LSTM config needs {need} weights, the file has {w.size}")
        h = self.hidden_size
        i = 0

        def take(n: int) -> torch.Tensor:
            nonlocal i
            t = torch.from_numpy(w[i: i + n].copy()).float()
            i += n
            return t

        with torch.no_grad():
            for layer in range(self.num_layers):
                n_in = 1 if layer == 0 else h
                wx = take(4 * h * (n_in + h)).reshape(4 * h, n_in + h)
                getattr(self.core, f"weight_ih_l{layer}").copy_(wx[:, :n_in])
                getattr(self.core, f"weight_hh_l{layer}").copy_(wx[:, n_in:])
                getattr(self.core, f"bias_ih_l{layer}").copy_(take(4 * h))
                getattr(self.core, f"bias_hh_l{layer}").zero_()
                self.h0[layer].copy_(take(h))
                self.c0[layer].copy_(take(h))
            self.head.weight.copy_(take(h).reshape(1, h))
            self.head.bias.copy_(take(1))

    def num_weights(self) -> int:
        """Number of floats in the `.nam` weights list (2,569 for 1 x 24)."""
        h, total, n_in = self.hidden_size, 0, 1
        for _ in range(self.num_layers):
            total += 4 * h * (n_in + h) + 4 * h + 2 * h
            n_in = h
        return total + h + 1


def from_nam_config(config: dict) -> NamLSTM:
    """Build a NamLSTM from a `.nam` config; ModelFileError when it is not one we implement."""
    try:
        return NamLSTM(int(config["hidden_size"]), int(config.get("num_layers", 1)),
                       int(config.get("input_size", 1)))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"LSTM config is incomplete or invalid ({exc!r})") from exc


class RnnDense(torch.nn.Module):
    """AIDA-X / RTNeural model: one LSTM or GRU layer then a dense layer to one output.

    y = dense(rnn(x)) * 10^(out_gain_db / 20), plus x when `in_skip` (the plugin adds the
    input). State starts at zero (RTNeural's reset). forward maps (batch, samples) -> same.
    """

    receptive_field = 1
    warmup_samples = RNN_WARMUP_SAMPLES
    architecture = "RTNeural"

    def __init__(self, unit: str = "LSTM", hidden_size: int = 16, in_skip: bool = False,
                 out_gain_db: float = 0.0):
        super().__init__()
        if unit not in ("LSTM", "GRU"):
            raise ParameterError(f"unit must be LSTM or GRU, got {unit!r}")
        if hidden_size < 1:
            raise ParameterError(f"hidden_size must be >= 1, got {hidden_size}")
        self.unit = unit
        rnn = torch.nn.LSTM if unit == "LSTM" else torch.nn.GRU
        self.rnn = rnn(1, hidden_size, 1, batch_first=True)
        self.dense = torch.nn.Linear(hidden_size, 1)
        self.in_skip = bool(in_skip)
        self.out_gain_db = float(out_gain_db)

    @property
    def hidden_size(self) -> int:
        """Units of the recurrent layer."""
        return self.rnn.hidden_size

    def forward(self, x: torch.Tensor, state=None) -> torch.Tensor:
        """x (B, T) -> y (B, T) from zero state (or `state`)."""
        y, _ = self.forward_with_state(x, state)
        return y

    def forward_with_state(self, x: torch.Tensor, state=None):
        """Like forward, also returning the final recurrent state for streaming."""
        feats, new_state = self.rnn(x[:, :, None], state)
        y = self.dense(feats)[:, :, 0] * (10.0 ** (self.out_gain_db / 20))
        return (y + x if self.in_skip else y), new_state


__all__ = ["AIDAX_HIDDEN_SIZES", "SETTLE_SAMPLES", "NamLSTM", "RnnDense", "from_nam_config"]
