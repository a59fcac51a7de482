"""Independent numpy forward passes written from the file formats alone (no tonemorph code).

`.nam` WaveNet / LSTM from the JSON document (NAM weight order), AIDA-X LSTM / GRU from the
RTNeural Keras-style JSON. Used to check our torch models and exporters.
"""

from __future__ import annotations

import numpy as np

_ACT = {"Tanh": np.tanh, "ReLU": lambda v: np.maximum(v, 0.0),
        "Sigmoid": lambda v: 1 / (1 + np.exp(-v))}


class _Reader:
    def __init__(self, weights):
        self.w = np.asarray(weights, dtype=np.float64)
        self.i = 0

    def take(self, *shape: int) -> np.ndarray:
        n = int(np.prod(shape))
        out = self.w[self.i: self.i + n].reshape(shape)
        self.i += n
        return out


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def nam_wavenet(doc: dict, x: np.ndarray) -> np.ndarray:
    """y for mono x, input before sample 0 taken as silence (the plugin pre-warms on zeros)."""
    cfg = doc["config"]
    r = _Reader(doc["weights"])
    arrays = []
    for lc in cfg["layers"]:
        ch, k, mid = lc["channels"], lc["kernel_size"], lc["channels"] * (2 if lc["gated"] else 1)
        layers = []
        rechannel = r.take(ch, lc["input_size"])
        for d in lc["dilations"]:
            conv_w = r.take(mid, ch, k)
            conv_b = r.take(mid)
            mixer = r.take(mid, lc["condition_size"])
            one_w = r.take(ch, ch)
            one_b = r.take(ch)
            layers.append((d, conv_w, conv_b, mixer, one_w, one_b))
        head_w = r.take(lc["head_size"], ch)
        head_b = r.take(lc["head_size"]) if lc["head_bias"] else np.zeros(lc["head_size"])
        arrays.append((lc, rechannel, layers, head_w, head_b))
    head_scale = r.take(1)[0]
    assert r.i == len(r.w), "weights left over"
    rf = 1 + sum((lc["kernel_size"] - 1) * sum(lc["dilations"]) for lc in cfg["layers"])
    cond = np.concatenate([np.zeros(rf - 1), np.asarray(x, np.float64)])[None]  # (1, L)
    z_in, head = cond, None
    for lc, rechannel, layers, head_w, head_b in arrays:
        k, ch = lc["kernel_size"], lc["channels"]
        z = rechannel @ z_in
        for d, conv_w, conv_b, mixer, one_w, one_b in layers:
            n = z.shape[1] - (k - 1) * d
            # tap j looks (k - 1 - j) * d samples back
            acc = sum(conv_w[:, :, j] @ z[:, j * d: j * d + n] for j in range(k))
            acc = acc + conv_b[:, None] + mixer @ cond[:, cond.shape[1] - n:]
            a = (np.tanh(acc[:ch]) * _sigmoid(acc[ch:]) if lc["gated"]
                 else _ACT[lc["activation"]](acc))
            z = z[:, z.shape[1] - n:] + one_w @ a + one_b[:, None]
            head = a if head is None else head[:, head.shape[1] - n:] + a
        head = head_w @ head + head_b[:, None]
        z_in = z
    return head_scale * head[0, head.shape[1] - len(x):]


def nam_lstm(doc: dict, x: np.ndarray) -> np.ndarray:
    """y for mono x from the stored initial state; gates i, f, g, o (torch order)."""
    cfg = doc["config"]
    hid, n_layers = cfg["hidden_size"], cfg["num_layers"]
    r = _Reader(doc["weights"])
    cells = []
    n_in = cfg["input_size"]
    for _ in range(n_layers):
        w = r.take(4 * hid, n_in + hid)
        b = r.take(4 * hid)
        h = r.take(hid).copy()
        c = r.take(hid).copy()
        cells.append([w, b, h, c])
        n_in = hid
    head_w = r.take(hid)
    head_b = r.take(1)[0]
    assert r.i == len(r.w), "weights left over"
    y = np.empty(len(x))
    for t, v in enumerate(np.asarray(x, np.float64)):
        inp = np.array([v])
        for cell in cells:
            w, b, h, c = cell
            g = w @ np.concatenate([inp, h]) + b
            i_, f_, g_, o_ = np.split(g, 4)
            c = _sigmoid(f_) * c + _sigmoid(i_) * np.tanh(g_)
            h = _sigmoid(o_) * np.tanh(c)
            cell[2], cell[3] = h, c
            inp = h
        y[t] = head_w @ inp + head_b
    return y


def aidax(doc: dict, x: np.ndarray) -> np.ndarray:
    """AIDA-X: RNN from zero state, dense, times 10^(out_gain/20), plus x when in_skip."""
    rnn, dense = doc["layers"]
    kernel = np.asarray(rnn["weights"][0], np.float64)  # (1, G*H)
    rec = np.asarray(rnn["weights"][1], np.float64)  # (H, G*H)
    bias = np.asarray(rnn["weights"][2], np.float64)
    dk = np.asarray(dense["weights"][0], np.float64)[:, 0]
    db = float(np.asarray(dense["weights"][1], np.float64)[0])
    hid = rec.shape[0]
    h = np.zeros(hid)
    c = np.zeros(hid)
    y = np.empty(len(x))
    for t, v in enumerate(np.asarray(x, np.float64)):
        if rnn["type"] == "lstm":
            g = v * kernel[0] + h @ rec + bias
            i_, f_, c_, o_ = np.split(g, 4)  # Keras order i, f, c, o
            c = _sigmoid(f_) * c + _sigmoid(i_) * np.tanh(c_)
            h = _sigmoid(o_) * np.tanh(c)
        else:  # Keras GRU, reset_after: gates z, r, h; bias rows (input, recurrent)
            gx = v * kernel[0] + bias[0]
            gh = h @ rec + bias[1]
            zx, rx, hx = np.split(gx, 3)
            zh, rh, hh = np.split(gh, 3)
            z = _sigmoid(zx + zh)
            rr = _sigmoid(rx + rh)
            cand = np.tanh(hx + rr * hh)
            h = z * h + (1 - z) * cand
        y[t] = h @ dk + db
    y = y * 10 ** (float(doc.get("out_gain", 0.0)) / 20)
    return y + np.asarray(x, np.float64) if doc.get("in_skip") else y
