"""Test settings: one thread (CI has 2 cores), fixed seeds, a clean param store, no deadlines."""

import os
import random

import numpy as np
import pyro
import pytest
import torch
from hypothesis import settings

# One torch thread in every pytest worker: `make test` runs one worker per core, and two workers
# with two threads each on two cores would slow each other down. The chapter scripts and notebook
# kernels that tests start set OMP_NUM_THREADS=1 themselves (test_chapters.run_script,
# notebooks.KERNEL_ENV); the variable here covers any other subprocess, such as test_fitting's
# import checks.
torch.set_num_threads(1)
os.environ["OMP_NUM_THREADS"] = "1"
# Data generation in hypothesis tests builds tensors; the first call pays for imports.
settings.register_profile("gdl", deadline=None, max_examples=60, derandomize=True)
# `make test-fast` passes --hypothesis-profile=gdl-fast: the same properties on fewer examples.
settings.register_profile("gdl-fast", settings.get_profile("gdl"), max_examples=15)
settings.load_profile("gdl")


@pytest.fixture(autouse=True)
def _seed_and_clear():
    # pyro.set_rng_seed(0) without torch.manual_seed's queue of accelerator seedings (a stack
    # trace formatted per call, milliseconds each over hundreds of tests).
    torch.default_generator.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002
    random.seed(0)
    pyro.clear_param_store()
    yield
