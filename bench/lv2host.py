"""Minimal offline LV2 host (ctypes + liblilv) for the benchmark chains.

``lv2_process`` runs one plugin over a mono array in this process; ``run_lv2_file`` runs one
over a float WAV file in a subprocess (this file as a script, or lilv's ``lv2apply``), which is
how ``chains.Lv2`` applies plugins::

    python bench/lv2host.py IN.wav OUT.wav URI CONTROLS_JSON
"""

from __future__ import annotations

import ctypes as ct
import json
import os
import sys
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from audio_util import SR, read_mono, run_command

# LV2 plugins run in a subprocess: by default the small lilv host in this file (256-frame
# blocks, bit-identical to lv2apply on these plugins and ~10x faster, because lv2apply makes two
# system calls per frame); TM_LV2_HOST=lv2apply forces lilv's own lv2apply.
LV2_HOST = os.environ.get("TM_LV2_HOST", "python")
LV2_BLOCK = 256

LV2_CORE = "http://lv2plug.in/ns/lv2core#"
LV2_ATOM_PORT = b"http://lv2plug.in/ns/ext/atom#AtomPort"
LV2_ATOM_SEQUENCE = b"http://lv2plug.in/ns/ext/atom#Sequence"
LV2_ATOM_CHUNK = b"http://lv2plug.in/ns/ext/atom#Chunk"
ATOM_BUF_BYTES = 8192


class _LV2Descriptor(ct.Structure):
    _fields_ = [
        ("URI", ct.c_char_p),
        ("instantiate", ct.c_void_p),
        ("connect_port", ct.CFUNCTYPE(None, ct.c_void_p, ct.c_uint32, ct.c_void_p)),
        ("activate", ct.CFUNCTYPE(None, ct.c_void_p)),
        ("run", ct.CFUNCTYPE(None, ct.c_void_p, ct.c_uint32)),
        ("deactivate", ct.CFUNCTYPE(None, ct.c_void_p)),
        ("cleanup", ct.CFUNCTYPE(None, ct.c_void_p)),
        ("extension_data", ct.c_void_p),
    ]


class _LilvInstance(ct.Structure):
    _fields_ = [("lv2_descriptor", ct.POINTER(_LV2Descriptor)), ("lv2_handle", ct.c_void_p),
                ("pimpl", ct.c_void_p)]


@lru_cache(maxsize=1)
def _lilv() -> ct.CDLL | None:
    """liblilv with the prototypes used here, or None when it cannot be loaded."""
    try:
        lib = ct.CDLL("liblilv-0.so.0")
    except OSError:
        return None
    vp = ct.c_void_p
    protos: list[tuple[str, Any, list[Any]]] = [
        ("lilv_world_new", vp, []),
        ("lilv_world_load_all", None, [vp]),
        ("lilv_world_get_all_plugins", vp, [vp]),
        ("lilv_new_uri", vp, [vp, ct.c_char_p]),
        ("lilv_plugins_get_by_uri", vp, [vp, vp]),
        ("lilv_plugin_get_num_ports", ct.c_uint32, [vp]),
        ("lilv_plugin_get_port_by_index", vp, [vp, ct.c_uint32]),
        ("lilv_port_get_symbol", vp, [vp, vp]),
        ("lilv_node_as_string", ct.c_char_p, [vp]),
        ("lilv_port_is_a", ct.c_bool, [vp, vp, vp]),
        ("lilv_port_has_property", ct.c_bool, [vp, vp, vp]),
        ("lilv_plugin_get_port_ranges_float", None, [vp, vp, vp, vp]),
        ("lilv_plugin_instantiate", ct.POINTER(_LilvInstance), [vp, ct.c_double, vp]),
        ("lilv_instance_free", None, [ct.POINTER(_LilvInstance)]),
    ]
    try:
        for name, restype, argtypes in protos:
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = restype, argtypes
    except AttributeError:
        return None
    return lib


def lilv_available() -> bool:
    """Whether liblilv can be loaded (else ``run_lv2_file`` falls back to ``lv2apply``)."""
    return _lilv() is not None


class _LV2Feature(ct.Structure):
    _fields_ = [("URI", ct.c_char_p), ("data", ct.c_void_p)]


_URID_MAP_FN = ct.CFUNCTYPE(ct.c_uint32, ct.c_void_p, ct.c_char_p)


class _LV2URIDMap(ct.Structure):
    _fields_ = [("handle", ct.c_void_p), ("map", _URID_MAP_FN)]


class _UridMap:
    """The ``urid:map`` host feature (some x42/LSP plugins refuse to load without it)."""

    URI = b"http://lv2plug.in/ns/ext/urid#map"

    def __init__(self) -> None:
        self.ids: dict[bytes, int] = {}
        self._fn = _URID_MAP_FN(self._map)  # kept alive as long as the plugin instance
        self._map_struct = _LV2URIDMap(None, self._fn)
        self._feature = _LV2Feature(self.URI, ct.cast(ct.pointer(self._map_struct), ct.c_void_p))
        self.features = (ct.POINTER(_LV2Feature) * 2)(ct.pointer(self._feature), None)

    def _map(self, _handle: int, uri: bytes) -> int:
        return self.map(uri)

    def map(self, uri: bytes) -> int:
        """The integer id of ``uri`` (ids start at 1; 0 means "no id" in LV2)."""
        return self.ids.setdefault(bytes(uri), len(self.ids) + 1)


def lv2_process(x: np.ndarray, uri: str, controls: dict[str, float],
                block: int = LV2_BLOCK) -> np.ndarray:
    """Run LV2 plugin ``uri`` over mono ``x`` at 48 kHz (like lv2apply, in blocks).

    Unset control inputs take their default; every audio input gets ``x``; the first audio
    output is returned. Optional non-audio ports are left unconnected, others are an error.
    """
    lib = _lilv()
    if lib is None:
        raise RuntimeError("liblilv-0.so.0 is not available")
    world = lib.lilv_world_new()
    lib.lilv_world_load_all(world)
    plugin = lib.lilv_plugins_get_by_uri(lib.lilv_world_get_all_plugins(world),
                                         lib.lilv_new_uri(world, uri.encode()))
    if not plugin:
        raise RuntimeError(f"LV2 plugin not installed: {uri}")
    cls = {k: lib.lilv_new_uri(world, (LV2_CORE + k).encode())
           for k in ("InputPort", "AudioPort", "ControlPort", "connectionOptional")}
    cls["AtomPort"] = lib.lilv_new_uri(world, LV2_ATOM_PORT)
    n_ports = lib.lilv_plugin_get_num_ports(plugin)
    defaults = np.zeros(n_ports, np.float32)
    lib.lilv_plugin_get_port_ranges_float(plugin, None, None, defaults.ctypes.data)
    urid = _UridMap()
    inst = lib.lilv_plugin_instantiate(plugin, float(SR), ct.cast(urid.features, ct.c_void_p))
    if not inst:
        raise RuntimeError(f"could not instantiate {uri}")
    desc, handle = inst.contents.lv2_descriptor.contents, inst.contents.lv2_handle
    values = np.zeros(n_ports, np.float32)
    ins: list[np.ndarray] = []
    outs: list[np.ndarray] = []
    atom_outs: list[np.ndarray] = []
    atom_ins: list[np.ndarray] = []
    seq_type, chunk_type = urid.map(LV2_ATOM_SEQUENCE), urid.map(LV2_ATOM_CHUNK)
    todo = dict(controls)
    for i in range(n_ports):
        port = lib.lilv_plugin_get_port_by_index(plugin, i)
        sym = lib.lilv_node_as_string(lib.lilv_port_get_symbol(plugin, port)).decode()
        is_input = lib.lilv_port_is_a(plugin, port, cls["InputPort"])
        if lib.lilv_port_is_a(plugin, port, cls["ControlPort"]):
            default = float(defaults[i]) if np.isfinite(defaults[i]) else 0.0
            values[i] = todo.pop(sym) if is_input and sym in todo else default
            desc.connect_port(handle, i, values[i:].ctypes.data)
        elif lib.lilv_port_is_a(plugin, port, cls["AudioPort"]):
            buf = np.zeros(block, np.float32)
            desc.connect_port(handle, i, buf.ctypes.data)
            (ins if is_input else outs).append(buf)
        elif lib.lilv_port_is_a(plugin, port, cls["AtomPort"]):
            # Event ports get an empty sequence (input) or an empty buffer to fill (output).
            abuf = np.zeros(ATOM_BUF_BYTES // 4, np.uint32)
            abuf[:2] = (8, seq_type)
            desc.connect_port(handle, i, abuf.ctypes.data)
            (atom_ins if is_input else atom_outs).append(abuf)
        elif lib.lilv_port_has_property(plugin, port, cls["connectionOptional"]):
            desc.connect_port(handle, i, None)
        else:
            raise RuntimeError(f"{uri}: port {i} ({sym}) has an unsupported type")
    if todo:
        raise RuntimeError(f"{uri}: unknown control ports {sorted(todo)}")
    if not outs:
        raise RuntimeError(f"{uri}: no audio output")
    if desc.activate:
        desc.activate(handle)
    y = np.zeros(len(x), np.float32)
    for start in range(0, len(x), block):
        m = min(block, len(x) - start)
        for buf in ins:
            buf[:m] = x[start: start + m]
        for abuf in atom_ins:
            abuf[:4] = (8, seq_type, 0, 0)
        for abuf in atom_outs:
            abuf[:2] = (ATOM_BUF_BYTES - 8, chunk_type)
        desc.run(handle, m)
        y[start: start + m] = outs[0][:m]
    if desc.deactivate:
        desc.deactivate(handle)
    lib.lilv_instance_free(inst)
    return y


def run_lv2_file(src: Path, dst: Path, uri: str, controls: dict[str, float]) -> None:
    """Run LV2 plugin ``uri`` over float WAV ``src`` into ``dst`` in a subprocess (``LV2_HOST``)."""
    if LV2_HOST == "lv2apply" or not lilv_available():
        cmd = ["lv2apply", "-i", str(src), "-o", str(dst)]
        for sym, val in controls.items():
            cmd += ["-c", sym, repr(float(val))]
        run_command(cmd + [uri])
    else:
        run_command([sys.executable, str(Path(__file__).resolve()), str(src), str(dst), uri,
                     json.dumps(controls)])


def main(argv: Sequence[str] | None = None) -> int:
    """``IN OUT URI CONTROLS_JSON``: process one file (the subprocess of ``run_lv2_file``)."""
    src, dst, uri, controls = list(sys.argv[1:] if argv is None else argv)
    x = read_mono(src)
    y = lv2_process(x, uri, {k: float(v) for k, v in json.loads(controls).items()})
    sf.write(dst, y, SR, subtype="FLOAT")
    return 0


if __name__ == "__main__":
    sys.exit(main())
