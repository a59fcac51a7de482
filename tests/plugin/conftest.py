"""Builds the plugin and its test tools once per session (make keeps the objects between
sessions under build/plugin-test) and the tones the tests share."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from plugin_support import BUILD_DIR, FULL_TONE, derived_tone, take

from tonemorph.plugin import build, export_plugin, missing_packages


@pytest.fixture(scope="session")
def built():
    missing = missing_packages()
    if missing:
        pytest.skip(f"plugin toolchain missing: {', '.join(missing)}")
    return build(BUILD_DIR, tools=True, formats=("clap",))


@pytest.fixture(scope="session")
def drive_tone(tmp_path_factory) -> Path:
    """The drive alone, nearly linear: its impulse response peaks at the reported latency."""
    return derived_tone(tmp_path_factory.mktemp("tones"), "drive", ["drive"],
                        **{"drive.drive_db": -24.0, "drive.bias": 0.0})


@pytest.fixture(scope="session")
def exported(built):
    """The full tone built into a plugin (LV2 and CLAP), as `export --format plugin` does."""
    return export_plugin(FULL_TONE, BUILD_DIR, formats=("lv2", "clap"))


@pytest.fixture(scope="session")
def exported_vst3(exported):
    """The VST3 of the exported tone (built only when a VST3 host is there to load it)."""
    pytest.importorskip("pedalboard")
    return export_plugin(FULL_TONE, BUILD_DIR, formats=("vst3",)).bundles["vst3"]


@pytest.fixture(scope="session")
def clean_tone(tmp_path_factory) -> Path:
    """A clean chain: pre-EQ, post-EQ and cabinet, no dynamics or drive (no latency)."""
    return derived_tone(tmp_path_factory.mktemp("tones"), "clean", ["pre_eq", "post_eq", "cab"])




@pytest.fixture(scope="session")
def limited_tone(tmp_path_factory) -> Path:
    """Every stage and the peak limit, its ceiling 6 dB under the peaks of the test take."""
    from tonemorph.model import load

    doc = json.loads(FULL_TONE.read_text())
    stages = [*doc["chain"]["stages"], "limit"]
    tmp = tmp_path_factory.mktemp("tones")
    off = load(derived_tone(tmp, "limit_off", stages, **{"limit.ceiling_db": 24.0}))
    y = off.apply(take(48000, 1, seconds=0.6), 48000)
    peak_db = 20 * np.log10(np.max(np.abs(y))) - float(off.parameters["out_gain_db"])
    return derived_tone(tmp, "limited", stages, **{"limit.ceiling_db": float(peak_db) - 6.0})
