"""Fitting loops (torch): `fit` (unpaired tone learning), `train` (the paired training engine),
`paired` (capture: grey-box or neural, aligned first), `distill` (a tone into a network).

Nothing is imported here: importing the package costs nothing, and its modules bring torch
only when learning starts.
"""

__all__: list[str] = []
