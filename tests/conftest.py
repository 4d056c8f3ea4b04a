"""Test settings: one thread (CI has 2 cores), fixed seeds, a clean param store, no deadlines."""

import os

import pyro
import pytest
import torch
from hypothesis import settings

# One torch thread here and in every process a test starts (notebook kernels, chapter scripts):
# `make test` runs one pytest worker per core, and two workers with two threads each on two
# cores would slow each other down.
torch.set_num_threads(1)
os.environ["OMP_NUM_THREADS"] = "1"
# Data generation in hypothesis tests builds tensors; the first call pays for imports.
settings.register_profile("gdl", deadline=None, max_examples=60, derandomize=True)
settings.load_profile("gdl")


@pytest.fixture(autouse=True)
def _seed_and_clear():
    pyro.set_rng_seed(0)
    pyro.clear_param_store()
    yield
