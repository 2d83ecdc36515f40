"""DPG-Bench's 2x2 image grid: tiles pasted in the official crop order, and cut out again."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image


def grid_boxes(resolution: int) -> list[tuple[int, int, int, int]]:
    """The four tile boxes (left, upper, right, lower) of a 2x2 grid: top-left, top-right, bottom-left,
    bottom-right, as `compute_dpg_bench.py` crops them."""
    r = resolution
    return [(0, 0, r, r), (r, 0, 2 * r, r), (0, r, r, 2 * r), (r, r, 2 * r, 2 * r)]


def make_grid(tiles: Sequence[Image.Image]) -> Image.Image:
    """One 2x2 grid of 1 to 4 equal square tiles in crop order; cells without a tile stay black."""
    if not 1 <= len(tiles) <= 4:
        raise ValueError(f"a 2x2 grid holds 1 to 4 tiles, not {len(tiles)}")
    size = tiles[0].size
    if size[0] != size[1] or any(tile.size != size for tile in tiles):
        raise ValueError(f"grid tiles must be equal squares, got {[tile.size for tile in tiles]}")
    grid = Image.new("RGB", (2 * size[0], 2 * size[0]))
    for tile, box in zip(tiles, grid_boxes(size[0])):
        grid.paste(tile.convert("RGB"), box[:2])
    return grid


def crop_tiles(grid: Image.Image, count: int, resolution: int | None = None) -> list[Image.Image]:
    """The first `count` tiles of a grid, cropped at the official boxes (resolution: half the grid's width)."""
    r = resolution if resolution is not None else grid.width // 2
    return [grid.crop(box) for box in grid_boxes(r)[:count]]
