"""One torch thread for these tests: on a loaded 2-core machine two threads wait on each other
and small models run several times slower (see `tonemorph.neural.runner.torch_threads`)."""

from __future__ import annotations

import pytest

from tonemorph.neural.runner import torch_threads


@pytest.fixture(autouse=True)
def _one_torch_thread():
    with torch_threads(1):
        yield
