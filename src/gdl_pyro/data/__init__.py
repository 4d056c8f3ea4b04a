"""Datasets that ship with the package or are generated from a seed (nothing is downloaded)."""

from gdl_pyro.data.world import (
    LandUniform,
    is_land,
    land_area,
    land_area_in_box,
    land_mask,
    sample_land,
)

__all__ = ["LandUniform", "is_land", "land_area", "land_area_in_box", "land_mask", "sample_land"]
