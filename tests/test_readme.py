"""The README's code runs as written: every ``python`` block, one after the other, in one namespace.

A learner pastes them into a notebook in that order, so a later block may use an earlier one's
names. Blocks in other languages (``bash``, ``text``) are shell commands or signatures to read.
"""

import re
from pathlib import Path

import pyro
import pytest
import torch

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def python_blocks() -> list[str]:
    return BLOCK.findall(README.read_text())


def test_the_readme_has_python_blocks():
    assert len(python_blocks()) >= 1


@pytest.mark.slow
def test_every_python_block_runs_as_written():
    namespace = {"__name__": "readme"}
    for number, block in enumerate(python_blocks()):
        code = compile(block, f"README.md python block {number}", "exec")
        exec(code, namespace)  # noqa: S102 (running the README is the point)
    # What the blocks claim: the SVI box is the bounding box, K = 5 fits better than K = 3, the
    # learned weight is a weight, and the user's own SVI left no parameter in the global store.
    assert torch.allclose(namespace["fitted"].low, namespace["low"], atol=1e-3)
    assert (
        namespace["five"].log_prob(namespace["x"]).mean()
        > namespace["three"].log_prob(namespace["x"]).mean()
    )
    assert 0 < namespace["mine"].params["weight"].item() < 1
    # The guide ran with the fit's own parameters: the fit's own draws have the same spread.
    ratio = namespace["spread"] / namespace["posterior"].draws["loc"].std(0)
    assert ((ratio > 0.75) & (ratio < 1.33)).all(), ratio
    assert len(pyro.get_param_store()) == 0
