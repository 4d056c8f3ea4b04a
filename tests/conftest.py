"""Test settings: one thread (CI has 2 cores), fixed seeds, a clean param store, no deadlines."""

import pyro
import pytest
import torch
from hypothesis import settings

torch.set_num_threads(1)
# Data generation in hypothesis tests builds tensors; the first call pays for imports.
settings.register_profile("gdl", deadline=None, max_examples=60, derandomize=True)
settings.load_profile("gdl")


@pytest.fixture(autouse=True)
def _seed_and_clear():
    pyro.set_rng_seed(0)
    pyro.clear_param_store()
    yield
