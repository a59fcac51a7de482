"""Settings of a mastering run: one frozen dataclass, checked on construction."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from tonemorph.errors import ParameterError

__all__ = [
    "ASPECTS",
    "MIN_REFERENCE_S",
    "TARGETS",
    "MasterConfig",
    "parse_amount",
    "parse_only",
    "parse_reference",
]

#: Aspects of the reference a run can match (`--only`).
ASPECTS: tuple[str, ...] = ("eq", "loudness", "width", "dynamics")

#: Loudness presets: name -> (integrated loudness LUFS, None = the reference's; ceiling dBTP).
TARGETS: dict[str, tuple[float | None, float]] = {
    "streaming": (-14.0, -1.0),  # the level most streaming services normalise to
    "broadcast": (-23.0, -1.0),  # EBU R128
    "cd": (None, -1.0),  # as loud as the reference
}

#: Shortest reference accepted (seconds): less does not hold a representative loud section.
MIN_REFERENCE_S = 10.0


def parse_only(only: str | Iterable[str] | None) -> frozenset[str]:
    """Aspects to match from "eq,loudness" or an iterable of names; None means all."""
    if only is None:
        return frozenset(ASPECTS)
    names = only.split(",") if isinstance(only, str) else list(only)
    chosen = {str(n).strip().lower() for n in names if str(n).strip()}
    unknown = sorted(chosen - set(ASPECTS))
    if unknown or not chosen:
        raise ParameterError(
            f"only must be a comma-separated list of {', '.join(ASPECTS)}; got {only!r}."
        )
    return frozenset(chosen)


def parse_amount(amount: float | str | Mapping[str, float]) -> tuple[float, dict[str, float]]:
    """(overall amount, per-aspect amounts) from 0.7, "0.7", "eq=0.5,dynamics=1" or a dict.

    A bare number in the list ("0.5,eq=1") sets the overall amount; aspects not named keep it.
    """
    if isinstance(amount, Mapping):
        items: list[tuple[str | None, object]] = list(amount.items())
    elif isinstance(amount, str):
        items = []
        for part in (p.strip() for p in amount.split(",")):
            if not part:
                continue
            name, sep, value = part.partition("=")
            items.append((name.strip().lower(), value) if sep else (None, name))
    else:
        items = [(None, amount)]
    overall = 1.0
    per: dict[str, float] = {}
    seen: set[str | None] = set()
    for name, value in items:
        # "eq=0.5,eq=1" would take the last silently: which one was meant is not known
        if name in seen:
            what = "the overall amount" if name is None else f"aspect {name!r}"
            raise ParameterError(f"amount gives {what} twice in {amount!r}; give each once.")
        seen.add(name)
        try:
            v = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ParameterError(
                f"amount {value!r} is not a number; give 0..1, or aspect=value pairs such as "
                f"'eq=0.5,dynamics=1' ({', '.join(ASPECTS)})"
            ) from None
        if not (math.isfinite(v) and 0.0 <= v <= 1.0):
            raise ParameterError(f"amount must be within 0..1, got {v!r}.")
        if name is None:
            overall = v
        elif name not in ASPECTS:
            raise ParameterError(f"unknown aspect {name!r} in amount; use {', '.join(ASPECTS)}.")
        else:
            per[name] = v
    if not items:
        raise ParameterError("amount is empty; give 0..1 or aspect=value pairs.")
    return overall, per


def reference_weight(value: object, where: str) -> float:
    """A reference's weight as a float (finite, > 0); ParameterError naming it `where`."""
    try:
        weight = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        weight = math.nan
    if not (math.isfinite(weight) and weight > 0.0):
        raise ParameterError(f"reference weight must be a positive number, got {value!r} "
                             f"{where}.", option="reference")
    return weight


def parse_reference(text: str | os.PathLike[str]) -> tuple[Path, float]:
    """(path, weight) from "ref.wav" (weight 1) or "ref.wav:0.5" (weight > 0).

    Only a trailing ":number" is a weight, so paths with colons elsewhere stay whole; a
    trailing ":text" after an existing file (and no file of the whole name) is a bad weight.
    """
    raw = os.fspath(text)
    head, sep, tail = raw.rpartition(":")
    if sep and Path(raw).is_file() and not Path(head).is_file():
        return Path(raw), 1.0  # a file named "ref:2" itself ("ref:2:1" weighs it)
    if sep and head and tail:
        try:
            float(tail)
        except ValueError:
            # "ref.wav:abc" is a weight mistyped, not a file of that name to look for
            if Path(head).is_file() and not Path(raw).exists():
                raise ParameterError(f"reference weight must be a positive number, got "
                                     f"{tail!r} in {raw!r}; e.g. {head}:0.5.",
                                 option="reference") from None
            return Path(raw), 1.0
        return Path(head), reference_weight(tail, f"in {raw!r}")
    return Path(raw), 1.0


@dataclass(frozen=True)
class MasterConfig:
    """What to match and how: loudness target (LUFS), ceiling (dBTP), amount 0..1, EQ design.

    ``lufs=None`` takes the reference's integrated loudness, or the ``target`` preset's
    (`TARGETS`: "streaming", "broadcast", "cd"), whose ceiling also applies when ceiling_dbtp
    is None: a ``lufs`` or ``ceiling_dbtp`` given with a preset replaces its number
    (`preset_overrides` says which). ``amount`` scales every matched change (EQ curve, width
    change, compression and saturation, loudness gain) from none (0) to full (1); ``amounts``
    overrides it per aspect.
    ``mono_bass_hz`` makes the low end mono below that frequency (None: off).
    ``eq_prior_db`` is the spread (dB rms) of the EQ a mastering chain applies per octave band;
    ``eq_content_factor`` scales how much of a balance difference that varies across the
    tracks' own sections is put down to their music rather than their mastering.
    """

    lufs: float | None = None
    ceiling_dbtp: float | None = None
    amount: float = 1.0
    amounts: Mapping[str, float] = field(default_factory=dict)
    target: str | None = None
    only: frozenset[str] = field(default_factory=lambda: frozenset(ASPECTS))
    phase: str = "linear"
    mono_bass_hz: float | None = None
    eq_taps: int = 4096
    eq_prior_db: float = 2.0
    eq_content_factor: float = 3.0
    eq_max_db: float = 12.0
    excerpt_s: float = 20.0
    fit_steps: int = 60
    lookahead_ms: float = 1.5
    release_ms: float = 80.0
    max_limiting_db: float = 9.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("lufs", "ceiling_dbtp", "mono_bass_hz", "eq_prior_db",
                     "eq_content_factor", "eq_max_db", "excerpt_s", "lookahead_ms",
                     "release_ms", "max_limiting_db"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool)
                                      or not isinstance(value, numbers.Real)):
                raise ParameterError(f"{name} must be a number, got {value!r}")
        # a loudness asked for, by number or by a preset that names one (not "cd")
        lufs_given = self.lufs is not None or (self.target in TARGETS
                                               and TARGETS[self.target][0] is not None)
        if self.target is not None:
            if self.target not in TARGETS:
                raise ParameterError(f"target must be one of {', '.join(TARGETS)}, got "
                                     f"{self.target!r}.")
            lufs, ceiling = TARGETS[self.target]
            if self.lufs is None:
                object.__setattr__(self, "lufs", lufs)
            if self.ceiling_dbtp is None:
                object.__setattr__(self, "ceiling_dbtp", ceiling)
        if self.ceiling_dbtp is None:
            object.__setattr__(self, "ceiling_dbtp", -1.0)
        if self.lufs is not None and not (math.isfinite(self.lufs) and -60.0 <= self.lufs <= 0.0):
            raise ParameterError(
                f"loudness target must be within -60..0 LUFS, got {self.lufs!r}; e.g. -9.")
        if not (math.isfinite(self.ceiling_dbtp) and -20.0 <= self.ceiling_dbtp <= 0.0):
            raise ParameterError(
                f"ceiling must be within -20..0 dBTP, got {self.ceiling_dbtp!r}; e.g. -1.0."
            )
        overall, per = parse_amount(self.amount)
        for name, value in dict(self.amounts).items():
            per.update(parse_amount({name: value})[1])
        object.__setattr__(self, "amount", overall)
        object.__setattr__(self, "amounts", MappingProxyType(per))
        object.__setattr__(self, "only", parse_only(self.only))
        if self.phase not in ("minimum", "linear"):
            raise ParameterError(f"phase must be 'minimum' or 'linear', got {self.phase!r}.")
        if self.mono_bass_hz is not None and not (
            math.isfinite(self.mono_bass_hz) and 20.0 <= self.mono_bass_hz <= 500.0
        ):
            raise ParameterError(
                f"mono bass frequency must be within 20..500 Hz, got {self.mono_bass_hz!r}; e.g. 120."
            )
        if not (isinstance(self.eq_taps, int) and 256 <= self.eq_taps <= 65536):
            raise ParameterError(f"eq_taps must be an integer within 256..65536, got {self.eq_taps!r}.")
        if not (math.isfinite(self.eq_prior_db) and 0.1 <= self.eq_prior_db <= 24.0):
            raise ParameterError(f"eq_prior_db must be within 0.1..24 dB, got {self.eq_prior_db!r}.")
        if not (math.isfinite(self.eq_content_factor) and 0.0 <= self.eq_content_factor <= 10.0):
            raise ParameterError(
                f"eq_content_factor must be within 0..10, got {self.eq_content_factor!r}."
            )
        if not (5.0 <= self.excerpt_s <= 600.0):
            raise ParameterError(f"excerpt_s must be within 5..600 s, got {self.excerpt_s!r}.")
        if not (isinstance(self.fit_steps, int) and 0 <= self.fit_steps <= 2000):
            raise ParameterError(f"fit_steps must be an integer within 0..2000, got {self.fit_steps!r}.")
        if not (0.0 < self.max_limiting_db <= 24.0):
            raise ParameterError(
                f"max_limiting_db must be within 0..24 dB, got {self.max_limiting_db!r}."
            )
        # settings for an aspect that is not matched did nothing, and nothing said so (a master
        # "--only eq --lufs -9" came out at the mix's -25.8 LUFS)
        left_out = sorted(set(self.amounts) - set(self.only))
        if left_out:
            raise ParameterError(
                f"an amount is given for {', '.join(left_out)}, which is not among the aspects "
                f"matched ({', '.join(sorted(self.only))}); drop the amount or match the aspect",
                option="amount")
        if lufs_given and self.amount_of("loudness") == 0.0:
            why = ("loudness is not among the aspects matched" if "loudness" not in self.only
                   else "the loudness amount is 0")
            raise ParameterError(
                f"a loudness target ({self.lufs:g} LUFS) is given but {why}, so the mix's "
                "loudness would be kept; drop the target or match loudness", option="lufs")

    def preset_overrides(self) -> list[str]:
        """What a loudness or ceiling given with the ``target`` preset replaced, in words."""
        if self.target is None:
            return []
        lufs, ceiling = TARGETS[self.target]
        said = []
        if self.lufs != lufs:
            was = "the reference's" if lufs is None else f"{lufs:g} LUFS"
            said.append(f"loudness {self.lufs:g} LUFS given with the {self.target} preset: it "
                        f"replaces the preset's loudness ({was})")
        if self.ceiling_dbtp != ceiling:
            said.append(f"ceiling {self.ceiling_dbtp:g} dBTP given with the {self.target} "
                        f"preset: it replaces the preset's ceiling ({ceiling:g} dBTP)")
        return said

    def matches(self, aspect: str) -> bool:
        """Whether `aspect` ("eq", "loudness", "width", "dynamics") is matched."""
        return aspect in self.only and self.amount_of(aspect) > 0.0

    def amount_of(self, aspect: str) -> float:
        """How far (0..1) `aspect` is moved towards the reference: its own amount or the overall
        one; 0 when the aspect is not matched."""
        if aspect not in self.only:
            return 0.0
        return float(self.amounts.get(aspect, self.amount))
