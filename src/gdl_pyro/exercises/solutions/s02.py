"""Reference solutions of s02's exercises."""

import torch

from gdl_pyro.data import world
from gdl_pyro.distributions import UniformBox


def sample_p_data(num_samples):
    """s02.1: propose uniformly over the map, keep the proposals on land, until there are enough."""
    the_map = UniformBox(torch.tensor([-180.0, -90.0]), torch.tensor([180.0, 90.0]))
    kept, count = [], 0
    while count < num_samples:
        proposals = the_map.sample((num_samples,))
        on_land = proposals[world.is_land(proposals)]
        kept.append(on_land)
        count += len(on_land)
    return torch.cat(kept)[:num_samples]


def accurate_box():
    """s02.2: Antarctica south of 70°S: in degrees, a band of land that holds 27% of p_data."""
    return torch.tensor([-180.0, -90.0]), torch.tensor([180.0, -70.0])
