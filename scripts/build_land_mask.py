"""Build the packed 0.25-degree land mask shipped in ``gdl_pyro/data/land_mask.npz``.

Source: Natural Earth 1:50m land (public domain), as redistributed in the npm package
``world-atlas`` (file ``land-50m.json``, TopoJSON, spherical lon/lat in degrees)::

    npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    python scripts/build_land_mask.py package/land-50m.json

Only this script needs the TopoJSON file; the package ships the packed mask alone.

Pitfalls handled here, each checked by ``tests/data/test_world.py`` on the result:

- world-atlas stitches Natural Earth's antimeridian cuts, so a ring such as Chukotka or Fiji
  jumps from +180 to -180. Longitudes are unwrapped along each ring and the ring is
  rasterised at offsets of -360, 0 and +360 degrees.
- Antarctica's ring goes once around the south pole: after unwrapping it does not close in
  longitude. It is closed along the pole (latitude -90) before rasterising.
- A cell is land when its *centre* is inside the land polygons (even-odd rule across all
  rings, so lakes such as the Caspian Sea are holes).
- Row 0 is the northernmost row (latitude 90 to 89.75): north-up, like an image.
"""

import argparse
import json
from pathlib import Path

import numpy as np
from matplotlib.path import Path as MplPath

CELL_DEG = 0.25
NUM_ROWS = int(180 / CELL_DEG)
NUM_COLS = int(360 / CELL_DEG)


def decode_arcs(topology: dict) -> list[np.ndarray]:
    """Undo TopoJSON's quantisation and delta encoding of every arc."""
    scale = np.asarray(topology["transform"]["scale"], dtype=np.float64)
    translate = np.asarray(topology["transform"]["translate"], dtype=np.float64)
    return [
        np.cumsum(np.asarray(a, dtype=np.float64), axis=0) * scale + translate
        for a in topology["arcs"]
    ]


def ring_coordinates(arc_indices: list[int], arcs: list[np.ndarray]) -> np.ndarray:
    """Join the arcs of one ring; a negative index ~i means arc i reversed."""
    pieces = []
    for index in arc_indices:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        pieces.append(arc if not pieces else arc[1:])  # arcs share their end points
    return np.concatenate(pieces)


def iter_rings(topology: dict, arcs: list[np.ndarray]):
    """Every ring of every polygon of the 'land' object."""
    for geometry in topology["objects"]["land"]["geometries"]:
        polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        for polygon in polygons:
            for ring in polygon:
                yield ring_coordinates(ring, arcs)


def unwrap_ring(ring: np.ndarray) -> np.ndarray:
    """Make longitudes continuous along the ring and close a ring that circles a pole."""
    lon = np.rad2deg(np.unwrap(np.deg2rad(ring[:, 0])))
    lat = ring[:, 1]
    winding = lon[-1] - lon[0]
    if abs(winding) > 180:  # goes around a pole: close it along that pole
        pole = -90.0 if lat.mean() < 0 else 90.0
        lon = np.concatenate([lon, [lon[-1], lon[0]]])
        lat = np.concatenate([lat, [pole, pole]])
    return np.column_stack([lon, lat])


def rasterise(rings: list[np.ndarray]) -> np.ndarray:
    """Even-odd fill of the rings, sampled at cell centres; row 0 is the north."""
    lon_centres = -180 + CELL_DEG * (np.arange(NUM_COLS) + 0.5)
    lat_centres = 90 - CELL_DEG * (np.arange(NUM_ROWS) + 0.5)
    lon_grid, lat_grid = np.meshgrid(lon_centres, lat_centres)
    mask = np.zeros((NUM_ROWS, NUM_COLS), dtype=bool)
    for ring in rings:
        ring = unwrap_ring(ring)
        for offset in (-360.0, 0.0, 360.0):
            shifted = ring + [offset, 0.0]
            lo, hi = shifted.min(axis=0), shifted.max(axis=0)
            if hi[0] < -180 or lo[0] > 180:
                continue
            cols = (lon_centres >= lo[0]) & (lon_centres <= hi[0])
            rows = (lat_centres >= lo[1]) & (lat_centres <= hi[1])
            if not cols.any() or not rows.any():
                continue
            block = np.ix_(rows, cols)
            points = np.column_stack([lon_grid[block].ravel(), lat_grid[block].ravel()])
            inside = MplPath(shifted).contains_points(points).reshape(rows.sum(), cols.sum())
            mask[block] ^= inside
    return mask


def main(args: argparse.Namespace) -> None:
    topology = json.loads(Path(args.topojson).read_text())
    arcs = decode_arcs(topology)
    mask = rasterise(list(iter_rings(topology, arcs)))
    np.savez_compressed(
        args.out,
        packed=np.packbits(mask, axis=None),
        shape=np.asarray(mask.shape),
        cell_deg=np.asarray(CELL_DEG),
    )
    print(
        f"{mask.sum()} land cells of {mask.size} ({mask.mean():.1%}); wrote {args.out} "
        f"({Path(args.out).stat().st_size} bytes)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("topojson", help="path to world-atlas land-50m.json")
    parser.add_argument("--out", default="src/gdl_pyro/data/land_mask.npz")
    main(parser.parse_args())
