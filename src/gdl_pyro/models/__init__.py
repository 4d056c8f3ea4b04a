"""One module per model family; each has a Pyro ``model`` and, where one exists, its closed form."""

from gdl_pyro.models import autoregressive, box, flow, gaussian, kde, mixture, ppca, vae

__all__ = ["autoregressive", "box", "flow", "gaussian", "kde", "mixture", "ppca", "vae"]
