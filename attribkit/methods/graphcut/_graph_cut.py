"""GrabCut's energy minimised by max-flow (PyMaxflow), on a pixel grid or on a band of it.

The energy (Rother et al. 2004): colour-model unaries, plus contrast-sensitive Potts terms
γ·exp(−β‖z_m − z_n‖²)/dist on the 8-neighbourhood, with β = 1 / (2 · mean ‖z_m − z_n‖²) so the term
adapts to the image's contrast. :func:`grid_cut` cuts a whole (small) image; :func:`band_cut` re-cuts
only a band of pixels with the rest held fixed (banded graph cuts, Lombaert et al. 2005): along the
boundary of a cut made on a smaller copy, at the image's own resolution, it puts the edge back on the
right pixel at a small cost.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import maxflow
import numpy as np

from attribkit.localisation import mask_box

#: The 8-neighbourhood as four offsets (the other four are the same edges seen from the other end).
OFFSETS = ((0, 1), (1, 0), (1, 1), (1, -1))

#: ``[N, 3]`` colours → (cost of foreground, cost of background) per pixel.
Unaries = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _pairs(height: int, width: int, dy: int, dx: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """Slices ``a, b`` such that ``image[a]`` and ``image[b]`` are neighbours ``(dy, dx)`` apart."""
    rows = slice(0, height - dy), slice(dy, height)
    cols = slice(max(0, -dx), width - max(0, dx)), slice(max(0, dx), width + min(0, dx))
    return (rows[0], cols[0]), (rows[1], cols[1])


def _planes(rgb: np.ndarray) -> np.ndarray:
    """``[H, W, 3]`` → ``[3, H, W]`` float32: per-pixel sums over colour run over contiguous planes."""
    return np.ascontiguousarray(np.moveaxis(rgb, -1, 0), dtype=np.float32)


def _sq_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """‖a − b‖² over the first (colour) axis."""
    d = a - b
    d *= d
    return d[0] + d[1] + d[2]


def _neighbour_distances(planes: np.ndarray) -> list[tuple[int, int, tuple[slice, slice], np.ndarray]]:
    """‖z_m − z_n‖² of every 8-neighbour pair of a ``[3, H, W]`` image, per offset: ``(dy, dx, a, d)``
    with ``d[i, j]`` the distance between pixel ``[a][i, j]`` and its neighbour ``(dy, dx)`` away."""
    _, height, width = planes.shape
    out = []
    for dy, dx in OFFSETS:
        a, b = _pairs(height, width, dy, dx)
        out.append((dy, dx, a, _sq_distance(planes[(slice(None), *a)], planes[(slice(None), *b)])))
    return out


def _beta(distances: list[tuple[int, int, tuple[slice, slice], np.ndarray]]) -> float:
    total = sum(float(d.sum(dtype=np.float64)) for *_, d in distances)
    count = sum(d.size for *_, d in distances)
    return 1.0 / (2.0 * total / count) if total > 0 else 0.0


def contrast_beta(planes: np.ndarray) -> float:
    """GrabCut's β for a ``[3, H, W]`` image (0 for a flat one)."""
    return _beta(_neighbour_distances(planes))


def _potts(sq_distance: np.ndarray, smoothness: float, beta: float, dy: int, dx: int) -> np.ndarray:
    return smoothness * np.exp(-beta * sq_distance) / np.hypot(dy, dx)


def _hard(source: np.ndarray, sink: np.ndarray, smoothness: float) -> float:
    """A capacity no cut pays: above any node's unaries plus all its pairwise terms (≤ 8γ)."""
    return 2.0 * (1.0 + max(float(source.max()), float(sink.max())) + 8.0 * smoothness)


def _unary_capacities(cost_fg: np.ndarray, cost_bg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Only differences of unaries matter: shifting both by their minimum keeps capacities non-negative.
    base = np.minimum(cost_fg, cost_bg)
    return (cost_bg - base).astype(np.float64), (cost_fg - base).astype(np.float64)


def _pin(source: np.ndarray, sink: np.ndarray, sure_fg: np.ndarray | None, sure_bg: np.ndarray | None,
         smoothness: float) -> tuple[np.ndarray, np.ndarray]:
    """Seeds as hard constraints: a sure pixel cannot change side."""
    if sure_fg is None or sure_bg is None:
        return source, sink
    hard = _hard(source, sink, smoothness)
    return (np.where(sure_fg, hard, np.where(sure_bg, 0.0, source)),
            np.where(sure_bg, hard, np.where(sure_fg, 0.0, sink)))


def grid_cut(
    rgb: np.ndarray,
    cost_fg: np.ndarray,
    cost_bg: np.ndarray,
    smoothness: float,
    sure_fg: np.ndarray | None = None,
    sure_bg: np.ndarray | None = None,
) -> np.ndarray:
    """Minimum cut of the whole ``[H, W]`` grid; True = foreground (the source side)."""
    height, width = cost_fg.shape
    distances = _neighbour_distances(_planes(rgb))
    beta = _beta(distances)
    source, sink = _pin(*_unary_capacities(cost_fg, cost_bg), sure_fg, sure_bg, smoothness)
    graph = maxflow.Graph[float]()
    nodes = graph.add_grid_nodes((height, width))
    for dy, dx, a, distance in distances:
        weights = np.zeros((height, width))  # edges leaving the grid are ignored by PyMaxflow
        weights[a] = _potts(distance, smoothness, beta, dy, dx)
        structure = np.zeros((3, 3))
        structure[1 + dy, 1 + dx] = 1
        graph.add_grid_edges(nodes, weights=weights, structure=structure, symmetric=True)
    graph.add_grid_tedges(nodes, source, sink)
    graph.maxflow()
    return ~graph.get_grid_segments(nodes)


def boundary_band(mask: np.ndarray, radius: int, *, box_sides_only: bool = True) -> np.ndarray:
    """Pixels within ``radius`` of ``mask``'s boundary; with ``box_sides_only``, only those within
    ``radius`` of a side of its bounding box (where the boundary decides the box)."""
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    m8 = mask.astype(np.uint8)
    inside = cv2.erode(m8, kernel, borderType=cv2.BORDER_REPLICATE) > 0  # an object may touch the edge
    band = (cv2.dilate(m8, kernel) > 0) & ~inside
    box = mask_box(mask)
    if box_sides_only and box is not None:
        x0, y0, x1, y1 = box
        rows, cols = np.arange(mask.shape[0])[:, None], np.arange(mask.shape[1])[None, :]
        near = ((np.abs(rows - y0) <= radius) | (np.abs(rows - (y1 - 1)) <= radius)
                | (np.abs(cols - x0) <= radius) | (np.abs(cols - (x1 - 1)) <= radius))
        band &= near
    return band


def band_cut(
    rgb: np.ndarray,
    mask: np.ndarray,
    band: np.ndarray,
    unaries: Unaries,
    smoothness: float,
    sure_fg: np.ndarray | None = None,
    sure_bg: np.ndarray | None = None,
) -> np.ndarray:
    """``mask`` with the pixels of ``band`` re-labelled by a minimum cut; the rest keep their labels.

    The pairwise terms between band pixels and fixed pixels become unaries of the band pixels, so the
    band's cut is the whole image's cut with everything outside the band held fixed.
    """
    height, width = mask.shape
    ys, xs = np.nonzero(band)
    if ys.size == 0:
        return mask
    index = np.full((height, width), -1, np.int64)
    index[ys, xs] = np.arange(ys.size)
    source, sink = _unary_capacities(*unaries(rgb[ys, xs]))
    planes = _planes(rgb)
    beta = contrast_beta(planes)
    colours = planes[:, ys, xs]
    edges = []
    for dy, dx in OFFSETS + tuple((-dy, -dx) for dy, dx in OFFSETS):
        qy, qx = ys + dy, xs + dx
        p = np.flatnonzero((qy >= 0) & (qy < height) & (qx >= 0) & (qx < width))
        qy, qx = qy[p], qx[p]
        weights = _potts(_sq_distance(colours[:, p], planes[:, qy, qx]), smoothness, beta, dy, dx)
        q = index[qy, qx]
        if (dy, dx) in OFFSETS:  # each band-band edge once
            both = q >= 0
            edges.append((p[both], q[both], weights[both]))
        # A band pixel labelled against a fixed neighbour pays their edge.
        fixed = q < 0
        fixed_fg, fixed_bg = fixed & mask[qy, qx], fixed & ~mask[qy, qx]
        source[p[fixed_fg]] += weights[fixed_fg]
        sink[p[fixed_bg]] += weights[fixed_bg]
    source, sink = _pin(source, sink, None if sure_fg is None else sure_fg[ys, xs],
                        None if sure_bg is None else sure_bg[ys, xs], smoothness)
    i, j, w = (np.concatenate(parts) for parts in zip(*edges))
    graph = maxflow.Graph[float](ys.size, i.size)
    graph.add_nodes(ys.size)
    nodes = np.arange(ys.size)  # a new graph numbers its nodes from 0
    if i.size:
        graph.add_edges(i, j, w, w)
    graph.add_grid_tedges(nodes, source, sink)
    graph.maxflow()
    out = mask.copy()
    out[ys, xs] = ~graph.get_grid_segments(nodes)
    return out
