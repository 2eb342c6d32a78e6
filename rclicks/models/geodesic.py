"""A weightless, classical click-based segmenter: geodesic distances on a superpixel graph.

``encode`` over-segments the image into SLIC superpixels (Lab colour) and builds the
superpixel adjacency graph; an edge costs a small constant plus the squared Lab difference of
the two superpixels' mean colours (squaring keeps gentle shading cheap and real edges dear).

``predict`` folds in only the *new* clicks of a trajectory: one Dijkstra per click, from a
virtual source linked to the clicked superpixel and its neighbours, each at the colour cost
from the clicked pixel to that superpixel's mean (so a click on the minority part of a
superpixel that straddles an edge seeds the side it looks like). The per-trajectory state
keeps, per superpixel, the smallest geodesic distance to a positive and to a negative click.
Before any negative click the image-border superpixels act as weak background seeds (their
geodesic distance plus an offset); after it they stay, with a larger offset.

``prob = d_neg / (d_pos + d_neg)`` is painted per superpixel, then refined per pixel inside the
superpixels along the foreground/background boundary and those holding clicks: there a pixel's
distance to either label is the smallest, over its own and the neighbouring superpixels, of
that superpixel's distance plus the colour cost from the pixel to its mean; clicks also seed
the pixels of their own superpixel directly (colour + image distance). Every clicked pixel
takes the label of its latest click.

Pure numpy / scipy / scikit-image, deterministic; the embedding is never mutated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from skimage.segmentation import slic

from rclicks.types import Click

__all__ = ["GeodesicEmbedding", "GeodesicModel", "GeodesicState", "make_model"]


def _readonly(*arrays: np.ndarray) -> None:
    for a in arrays:
        a.setflags(write=False)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for every (s, n), vectorised."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offs = np.cumsum(lengths) - lengths
    return np.repeat(starts - offs, lengths) + np.arange(total)


def _lab_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = a - b
    return np.sqrt(np.einsum("ij,ij->i", d, d))


@dataclass(frozen=True)
class GeodesicEmbedding:
    """What ``encode`` returns: shared, read-only, by every trajectory of one image."""

    shape: tuple[int, int]
    labels: np.ndarray  # H×W int32 superpixel id of every pixel
    graph: csr_matrix  # n×n symmetric edge weights (int32 indices)
    edge_src: np.ndarray  # source node of every stored edge of ``graph`` (CSR order)
    border_dist: np.ndarray  # n: geodesic distance to the image-border superpixels
    lab: np.ndarray  # H×W×3 float32 Lab image
    mean: np.ndarray  # n×3 mean Lab colour per superpixel
    pix_order: np.ndarray  # flat pixel indices grouped by superpixel
    pix_start: np.ndarray  # n+1 offsets into pix_order
    ext: np.ndarray  # per superpixel: itself, then its neighbours (offsets in ext_ptr)
    ext_ptr: np.ndarray  # n+1 offsets into ext
    pair_node: np.ndarray  # (pixel, own-or-neighbour superpixel) pairs: the superpixel
    pair_cost: np.ndarray  # ... and the colour cost from the pixel to its mean
    pair_ptr: np.ndarray  # n+1 offsets: the pairs of superpixel s, pixel by pixel

    @property
    def n_nodes(self) -> int:
        return int(self.border_dist.shape[0])


@dataclass(frozen=True)
class GeodesicState:
    """Per-trajectory memory. Never modified after it is returned."""

    clicks: tuple[Click, ...]
    d_pos: np.ndarray  # per superpixel: geodesic distance to the nearest positive click
    d_neg: np.ndarray  # ... and to the nearest negative click
    # per clicked superpixel: per-pixel cost to its positive / negative clicks
    # (pixels in pix_order order; inf where that superpixel has no click of the sign)
    pixel_seeds: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def _as_rgb8(image: np.ndarray) -> np.ndarray:
    """H×W×3 uint8 RGB from uint8/float RGB(A) or grey input (floats <= 1 read as [0, 1])."""
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (3, 4) or img.shape[0] < 2 or img.shape[1] < 2:
        raise ValueError(f"image must be H×W×3 RGB, got shape {img.shape}")
    img = img[:, :, :3]
    if img.dtype != np.uint8:
        img = img.astype(np.float64)
        if img.size and np.nanmax(img) <= 1.0:
            img = img * 255.0
        img = np.clip(np.nan_to_num(np.round(img)), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img)


def _as_int(v: Any) -> int:
    return int(float(v)) if isinstance(v, str) else int(v)


def _as_bool(v: Any) -> bool:
    if isinstance(v, str):
        s = v.strip().lower()
        if s in ("1", "true", "yes", "on"):
            return True
        if s in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"not a boolean: {v!r}")
    return bool(v)


class GeodesicModel:
    """Classical interactive segmenter (see the module docstring); no weights, CPU only.

    Options (strings from a CLI are coerced): ``n_segments`` SLIC superpixels;
    ``compactness`` SLIC compactness in Lab units; ``slic_iter`` SLIC iterations;
    ``edge_eps`` constant cost of every graph step; ``color_weight`` / ``power`` turn a Lab
    difference ``d`` into the cost ``color_weight * d**power``; ``border_offset`` /
    ``border_offset_neg`` are added to the image-border distance that serves as the
    background prior before / after the first negative click (``keep_border=False`` drops it
    after the first negative click); ``refine`` enables the pixel-level refinement;
    ``click_spatial`` is the per-pixel distance cost of a click's direct pixel seeds.
    """

    threshold: float = 0.5

    def __init__(
        self,
        n_segments: int = 1500,
        compactness: float = 20.0,
        device: str = "cpu",
        slic_iter: int = 5,
        edge_eps: float = 1.0,
        color_weight: float = 1.0,
        power: float = 2.0,
        border_offset: float = 20.0,
        border_offset_neg: float = 40.0,
        keep_border: bool = True,
        refine: bool = True,
        click_spatial: float = 0.5,
        **kw: Any,
    ) -> None:
        if "threshold" in kw:
            self.threshold = float(kw.pop("threshold"))
        if kw:
            raise TypeError(f"GeodesicModel got unknown option(s) {sorted(kw)}")
        self.n_segments = _as_int(n_segments)
        self.compactness = float(compactness)
        self.device = str(device)
        self.slic_iter = _as_int(slic_iter)
        self.edge_eps = float(edge_eps)
        self.color_weight = float(color_weight)
        self.power = float(power)
        self.border_offset = float(border_offset)
        self.border_offset_neg = float(border_offset_neg)
        self.keep_border = _as_bool(keep_border)
        self.refine = _as_bool(refine)
        self.click_spatial = float(click_spatial)
        if self.n_segments < 1 or self.slic_iter < 1:
            raise ValueError("n_segments and slic_iter must be positive")
        if self.edge_eps <= 0:
            raise ValueError("edge_eps must be > 0 (Dijkstra needs positive edges)")

    def __repr__(self) -> str:
        return (
            f"GeodesicModel(n_segments={self.n_segments}, compactness={self.compactness}, "
            f"slic_iter={self.slic_iter}, edge_eps={self.edge_eps}, "
            f"border_offset={self.border_offset}, refine={self.refine})"
        )

    def _cost(self, diff: np.ndarray) -> np.ndarray:
        """A Lab difference to a non-negative cost (without the per-step constant)."""
        if self.power == 1.0:
            return self.color_weight * diff
        return self.color_weight * np.power(diff, self.power)

    # ------------------------------------------------------------------ encode

    def encode(self, image: np.ndarray) -> GeodesicEmbedding:
        img = _as_rgb8(image)
        h, w = int(img.shape[0]), int(img.shape[1])
        lab = cv2.cvtColor(img.astype(np.float32) * np.float32(1 / 255.0), cv2.COLOR_RGB2Lab)
        # slic rescales its input to [0, 1]; rescale compactness so it stays in Lab units
        span = max(float(lab.max() - lab.min()), 1e-6)
        labels = slic(
            lab,
            n_segments=max(1, min(self.n_segments, h * w // 16)),  # >= ~16 px per superpixel
            compactness=self.compactness / span,
            max_num_iter=self.slic_iter,
            convert2lab=False,
            channel_axis=-1,
            start_label=0,
            enforce_connectivity=True,
        )
        flat = np.ascontiguousarray(labels, dtype=np.int32).ravel()
        n = int(flat.max()) + 1
        counts = np.bincount(flat, minlength=n)
        if (counts == 0).any():  # make the ids contiguous
            _, flat = np.unique(flat, return_inverse=True)
            flat = flat.astype(np.int32).ravel()
            n = int(flat.max()) + 1
            counts = np.bincount(flat, minlength=n)
        labels = flat.reshape(h, w)

        lab_flat = lab.reshape(-1, 3)
        mean = (
            np.stack(
                [np.bincount(flat, weights=lab_flat[:, c], minlength=n) for c in range(3)], axis=1
            )
            / counts[:, None]
        )

        # superpixel adjacency (4-connectivity), weights from mean-colour differences
        keys = []
        for la, lb in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
            m = la != lb
            a = la[m].astype(np.int64)
            b = lb[m].astype(np.int64)
            keys.append(np.minimum(a, b) * n + np.maximum(a, b))
        ukey = np.unique(np.concatenate(keys))
        u, v = ukey // n, ukey % n
        wgt = self.edge_eps + self._cost(_lab_dist(mean[u], mean[v]))
        graph = csr_matrix(
            (np.concatenate([wgt, wgt]), (np.concatenate([u, v]), np.concatenate([v, u]))),
            shape=(n, n),
        )
        graph.sort_indices()
        graph.indices = graph.indices.astype(np.int32, copy=False)
        graph.indptr = graph.indptr.astype(np.int32, copy=False)
        deg = np.diff(graph.indptr).astype(np.int64)
        edge_src = np.repeat(np.arange(n, dtype=np.int32), deg)

        border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        border_dist = dijkstra(graph, directed=True, indices=border, min_only=True)

        pix_order = np.argsort(flat, kind="stable")
        pix_start = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=pix_start[1:])

        # pixel-level refinement tables: each pixel against its own superpixel and every
        # neighbouring one; pairs grouped by pixel, pixels grouped by superpixel
        ext_len = deg + 1
        ext_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(ext_len, out=ext_ptr[1:])
        ext = np.empty(int(ext_ptr[-1]), dtype=np.int32)
        own = np.zeros(ext.size, dtype=bool)
        own[ext_ptr[:-1]] = True
        ext[own] = np.arange(n, dtype=np.int32)
        ext[~own] = graph.indices
        node_of_pix = flat[pix_order]
        k = ext_len[node_of_pix]
        pair_ext = _ranges(ext_ptr[node_of_pix], k)
        pair_node = ext[pair_ext]
        col = lab_flat[pix_order]
        mean32 = mean.astype(np.float32)
        d2 = np.zeros(pair_node.size, dtype=np.float32)
        for c in range(3):
            d = np.repeat(col[:, c], k) - mean32[:, c][pair_node]
            d2 += d * d
        d2 = np.sqrt(d2, out=d2)
        pair_cost = self._cost(d2).astype(np.float32) + np.float32(self.edge_eps)
        pair_cost[own[pair_ext]] -= np.float32(self.edge_eps)
        pair_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts * ext_len, out=pair_ptr[1:])

        _readonly(
            labels,
            edge_src,
            border_dist,
            lab,
            mean,
            pix_order,
            pix_start,
            ext,
            ext_ptr,
            pair_node,
            pair_cost,
            pair_ptr,
            graph.data,
            graph.indices,
            graph.indptr,
        )
        return GeodesicEmbedding(
            shape=(h, w),
            labels=labels,
            graph=graph,
            edge_src=edge_src,
            border_dist=border_dist,
            lab=lab,
            mean=mean,
            pix_order=pix_order,
            pix_start=pix_start,
            ext=ext,
            ext_ptr=ext_ptr,
            pair_node=pair_node,
            pair_cost=pair_cost,
            pair_ptr=pair_ptr,
        )

    # ------------------------------------------------------------------ predict

    def predict(
        self, embedding: GeodesicEmbedding, clicks: Sequence[Click], state: Any
    ) -> tuple[np.ndarray, GeodesicState]:
        probs, states = self.predict_batch(embedding, [clicks], [state])
        return probs[0], states[0]

    def predict_batch(
        self,
        embedding: GeodesicEmbedding,
        clicks: Sequence[Sequence[Click]],
        states: Sequence[Any] | None,
    ) -> tuple[list[np.ndarray], list[GeodesicState]]:
        emb = embedding
        n = emb.n_nodes
        if states is None:
            states = [None] * len(clicks)
        if len(states) != len(clicks):
            raise ValueError("clicks and states must have the same length")
        plans = []
        new_clicks: list[Click] = []
        for cl, st in zip(clicks, states, strict=True):
            cl = tuple(cl)
            for c in cl:
                self._check(emb, c)
            if (
                isinstance(st, GeodesicState)
                and st.d_pos.shape[0] == n
                and len(st.clicks) <= len(cl)
                and cl[: len(st.clicks)] == st.clicks
            ):
                base = st
            else:  # no usable state: start this trajectory afresh
                base = GeodesicState((), np.full(n, np.inf), np.full(n, np.inf))
            new = cl[len(base.clicks) :]
            new_clicks.extend(new)
            plans.append((cl, base, new))
        rows = self._click_distances(emb, new_clicks) if new_clicks else None
        probs: list[np.ndarray] = []
        out: list[GeodesicState] = []
        r = 0
        for cl, base, new in plans:
            if new:
                d_pos, d_neg = base.d_pos.copy(), base.d_neg.copy()
                seeds = dict(base.pixel_seeds)
                for c in new:
                    target = d_pos if c.positive else d_neg
                    np.minimum(target, rows[r], out=target)
                    r += 1
                    self._add_pixel_seed(emb, seeds, c)
                st = GeodesicState(cl, d_pos, d_neg, seeds)
            else:
                st = base
            probs.append(self._paint(emb, st))
            out.append(st)
        return probs, out

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _check(emb: GeodesicEmbedding, c: Click) -> None:
        h, w = emb.shape
        if not (0 <= c.x < w and 0 <= c.y < h):
            raise ValueError(f"click {c} is outside the {h}×{w} image")

    def _click_distances(self, emb: GeodesicEmbedding, clicks: list[Click]) -> np.ndarray:
        """Geodesic distance from each click to every superpixel (one row per click)."""
        n = emb.n_nodes
        g = emb.graph
        idx_parts, val_parts, lens = [], [], []
        for c in clicks:
            node = int(emb.labels[c.y, c.x])
            nodes = emb.ext[emb.ext_ptr[node] : emb.ext_ptr[node + 1]]
            cost = self._cost(_lab_dist(emb.mean[nodes], emb.lab[c.y, c.x][None, :]))
            cost[1:] += self.edge_eps
            idx_parts.append(nodes)
            val_parts.append(cost + 1e-9)  # an explicit 0 would mean "no edge"
            lens.append(nodes.size)
        m = n + len(clicks)
        indptr = np.concatenate([g.indptr, g.indptr[-1] + np.cumsum(lens, dtype=np.int32)])
        aug = csr_matrix(
            (
                np.concatenate([g.data, *val_parts]),
                np.concatenate([g.indices, *idx_parts]),
                indptr,
            ),
            shape=(m, m),
        )
        # one virtual source per click, linked to its superpixel and the neighbours
        return dijkstra(aug, directed=True, indices=np.arange(n, m))[:, :n]

    def _add_pixel_seed(
        self, emb: GeodesicEmbedding, seeds: dict[int, tuple[np.ndarray, np.ndarray]], c: Click
    ) -> None:
        node = int(emb.labels[c.y, c.x])
        pix = emb.pix_order[emb.pix_start[node] : emb.pix_start[node + 1]]
        py, px = np.divmod(pix, emb.shape[1])
        cost = self._cost(_lab_dist(emb.lab.reshape(-1, 3)[pix], emb.lab[c.y, c.x][None, :]))
        cost = cost + self.click_spatial * np.hypot(py - c.y, px - c.x)
        if node in seeds:
            cpos, cneg = seeds[node]
        else:
            cpos = cneg = np.full(pix.size, np.inf)
        if c.positive:
            cpos = np.minimum(cpos, cost)
        else:
            cneg = np.minimum(cneg, cost)
        seeds[node] = (cpos, cneg)  # new arrays; the previous state's stay untouched

    def _paint(self, emb: GeodesicEmbedding, st: GeodesicState) -> np.ndarray:
        h, w = emb.shape
        if not any(c.positive for c in st.clicks):
            return np.zeros((h, w), dtype=np.float32)
        if all(c.positive for c in st.clicks):
            neg = emb.border_dist + self.border_offset
        elif self.keep_border:
            neg = np.minimum(st.d_neg, emb.border_dist + self.border_offset_neg)
        else:
            neg = st.d_neg
        pos = st.d_pos
        node_fg = pos < neg
        prob = _ratio(pos, neg).astype(np.float32)[emb.labels]
        if self.refine:
            self._refine(emb, st, prob, pos, neg, node_fg)
        # every clicked pixel takes the label of its latest click
        for c in st.clicks:
            prob[c.y, c.x] = 1.0 if c.positive else 0.0
        return prob

    def _refine(
        self,
        emb: GeodesicEmbedding,
        st: GeodesicState,
        prob: np.ndarray,
        pos: np.ndarray,
        neg: np.ndarray,
        node_fg: np.ndarray,
    ) -> None:
        """Pixel-level decision in the boundary superpixels and the clicked ones."""
        cut = node_fg[emb.edge_src] != node_fg[emb.graph.indices]
        sel = np.zeros(emb.n_nodes, dtype=bool)
        sel[emb.edge_src[cut]] = True
        if st.pixel_seeds:
            sel[np.fromiter(st.pixel_seeds, dtype=np.int64)] = True
        nodes = np.flatnonzero(sel)
        if nodes.size == 0:
            return
        p0 = emb.pair_ptr[nodes]
        idx = _ranges(p0, emb.pair_ptr[nodes + 1] - p0)
        pn = emb.pair_node[idx]
        pc = emb.pair_cost[idx]
        npix = emb.pix_start[nodes + 1] - emb.pix_start[nodes]
        group = np.repeat(np.diff(emb.ext_ptr)[nodes], npix)
        starts = np.cumsum(group) - group
        dp = np.minimum.reduceat(pos.astype(np.float32)[pn] + pc, starts)
        dn = np.minimum.reduceat(neg.astype(np.float32)[pn] + pc, starts)
        if st.pixel_seeds:
            offs = np.cumsum(npix) - npix  # where each selected superpixel's pixels start
            for node, (cpos, cneg) in st.pixel_seeds.items():
                o = int(offs[np.searchsorted(nodes, node)])
                sl = slice(o, o + cpos.size)
                np.minimum(dp[sl], cpos, out=dp[sl])
                np.minimum(dn[sl], cneg, out=dn[sl])
        pix = emb.pix_order[_ranges(emb.pix_start[nodes], npix)]
        prob.reshape(-1)[pix] = _ratio(dp, dn).astype(np.float32)


def _ratio(d_pos: np.ndarray, d_neg: np.ndarray) -> np.ndarray:
    """``d_neg / (d_pos + d_neg)``; 1 where only d_neg is infinite, 0 where d_pos is."""
    with np.errstate(invalid="ignore", divide="ignore"):
        p = d_neg / (d_pos + d_neg)
    bad = ~np.isfinite(p)
    if bad.any():
        p[bad] = (d_pos[bad] < d_neg[bad]).astype(p.dtype)
    return p


def make_model(**options: Any) -> GeodesicModel:
    """Build a :class:`GeodesicModel`; option values may be strings (e.g. from a CLI)."""
    return GeodesicModel(**options)
