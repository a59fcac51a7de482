"""Fitting loops (torch): `fit` (unpaired tone learning), `paired` (capture), `distill`.

Nothing is imported here, so that importing the package costs nothing: `tonemorph.api`
imports it early (see there) and its modules, with torch, only when learning starts.
"""

__all__: list[str] = []
