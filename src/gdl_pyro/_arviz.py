"""ArviZ, imported without its notice about the 1.x refactor (this project pins 0.23)."""

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="\nArviZ is undergoing a major refactor", category=FutureWarning
    )
    import arviz as az
    from arviz.stats import ELPDData  # public: arviz.stats lists it in __all__

__all__ = ["ELPDData", "az"]
