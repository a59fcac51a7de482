"""Private names (`_x`) stay inside their package: no module imports another package's.

A name or module starting with one underscore may be imported only from within the package
that defines it (house style, "One implementation of each thing"); make it public there or
move it.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _package_of(path: Path) -> str:
    """Dotted package a source file belongs to (a package's __init__ belongs to itself)."""
    return ".".join(path.relative_to(SRC).with_suffix("").parts[:-1])


def _owner(parts: list[str]) -> str:
    """Package owning the dotted path parts (a package, or the package of a module)."""
    dotted = ".".join(parts)
    return dotted if (SRC / Path(*parts)).is_dir() else ".".join(parts[:-1])


def _crossings_in(source: str, path: Path) -> list[str]:
    """`path:line dotted.name` of each private tonemorph name imported from another package."""
    importer = _package_of(path)
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            dotted = [node.module.split(".") + [a.name] for a in node.names]
        elif isinstance(node, ast.Import):
            dotted = [a.name.split(".") for a in node.names]
        else:
            continue
        for parts in dotted:
            if parts[0] != "tonemorph":
                continue
            first = next((i for i, p in enumerate(parts) if _private(p)), None)
            if first is None:
                continue
            owner = _owner(parts[:first])
            if not (importer == owner or importer.startswith(owner + ".")):
                found.append(f"{path.relative_to(SRC)}:{node.lineno} {'.'.join(parts)}")
    return found


def test_no_private_name_is_imported_across_packages() -> None:
    found = []
    for path in sorted((SRC / "tonemorph").rglob("*.py")):
        found += _crossings_in(path.read_text(encoding="utf-8"), path)
    assert found == []


def test_the_check_tells_crossings_from_imports_within_a_package() -> None:
    density = SRC / "tonemorph" / "master" / "density.py"
    meter = SRC / "tonemorph" / "dsp" / "meter.py"
    metrics = SRC / "tonemorph" / "metrics.py"
    assert _crossings_in("from tonemorph.chain._kernels import x\n", density)
    assert _crossings_in("from tonemorph.chain import _kernels\n", density)
    assert _crossings_in("import tonemorph.chain._kernels\n", density)
    assert _crossings_in("from tonemorph.dsp.loudness import _as_2d\n", metrics)
    assert not _crossings_in("from tonemorph.dsp.loudness import _k_weighting_sos\n", meter)
    assert not _crossings_in("from tonemorph import __version__\n", density)
