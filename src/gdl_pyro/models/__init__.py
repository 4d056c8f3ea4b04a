"""One module per model family; each has a Pyro ``model`` and, where one exists, its closed form."""

from gdl_pyro.models import box, flow, gaussian, kde, mixture, ppca, vae

__all__ = ["box", "flow", "gaussian", "kde", "mixture", "ppca", "vae"]
