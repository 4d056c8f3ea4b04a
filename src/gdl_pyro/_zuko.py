"""Zuko, imported without its side effect on the user's torch (private).

Importing Zuko switches off argument validation for every torch distribution, the user's own
included (``zuko/distributions.py`` sets ``Distribution._validate_args = False``). A library must
not change that setting for its user, so it is put back as it was. Zuko's flows work either way.
"""

import torch

_validate_args = torch.distributions.Distribution._validate_args
import zuko  # noqa: E402

torch.distributions.Distribution.set_default_validate_args(_validate_args)

__all__ = ["zuko"]
