"""Incremental minimum-cost assignment for boundary matching across thresholds.

The BSDS benchmark matches the thresholded edge map of one image against each annotator's
boundaries at 99 thresholds. Consecutive thresholds switch only a few predicted pixels on or
off, so instead of solving 99 assignment problems from scratch, :class:`DynamicAssignment`
keeps one optimal assignment with its dual potentials and repairs it after every change by
one shortest augmenting path (Dijkstra on reduced costs: the successive-shortest-path form
of the Hungarian algorithm, updated as in the "dynamic Hungarian algorithm" of Mills-Tettey,
Stentz & Dias, 2007). Every state it reports is an exact optimum: all costs are integers,
so no tolerance enters anywhere. The kernels are compiled with numba (cached on disk after
the first call).

**The problem** is the square assignment that ``correspondPixels`` (``match.cc``) gives to
Goldberg's CSA, with every outlier connection present instead of 6 random ones:

* rows: the ``n_left`` left nodes (predicted pixels), then one dummy row per right node;
* columns: the ``n_right`` right nodes (ground-truth pixels), then one dummy column per left
  node;
* an *active* left node ``i`` connects to the right nodes within reach, at
  ``cost − outlier``; every left node connects to its own dummy column at 0; the dummy row
  of right node ``j`` connects to ``j`` and to the dummy column of every left node that can
  reach ``j``, at 0.

A perfect assignment then costs ``Σ (cost − outlier)`` over its real matches, so the optimum
is the maximum-weight matching with weights ``outlier − cost`` (the benchmark's objective:
every unmatched pixel costs ``outlier``), and an inactive left node is exactly an absent
one.

**Updates.** Switching a matched left node off frees its column; switching a left node on
may make a real edge cheaper than its dummy. Either way the row's potential is reset so
that every reduced cost stays non-negative, the row is unassigned where its edge is no
longer tight, and one augmentation from it restores optimality (the LP optimality
certificate, non-negative reduced costs with tight assigned edges, holds after every
update). Switching nodes *on* is cheap (short augmenting paths); switching a matched node
off searches its whole alternating neighbourhood, so callers should visit thresholds from
the highest (fewest pixels) down.

>>> import numpy as np
>>> # left 0 reaches right 0 (cost 5) and right 1 (cost 1); left 1 reaches right 0 (cost 0)
>>> a = DynamicAssignment(np.array([0, 2, 3]), np.array([0, 1, 0]), np.array([5, 1, 0]), 100)
>>> a.set_active(np.array([0, 1]), np.array([True, True]))
>>> [m.tolist() for m in a.matches()], a.total_cost()
([[0, 1], [1, 0]], -199)
>>> a.set_active(np.array([1]), np.array([False]))
>>> [m.tolist() for m in a.matches()]
[[0], [1]]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar, cast

import numpy as np
import numpy.typing as npt
from numba import njit

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_INF = 1 << 60
"""Distance of a column not reached yet."""

_Function = TypeVar("_Function", bound=Callable[..., Any])


def _compiled(function: _Function) -> _Function:
    """Compile ``function`` with numba in nopython mode, cached on disk."""
    return cast(_Function, njit(cache=True)(function))


class _Graph(NamedTuple):
    """The edges, by left node (CSR) and by right node (for the dummy rows)."""

    n_left: int
    n_right: int
    left_indptr: IntArray
    left_right: IntArray  # right node of each edge, by left node
    left_cost: IntArray  # cost − outlier of each edge, by left node
    right_indptr: IntArray
    right_left: IntArray  # left node of each edge, by right node


class _State(NamedTuple):
    """The assignment and its dual potentials (rows then dummy rows; columns likewise)."""

    active: BoolArray
    row_col: IntArray
    col_row: IntArray
    u: IntArray
    v: IntArray


class _Scratch(NamedTuple):
    """Work arrays of one augmentation, reset after it (``dist`` to ``_INF``)."""

    dist: IntArray  # shortest reduced distance to each column
    scanned: BoolArray
    via: IntArray  # row from which each column was reached
    touched: IntArray  # columns whose dist was set
    scan_order: IntArray  # columns in the order they were scanned
    heap_key: IntArray  # 2 × dist + (column assigned): free columns first among ties
    heap_col: IntArray


class DynamicAssignment:
    """An optimal matching of a bipartite graph whose left nodes are switched on and off.

    Args:
        left_indptr: ``(n_left + 1,)`` CSR row pointer of the edges by left node.
        right_of_edge: Right node of each edge, in left-node order.
        edge_cost: Integer cost of each edge, in ``[0, outlier)``.
        outlier: Integer cost of leaving a node unmatched: a match saves
            ``outlier − cost``.
        n_right: Number of right nodes (default: ``max(right_of_edge) + 1``).

    All left nodes start inactive.
    """

    def __init__(
        self,
        left_indptr: npt.ArrayLike,
        right_of_edge: npt.ArrayLike,
        edge_cost: npt.ArrayLike,
        outlier: int,
        n_right: int | None = None,
    ) -> None:
        indptr = np.ascontiguousarray(left_indptr, dtype=np.int64)
        right = np.ascontiguousarray(right_of_edge, dtype=np.int64)
        cost = np.ascontiguousarray(edge_cost, dtype=np.int64)
        if indptr.ndim != 1 or indptr.size < 1 or right.shape != cost.shape:
            raise ValueError("edge arrays and row pointer disagree")
        if indptr[0] != 0 or indptr[-1] != right.size or np.any(np.diff(indptr) < 0):
            raise ValueError("left_indptr is not a CSR row pointer of the edges")
        if cost.size and (cost.min() < 0 or cost.max() >= outlier):
            raise ValueError(f"edge costs must lie in [0, outlier = {outlier})")
        if n_right is None:
            n_right = int(right.max()) + 1 if right.size else 0
        if right.size and (right.min() < 0 or right.max() >= n_right):
            raise ValueError("right node out of range")
        n_left = indptr.size - 1
        left_of_edge = np.repeat(np.arange(n_left, dtype=np.int64), np.diff(indptr))
        right_indptr = np.zeros(n_right + 1, dtype=np.int64)
        np.cumsum(np.bincount(right, minlength=n_right), out=right_indptr[1:])
        self._graph = _Graph(
            n_left, n_right, indptr, right, cost - np.int64(outlier), right_indptr,
            left_of_edge[np.argsort(right, kind="stable")],
        )  # fmt: skip
        # start: every left node on its dummy column, every dummy row on its right node
        size = n_left + n_right
        self._state = _State(
            active=np.zeros(n_left, dtype=np.bool_),
            row_col=np.r_[n_right + np.arange(n_left), np.arange(n_right)].astype(np.int64),
            col_row=np.r_[n_left + np.arange(n_right), np.arange(n_left)].astype(np.int64),
            u=np.zeros(size, dtype=np.int64),
            v=np.zeros(size, dtype=np.int64),
        )
        heap = 2 * right.size + size + 1  # at most one push per edge relaxed
        self._scratch = _Scratch(
            dist=np.full(size, _INF, dtype=np.int64),
            scanned=np.zeros(size, dtype=np.bool_),
            via=np.zeros(size, dtype=np.int64),
            touched=np.zeros(size, dtype=np.int64),
            scan_order=np.zeros(size, dtype=np.int64),
            heap_key=np.zeros(heap, dtype=np.int64),
            heap_col=np.zeros(heap, dtype=np.int64),
        )

    @property
    def n_left(self) -> int:
        return self._graph.n_left

    @property
    def n_right(self) -> int:
        return self._graph.n_right

    @property
    def active(self) -> BoolArray:
        """``(n_left,)`` which left nodes are on (a read-only view)."""
        view = self._state.active.view()
        view.flags.writeable = False
        return view

    def set_active(self, left: npt.ArrayLike, active: npt.ArrayLike) -> None:
        """Switch the given left nodes on (``True``) or off, then restore optimality."""
        nodes = np.ascontiguousarray(left, dtype=np.int64).reshape(-1)
        states = np.ascontiguousarray(active, dtype=np.bool_).reshape(-1)
        if nodes.shape != states.shape:
            raise ValueError("left nodes and states differ in length")
        if nodes.size and (nodes.min() < 0 or nodes.max() >= self.n_left):
            raise ValueError(f"left node out of range [0, {self.n_left})")
        _update(nodes, states, self._graph, self._state, self._scratch)

    def matches(self) -> tuple[IntArray, IntArray]:
        """The matched left nodes (ascending) and their right nodes, pairwise."""
        cols = self._state.row_col[: self.n_left]
        left = np.flatnonzero(cols < self.n_right).astype(np.int64)
        return left, cols[left]

    def total_cost(self) -> int:
        """``Σ (cost − outlier)`` over the real matches: the optimum's objective."""
        left, right = self.matches()
        graph = self._graph
        total = 0
        for i, j in zip(left.tolist(), right.tolist(), strict=True):
            edges = slice(graph.left_indptr[i], graph.left_indptr[i + 1])
            total += int(graph.left_cost[edges][graph.left_right[edges] == j][0])
        return total


@_compiled
def _update(nodes: IntArray, states: BoolArray, graph: _Graph, state: _State,
            scratch: _Scratch) -> None:  # fmt: skip
    """Apply the switches: all switch-offs first (they free right nodes that switch-ons may
    then take directly), then the switch-ons; one augmentation per broken row."""
    n_right = graph.n_right
    active, row_col, col_row, u, v = state
    for phase in range(2):
        switch_on = phase == 1
        for k in range(nodes.size):
            i = nodes[k]
            if states[k] != switch_on or active[i] == switch_on:
                continue
            active[i] = switch_on
            dummy = n_right + i
            if switch_on:
                # the largest potential that keeps every reduced cost of row i >= 0
                best = -v[dummy]
                for e in range(graph.left_indptr[i], graph.left_indptr[i + 1]):
                    best = min(best, graph.left_cost[e] - v[graph.left_right[e]])
                if best >= u[i]:
                    continue  # the dummy edge is still tight: the optimum stands
                u[i] = best
                col_row[dummy] = -1
            else:
                u[i] = -v[dummy]  # only the dummy edge remains; it is tight
                col = row_col[i]
                if col >= n_right:
                    continue
                col_row[col] = -1
            row_col[i] = -1
            _augment(i, graph, state, scratch)


@_compiled
def _augment(start: int, graph: _Graph, state: _State, scratch: _Scratch) -> None:
    """Shortest augmenting path from the free row ``start`` (Dijkstra on reduced costs),
    the potential update that keeps reduced costs >= 0 and makes the path tight, then the
    augmentation along it."""
    n_left, n_right = graph.n_left, graph.n_right
    active, row_col, col_row, u, v = state
    dist, scanned, via, touched, scan_order, heap_key, heap_col = scratch
    n_touched = 0
    n_scanned = 0
    heap_size = 0
    row = start
    reach = 0  # reduced distance of the current row
    while True:
        base = reach - u[row]
        if row < n_left:
            first = graph.left_indptr[row]
            last = graph.left_indptr[row + 1] if active[row] else first
            count = last - first + 1  # the real edges, then the dummy column
        else:
            j = row - n_left
            first = graph.right_indptr[j]
            count = graph.right_indptr[j + 1] - first + 1  # the right node, then dummies
        for k in range(count):
            if row < n_left:
                if k < count - 1:
                    col = graph.left_right[first + k]
                    reduced = base + graph.left_cost[first + k] - v[col]
                else:
                    col = n_right + row
                    reduced = base - v[col]
            else:
                col = row - n_left if k == 0 else n_right + graph.right_left[first + k - 1]
                reduced = base - v[col]
            if scanned[col] or reduced >= dist[col]:
                continue
            if dist[col] == _INF:
                touched[n_touched] = col
                n_touched += 1
            dist[col] = reduced
            via[col] = row
            heap_size = _heap_push(heap_key, heap_col, heap_size,
                                   2 * reduced + (col_row[col] >= 0), col)  # fmt: skip
        # the closest column not scanned yet (stale heap entries are skipped)
        col = -1
        while heap_size > 0:
            key, candidate, heap_size = _heap_pop(heap_key, heap_col, heap_size)
            if not scanned[candidate] and key >> 1 == dist[candidate]:
                col = candidate
                reach = key >> 1
                break
        if col < 0:
            raise RuntimeError("no augmenting path: the assignment graph is incomplete")
        scanned[col] = True
        scan_order[n_scanned] = col
        n_scanned += 1
        if col_row[col] < 0:
            break  # reached the free column
        row = col_row[col]
    sink = col
    u[start] += reach
    for k in range(n_scanned - 1):  # every scanned column but the sink
        col = scan_order[k]
        delta = reach - dist[col]
        v[col] -= delta
        u[col_row[col]] += delta
    col = sink
    while True:
        row = via[col]
        previous = row_col[row]
        row_col[row] = col
        col_row[col] = row
        if row == start:
            break
        col = previous
    for k in range(n_touched):
        col = touched[k]
        dist[col] = _INF
        scanned[col] = False


@_compiled
def _heap_push(keys: IntArray, cols: IntArray, size: int, key: int, col: int) -> int:
    """Push ``(key, col)`` on the binary min-heap of ``size`` entries; the new size."""
    pos = size
    while pos > 0:
        parent = (pos - 1) >> 1
        if keys[parent] < key or (keys[parent] == key and cols[parent] <= col):
            break
        keys[pos] = keys[parent]
        cols[pos] = cols[parent]
        pos = parent
    keys[pos] = key
    cols[pos] = col
    return size + 1


@_compiled
def _heap_pop(keys: IntArray, cols: IntArray, size: int) -> tuple[int, int, int]:
    """Pop the smallest ``(key, col)``; returns it and the new size."""
    key = keys[0]
    col = cols[0]
    size -= 1
    last_key = keys[size]
    last_col = cols[size]
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        other = child + 1
        if other < size and (
            keys[other] < keys[child] or (keys[other] == keys[child] and cols[other] < cols[child])
        ):
            child = other
        if last_key < keys[child] or (last_key == keys[child] and last_col <= cols[child]):
            break
        keys[pos] = keys[child]
        cols[pos] = cols[child]
        pos = child
    if size > 0:
        keys[pos] = last_key
        cols[pos] = last_col
    return key, col, size


__all__ = ["DynamicAssignment"]
