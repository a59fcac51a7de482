"""Build and install the tonemorph plugin with the system toolchain (g++, make, DPF).

The C++ lives next to this module (``cpp/``, package data), so a plain pip install can build
it. Builds go to a folder outside the sources (default ``build/plugin`` under the working
directory); make only recompiles what changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tonemorph.errors import OutputPathError, TonemorphError

__all__ = ["DEFAULT_FORMATS", "FORMATS", "PluginBuild", "PluginToolchainError", "build", "export_plugin",
           "install", "missing_packages"]

CPP_DIR = Path(__file__).resolve().parent / "cpp"
DPF_DIR = Path("/usr/share/dpf")
FORMATS = ("lv2", "vst3", "clap", "jack")  # jack: a standalone program (JACK audio)
DEFAULT_FORMATS = ("lv2", "vst3", "clap")
DEFAULT_BUILD_DIR = Path("build") / "plugin"
# where each format's bundle goes for the user (Linux conventions read by Reaper, Ardour,
# Bitwig, Carla)
INSTALL_DIRS = {"lv2": Path("~/.lv2"), "vst3": Path("~/.vst3"), "clap": Path("~/.clap"),
                "jack": Path("~/.local/bin")}


class PluginToolchainError(TonemorphError, RuntimeError):
    """The compiler, DPF or a library the plugin needs is missing, or the build failed."""


@dataclass(frozen=True)
class PluginBuild:
    """What a build produced: bundle paths by format, plus the test tools when built."""

    name: str
    build_dir: Path
    bundles: dict[str, Path]
    tools: dict[str, Path] = field(default_factory=dict)


def _pkg_config_has(pkg: str) -> bool:
    if not shutil.which("pkg-config"):
        return False
    return subprocess.run(["pkg-config", "--exists", pkg], check=False,
                          capture_output=True).returncode == 0


def missing_packages() -> list[str]:
    """Debian packages of the toolchain that are not installed (empty when all are)."""
    checks = [
        ("g++", lambda: shutil.which(os.environ.get("CXX", "g++")) is not None),
        ("make", lambda: shutil.which("make") is not None),
        ("pkg-config", lambda: shutil.which("pkg-config") is not None),
        ("dpf-source", lambda: (DPF_DIR / "distrho" / "DistrhoPluginMain.cpp").is_file()),
        ("nlohmann-json3-dev", lambda: Path("/usr/include/nlohmann/json.hpp").is_file()),
        ("libkissfft-dev", lambda: _pkg_config_has("kissfft-float")),
    ]
    return [pkg for pkg, ok in checks if not ok()]


def _check_toolchain() -> None:
    missing = missing_packages()
    if missing:
        raise PluginToolchainError(
            f"building the plugin needs {', '.join(missing)}; install with "
            f"`sudo apt-get install {' '.join(missing)}`")


def _make(build_dir: Path, targets: list[str], variables: dict[str, str], jobs: int) -> None:
    cmd = ["make", "-C", str(CPP_DIR), f"-j{max(1, jobs)}", f"BUILD={build_dir}",
           f"DPF={DPF_DIR}", *(f"{k}={v}" for k, v in variables.items()), *targets]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if proc.returncode != 0:
        errors = [line for line in (proc.stderr or proc.stdout).splitlines()
                  if "error" in line.lower()]
        why = " | ".join(errors)[:600] or f"make exited with {proc.returncode}"
        raise PluginToolchainError(f"the plugin build failed ({why}); rerun "
                                   f"`make -C {CPP_DIR} BUILD={build_dir}` to see the whole log")


def _bundles(build_dir: Path, name: str, formats: tuple[str, ...]) -> dict[str, Path]:
    paths = {"lv2": build_dir / f"{name}.lv2", "vst3": build_dir / f"{name}.vst3",
             "clap": build_dir / f"{name}.clap", "jack": build_dir / f"{name}-jack"}
    return {f: paths[f] for f in formats}


def _check_formats(formats: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise TonemorphError(f"unknown plugin format(s) {bad}; choose from {list(FORMATS)}")
    if not formats:
        raise TonemorphError(f"no plugin format given; choose from {list(FORMATS)}")
    return tuple(formats)


MAX_JOBS = 256


def _build_setup(build_dir: str | Path | None, formats: tuple[str, ...] | list[str],
                 jobs: int) -> tuple[Path, tuple[str, ...]]:
    """The build folder (resolved) and the formats, checked before any build starts."""
    formats = _check_formats(formats)
    if not 1 <= jobs <= MAX_JOBS:
        raise TonemorphError(f"--jobs must be 1-{MAX_JOBS} parallel compiler jobs, got {jobs}")
    out = Path(build_dir or DEFAULT_BUILD_DIR).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise OutputPathError(f"{out} is a file; a plugin build writes its objects and bundles "
                              "into a folder: give a folder path (it is created if missing)")
    return out, formats


def build(build_dir: str | Path | None = None, *, formats: tuple[str, ...] = DEFAULT_FORMATS,
          tools: bool = False, jobs: int = 2) -> PluginBuild:
    """Compile the plugin that loads any `.tmodel` (LV2, VST3, CLAP bundles) into build_dir.

    With tools=True also the offline runner, the allocation test and the CLAP test host.
    """
    out, formats = _build_setup(build_dir, formats, jobs)
    _check_toolchain()
    targets = list(formats) + (["tools"] if tools else [])
    _make(out, targets, {}, jobs)
    tool_names = ("tm_offline", "alloc_test", "clap_host", "lv2_host")
    tool_paths = {t: out / t for t in tool_names} if tools else {}
    return PluginBuild("tonemorph", out, _bundles(out, "tonemorph", formats), tool_paths)


def _slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
    return s or "tone"


def _identity_header(name: str, slug: str) -> str:
    digest = hashlib.sha1(slug.encode()).hexdigest()
    cc = ", ".join(f"'{c}'" for c in digest[:4])
    return "\n".join([
        "#pragma once",
        f"#define TONEMORPH_PLUGIN_NAME {json.dumps(name)}",
        f'#define TONEMORPH_PLUGIN_URI "urn:tonemorph:tone:{slug}"',
        f'#define TONEMORPH_CLAP_ID "org.tonemorph.tone.{slug}"',
        f"#define TONEMORPH_UNIQUE_ID d_cconst({cc})",
        "#define TONEMORPH_EMBEDDED 1",
        "",
    ])


def _embedded_header(document: str, source: str) -> str:
    delim = "tmdoc"
    while f"){delim}\"" in document:
        delim += "x"
    return (f'#pragma once\n#define TONEMORPH_EMBEDDED_SOURCE {json.dumps(source)}\n'
            f'static const char TONEMORPH_EMBEDDED_DOCUMENT[] = R"{delim}({document}){delim}";\n')


def export_plugin(tone_path: str | Path, build_dir: str | Path | None = None, *,
                  name: str | None = None, formats: tuple[str, ...] = DEFAULT_FORMATS,
                  jobs: int = 2, overwrite: bool = False) -> PluginBuild:
    """Build a plugin with the tone at tone_path built in, named after it ("tonemorph <stem>").

    For hosts without a file picker. The tone is checked first (ModelFileError when it is not
    a valid `.tmodel`), so a broken file never becomes a silent plugin. Bundles of that name
    already built there from another tone are replaced only with ``overwrite``
    (OutputPathError otherwise); built from this very tone, they are left as they are.
    """
    from tonemorph.io import load_model_document
    from tonemorph.model import check_tone_document

    out, formats = _build_setup(build_dir, formats, jobs)
    path = Path(tone_path)
    doc = load_model_document(path)
    check_tone_document(doc, source=str(path))
    _check_toolchain()
    slug = _slug(name or path.stem)
    bundle = f"tonemorph-{slug}"
    ident = out / f"{bundle}-identity"
    ident.mkdir(parents=True, exist_ok=True)
    text = path.read_text(encoding="utf-8")
    embedded = _embedded_header(text, path.name)
    was = ident / "tonemorph_embedded.h"
    built = [p for p in _bundles(out, bundle, formats).values() if p.exists()]
    if (not overwrite and built and was.is_file()
            and was.read_text(encoding="utf-8") != embedded):
        raise OutputPathError(
            f"{built[0]} already holds a plugin built from another tone named {slug!r}; "
            "choose another folder or name, or allow replacing it", option="force")
    _write_if_changed(ident / "tonemorph_identity.h",
                      _identity_header(f"tonemorph {name or path.stem}", slug))
    _write_if_changed(was, embedded)
    _make(out, list(formats), {"NAME": bundle, "IDENTITY_DIR": str(ident)}, jobs)
    return PluginBuild(bundle, out, _bundles(out, bundle, formats))


def _write_if_changed(path: Path, text: str) -> None:
    """Leave an identical file untouched so make does not rebuild for nothing."""
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def install(result: PluginBuild, *, dest_root: str | Path | None = None) -> dict[str, Path]:
    """Copy the built bundles into ~/.lv2, ~/.vst3 and ~/.clap, the JACK program into
    ~/.local/bin (or all under dest_root)."""
    installed: dict[str, Path] = {}
    for fmt, src in result.bundles.items():
        if not src.exists():
            raise OutputPathError(f"{src} was not built; run `tonemorph plugin build` first")
        base = (Path(dest_root) / INSTALL_DIRS[fmt].name.lstrip(".") if dest_root
                else INSTALL_DIRS[fmt].expanduser())
        base.mkdir(parents=True, exist_ok=True)
        dst = base / src.name
        if dst.is_dir():
            shutil.rmtree(dst)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)
        installed[fmt] = dst
    return installed


