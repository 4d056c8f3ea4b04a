"""Results files are valid JSON even when a log-likelihood is -inf."""

import json
import math

import numpy as np
import torch

from gdl_pyro.scripting import to_jsonable, write_results


def test_non_finite_numbers_become_strings(tmp_path):
    results = {
        "ll": -math.inf,
        "nan": math.nan,
        "t": torch.tensor([1.0, -math.inf]),
        "n": np.float32(2.5),
        "nested": {"k": (1, 2)},
    }
    path = write_results(tmp_path / "out", results)
    loaded = json.loads(path.read_text())  # strict JSON: no -Infinity literals
    assert loaded == {
        "ll": "-inf",
        "nan": "nan",
        "t": [1.0, "-inf"],
        "n": 2.5,
        "nested": {"k": [1, 2]},
    }
    assert to_jsonable(float("inf")) == "inf"
