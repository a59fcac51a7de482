"""Unpaired tone loss: compares distributions of frame features of f(x) and of the target y.

Sample-wise losses need aligned pairs; these terms only need the two recordings to share an
instrument: how the spectral envelope changes with level (liftered, so pitch does not count;
relative, so the static spectrum is left to the cabinet's closed-form match),
1-D Wasserstein distances of levels at several time scales, level change and crest factor, and a
sliced-Wasserstein distance between joint per-frame feature vectors (Kolouri et al., 2019).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from tonemorph.features.frames import Features

N_QUANTILES = 48
N_PROJECTIONS = 48


@dataclass(frozen=True)
class LossWeights:
    """Weight of each loss term (terms are in dB, or in target standard deviations for joint)."""

    binned_env: float = 1.0
    level: float = 0.5
    dynamics: float = 0.5
    delta: float = 0.5
    crest: float = 0.5
    joint: float = 3.0

    def spectral_only(self) -> "LossWeights":
        """The same weights with every dynamics term off (for purely linear chains)."""
        return LossWeights(self.binned_env, self.level, 0.0, 0.0, 0.0, 0.0)

    def as_dict(self) -> dict[str, float]:
        """Weights by term name."""
        return asdict(self)


def _probs(n: int) -> torch.Tensor:
    return (torch.arange(n, dtype=torch.float32) + 0.5) / n


def quantiles(v: torch.Tensor, n: int = N_QUANTILES) -> torch.Tensor:
    """n evenly spaced quantiles of a 1-D tensor (differentiable; zeros when empty)."""
    if v.numel() == 0:
        return v.new_zeros(n)
    return column_quantiles(v[:, None], n)[0]


def column_quantiles(m: torch.Tensor, n: int = N_QUANTILES) -> torch.Tensor:
    """n evenly spaced quantiles of each column of an (N, P) tensor, as (P, n); one sort for
    all columns (the joint term's 48 projections sorted one by one took twice as long)."""
    if m.shape[0] == 0:
        return m.new_zeros(m.shape[1], n)
    s, _ = torch.sort(m, dim=0)
    pos = _probs(n) * (s.shape[0] - 1)
    lo = pos.floor().long()
    hi = torch.clamp(lo + 1, max=s.shape[0] - 1)
    w = (pos - lo)[:, None]
    return (s[lo] * (1 - w) + s[hi] * w).T.contiguous()  # row-major as torch.stack gave


def binned_means(level_db: torch.Tensor, values: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Mean of `values` (N, D) within n_bins loudness-quantile bins of the frames' own level."""
    edges = quantiles(level_db.detach(), n_bins + 1) if level_db.numel() else None
    out = []
    for i in range(n_bins):
        if edges is None:
            out.append(values.new_zeros(values.shape[1]))
            continue
        lo = level_db >= edges[i] if i else torch.ones_like(level_db, dtype=torch.bool)
        hi = level_db <= edges[i + 1] if i < n_bins - 1 else torch.ones_like(lo)
        m = lo & hi
        out.append(values[m].mean(0) if m.any() else values.mean(0))
    return torch.stack(out)


class UnpairedLoss(torch.nn.Module):
    """Distance between the feature distributions of an output and a fixed target."""

    def __init__(self, target: Features, weights: LossWeights = LossWeights(), n_bins: int = 6,
                 seed: int = 0):
        super().__init__()
        self.weights = weights
        self.n_bins = n_bins
        g = torch.Generator().manual_seed(seed)
        t = target
        self.t_binned = self._relative_binned(t)
        self.t_level = quantiles(t.level_db)
        self.t_dyn = [quantiles(v) for v in t.dyn_levels_db]
        self.t_delta = quantiles(t.level_delta_db)
        self.t_crest = quantiles(t.crest_db)
        joint = self._joint(t)
        self.j_mean = joint.mean(0)
        self.j_std = joint.std(0) + 1e-3
        proj = torch.randn(joint.shape[1], N_PROJECTIONS, generator=g)
        self.proj = proj / proj.norm(dim=0, keepdim=True)
        self.t_joint_q = column_quantiles(self._project(joint))

    # Tried, not kept (2026-12-06), against over-driven fits on fr3_jazz's probe chains (the
    # term prefers our fit there to a paired fit of the true chain; the level terms hold the
    # drive back: with them off and the level out of the joint term drives rose to 32-39 dB,
    # 0.673 -> 0.872 mean MR-STFT on the held-out take over 6 cases): weighting each (level
    # bin, mel band) by 1 / its spread between 6 stretches of the example (1 dB floor), as
    # master.eq's consistency shrinkage does. Normalised to mean 1: 12 probe cases 0.608 ->
    # 0.596 (4 better, 3 worse). Unnormalised (2.2 dB spread = weight 1): 29 tuning and probe
    # cases 0.835 -> 0.839 (7 better, 12 worse; fr3_jazz w20 0.93 -> 0.82, fr3_epiano
    # heavy_drive_cab 1.69 -> 1.87). The term at half weight: 16 cases 0.879 -> 0.886 (the
    # fr3_jazz probe chains 0.765 -> 0.729, fr3_bass comp_dist_cab 0.970 -> 1.104); off, three
    # fr3_jazz probe chains 0.809 -> 0.731. What the term sees of the notes and what it sees of
    # the chain trade off alike on every source tried.
    # Tried, not kept (2026-12-06), against the too-low crest factor of over-driven fits (the
    # crest term compares 43 ms frames, which a hard drive matches; fr3_clean's slow
    # compressor into a light preamp came out 5.9 dB under the truth's crest, its output on the
    # learning take 12.6 dB peak-over-RMS at the 99th percentile against the example's 16.3): a
    # term on each segment's loudest 0.1 % of samples over its gated RMS, quantiles against
    # the example's, weight 0.5. Two-sided, fr3_clean's 6 tuning chains went 0.850 -> 0.943
    # (|crest err| 2.16 -> 0.96 dB; heavy compression took a +30 dB drive to shave its
    # transients, 0.539 -> 0.813). One-sided (only peaks under the example's cost): fr3_clean
    # 0.850 -> 0.847 (|crest err| 2.16 -> 0.86, the sag chain lost its drive: 1.151 -> 1.087),
    # held-out fuzz 0.973 -> 0.877, but fr3_jazz's 6 tuning chains 0.744 -> 0.795 (4 worse;
    # its sag chain's drive rose 24 -> 40 dB, crest err -3.1 -> -10.3 dB): 12 tuning cases
    # 0.797 -> 0.821, 4 held-out 0.825 -> 0.804. The free fit there ends at +40 dB either way;
    # the term only lifts its attacks gap (-4.4 -> -2.7 dB) out of the held-drive refit's reach
    # (ATTACKS_MARGIN_DB in learn/fit.py). The attacks check's own measure as a one-sided term
    # (upper quantiles of 10 ms peaks over the batch's level, weight 0.5) did the same there
    # (+40 dB, crest -10.5 dB, 1.167) and took fr3_clean's sag chain 1.151 -> 1.271 (+31 dB).
    # With weight 1.5 on the first term: fr3_jazz's sag 1.094 at +31 dB, attacks now 3.1 dB
    # above the example's.
    def _relative_binned(self, f: Features) -> torch.Tensor:
        """Level-binned envelopes minus their mean: how the spectrum changes with level.

        A linear filter after the nonlinearity adds the same dB curve to every frame and
        cancels here, so this term sees the drive and dynamics, not the cabinet.
        """
        b = binned_means(f.level_db, f.env_db, self.n_bins)
        return b - b.mean(0, keepdim=True)

    @staticmethod
    def _joint(f: Features) -> torch.Tensor:
        """Joint frame features with spectral-shape columns centred on their own mean."""
        j = f.joint()
        shape_cols = [1] + list(range(4, j.shape[1]))  # centroid and cepstra
        j = j.clone()
        j[:, shape_cols] = j[:, shape_cols] - j[:, shape_cols].mean(0, keepdim=True)
        return j

    def _project(self, joint: torch.Tensor) -> torch.Tensor:
        return ((joint - self.j_mean) / self.j_std) @ self.proj

    def terms(self, f: Features) -> dict[str, torch.Tensor]:
        """Each loss term (unweighted) for the output features f."""
        if f.level_db.numel() < 4:
            # output is silent: only the level terms can pull it back up
            big = f.level_db.new_tensor(100.0)
            return {k: big for k in self.weights.as_dict()}
        out = {
            "binned_env": (self._relative_binned(f) - self.t_binned).abs().mean(),
            "level": (quantiles(f.level_db) - self.t_level).abs().mean(),
            "dynamics": torch.stack([(quantiles(v) - q).abs().mean()
                                     for v, q in zip(f.dyn_levels_db, self.t_dyn)]).mean(),
            "delta": (quantiles(f.level_delta_db) - self.t_delta).abs().mean(),
            "crest": (quantiles(f.crest_db) - self.t_crest).abs().mean(),
        }
        pq = column_quantiles(self._project(self._joint(f)))
        out["joint"] = (pq - self.t_joint_q).abs().mean()
        return out

    def forward(self, f: Features) -> tuple[torch.Tensor, dict[str, float]]:
        """Weighted total loss and the value of each term."""
        terms = self.terms(f)
        w = self.weights.as_dict()
        total = sum(w[k] * v for k, v in terms.items() if w[k])
        return total, {k: float(v.detach()) for k, v in terms.items()}
