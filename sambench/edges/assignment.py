"""Incremental minimum-cost assignment for boundary matching across thresholds.

The BSDS benchmark matches the thresholded edge map of one image against each annotator's
boundaries at 99 thresholds. Consecutive thresholds switch only a few predicted pixels on or
off, so instead of solving 99 assignment problems from scratch, :class:`DynamicAssignment`
keeps one optimal assignment with its dual potentials and repairs it after every change by
one local shortest-path search on reduced costs (the successive-shortest-path form of the
Hungarian algorithm, updated in the spirit of the "dynamic Hungarian algorithm" of
Mills-Tettey, Stentz & Dias, 2007). Every state it reports is an exact optimum: all costs
are integers, so no tolerance enters anywhere. The kernels are compiled with numba (cached
on disk after the first call).

**The problem** is the benchmark's (``correspondPixels`` in ``match.cc`` hands it to
Goldberg's CSA with a few random outlier connections; here every one is present): a
maximum-weight matching with weights ``outlier − cost``, every unmatched pixel costing
``outlier``. It is solved as a rectangular assignment:

* rows: the ``n_left`` left nodes (predicted pixels);
* columns: the ``n_right`` right nodes (ground-truth pixels), then one private dummy column
  per left node ("unmatched");
* an *active* left node connects to the right nodes within reach at ``cost − outlier``
  (< 0) and always to its dummy at 0; an inactive one only to its dummy, which makes it
  exactly an absent one;
* every row is assigned, a column at most once; columns may stay free.

Its LP optimality certificate: row potentials ``u`` and column potentials ``v <= 0`` with
every reduced cost ``c − u − v >= 0``, assigned edges tight, and ``v = 0`` on free columns.

**Updates** keep that certificate. Switching a left node *on* makes its row free (its
dummy's potential is reset to 0, the row's to the smallest reduced cost) and one shortest
augmenting path from the row (Dijkstra on reduced costs to the nearest free column)
restores optimality. Switching a matched node *off* puts the row back on its dummy and frees
its column, whose potential may be negative: a reverse Dijkstra from that column finds the
cheapest way either to hand the column to another row along an alternating path, freeing a
column whose potential can rise to 0, or to raise its own potential to 0. Both searches stop
as soon as nothing closer can improve the result, so they stay local. Visiting the
thresholds from the highest (fewest pixels) down keeps most updates switch-ons.

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
    """The edges, by left node (CSR) and by right node (for the reverse searches)."""

    n_left: int
    n_right: int
    left_indptr: IntArray
    left_right: IntArray  # right node of each edge, by left node
    left_cost: IntArray  # cost − outlier of each edge, by left node
    right_indptr: IntArray
    right_left: IntArray  # left node of each edge, by right node
    right_cost: IntArray  # cost − outlier of each edge, by right node


class _State(NamedTuple):
    """The assignment (rows: left nodes; columns: right nodes, then dummies) and its duals."""

    active: BoolArray
    row_col: IntArray
    col_row: IntArray  # -1: free
    u: IntArray
    v: IntArray  # <= 0, and 0 on free columns


class _Scratch(NamedTuple):
    """Work arrays of one search, reset after it (``dist`` to ``_INF``)."""

    dist: IntArray  # shortest reduced distance to each column
    scanned: BoolArray
    via: IntArray  # the row through which each column was reached
    back: IntArray  # reverse searches: the column that row moves to
    touched: IntArray  # columns whose dist was set
    scan_order: IntArray  # columns in the order they were scanned
    heap_key: IntArray  # forward: 2 × dist + (column assigned), free columns first on ties
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
        signed = cost - np.int64(outlier)
        by_right = np.argsort(right, kind="stable")
        right_indptr = np.zeros(n_right + 1, dtype=np.int64)
        np.cumsum(np.bincount(right, minlength=n_right), out=right_indptr[1:])
        left_of_edge = np.repeat(np.arange(n_left, dtype=np.int64), np.diff(indptr))
        self._graph = _Graph(
            n_left, n_right, indptr, right, signed, right_indptr, left_of_edge[by_right],
            signed[by_right],
        )  # fmt: skip
        # start: every left node inactive, on its dummy column; right nodes free
        columns = n_right + n_left
        self._state = _State(
            active=np.zeros(n_left, dtype=np.bool_),
            row_col=n_right + np.arange(n_left, dtype=np.int64),
            col_row=np.r_[np.full(n_right, -1), np.arange(n_left)].astype(np.int64),
            u=np.zeros(n_left, dtype=np.int64),
            v=np.zeros(columns, dtype=np.int64),
        )
        heap = right.size + columns + 1  # at most one push per edge relaxed, per search
        self._scratch = _Scratch(
            dist=np.full(columns, _INF, dtype=np.int64),
            scanned=np.zeros(columns, dtype=np.bool_),
            via=np.zeros(columns, dtype=np.int64),
            back=np.zeros(columns, dtype=np.int64),
            touched=np.zeros(columns, dtype=np.int64),
            scan_order=np.zeros(columns, dtype=np.int64),
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
        cols = self._state.row_col
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
    then take directly), then the switch-ons; one search per broken optimality condition."""
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
                # the row is on its dummy; its new edges must keep reduced costs >= 0
                best = u[i]
                for e in range(graph.left_indptr[i], graph.left_indptr[i + 1]):
                    best = min(best, graph.left_cost[e] - v[graph.left_right[e]])
                if best == u[i]:
                    continue  # the dummy edge is still an optimal choice
                col_row[dummy] = -1
                row_col[i] = -1
                v[dummy] = 0  # a free column's potential is 0; only row i reaches it
                u[i] = min(best, 0)
                _augment(i, graph, state, scratch)
            else:
                col = row_col[i]
                if col >= n_right:
                    continue  # unmatched: its dummy edge is its only edge left, and tight
                # back on its dummy (free so far, potential 0): tight with u = 0
                row_col[i] = dummy
                col_row[dummy] = i
                u[i] = 0
                col_row[col] = -1
                if v[col] < 0:
                    _reassign(col, graph, state, scratch)


@_compiled
def _augment(start: int, graph: _Graph, state: _State, scratch: _Scratch) -> None:
    """Shortest augmenting path from the free row ``start`` to the nearest free column
    (Dijkstra on reduced costs), the potential update that keeps reduced costs >= 0 and
    makes the path tight, then the augmentation along it."""
    n_right = graph.n_right
    active, row_col, col_row, u, v = state
    dist, scanned, via, scan_order = scratch.dist, scratch.scanned, scratch.via, scratch.scan_order
    heap_key, heap_col = scratch.heap_key, scratch.heap_col
    n_touched = 0
    n_scanned = 0
    heap_size = 0
    row = start
    reach = 0  # reduced distance of the current row
    while True:
        base = reach - u[row]
        first = graph.left_indptr[row]
        last = graph.left_indptr[row + 1] if active[row] else first
        for e in range(first, last + 1):  # the real edges, then the dummy column
            if e < last:
                col = graph.left_right[e]
                reduced = base + graph.left_cost[e] - v[col]
            else:
                col = n_right + row
                reduced = base - v[col]
            if scanned[col] or reduced >= dist[col]:
                continue
            n_touched, heap_size = _reach(scratch, col, reduced, row,
                                          2 * reduced + (col_row[col] >= 0), n_touched,
                                          heap_size)  # fmt: skip
        # the closest column not scanned yet (stale heap entries are skipped)
        col = -1
        while heap_size > 0:
            key, candidate, heap_size = _heap_pop(heap_key, heap_col, heap_size)
            if not scanned[candidate] and key >> 1 == dist[candidate]:
                col = candidate
                reach = key >> 1
                break
        if col < 0:
            raise RuntimeError("no augmenting path: a row lost its dummy column")
        scanned[col] = True
        scan_order[n_scanned] = col
        n_scanned += 1
        if col_row[col] < 0:
            break  # reached a free column
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
    _reset(scratch, n_touched)


@_compiled
def _reassign(free: int, graph: _Graph, state: _State, scratch: _Scratch) -> None:
    """Repair a free column ``free`` whose potential is negative.

    A reverse Dijkstra from the column follows alternating paths (a row that could take the
    column gives up its own column, which another row could take, ...); leaving the search
    at column ``c`` costs ``dist(c) − v[c]`` (``c`` is freed and its potential rises to 0;
    at ``free`` itself that is just raising its potential). The cheapest exit wins; the
    potential update keeps reduced costs >= 0, leaves ``v <= 0``, and the rows on the path
    move one column back."""
    n_right = graph.n_right
    active, row_col, col_row, u, v = state
    dist, scanned, via, back, touched, scan_order, heap_key, heap_col = scratch
    dist[free] = 0
    touched[0] = free
    n_touched = 1
    n_scanned = 0
    heap_size = _heap_push(heap_key, heap_col, 0, 0, free)
    best = -v[free]  # exit cost at the start: raise its potential to 0
    exit_col = free
    while heap_size > 0:
        key, col, heap_size = _heap_pop(heap_key, heap_col, heap_size)
        if scanned[col] or key != dist[col]:
            continue
        if key >= best:
            break  # every exit from here on costs at least ``key``
        scanned[col] = True
        scan_order[n_scanned] = col
        n_scanned += 1
        if key - v[col] < best:
            best = key - v[col]
            exit_col = col
        # rows that could take ``col``: its other edges (a dummy column has none)
        if col >= n_right:
            continue
        holder = col_row[col]
        for e in range(graph.right_indptr[col], graph.right_indptr[col + 1]):
            row = graph.right_left[e]
            if row == holder or not active[row]:
                continue
            target = row_col[row]
            if scanned[target]:
                continue
            reduced = key + graph.right_cost[e] - u[row] - v[col]
            if reduced >= dist[target]:
                continue
            n_touched, heap_size = _reach(scratch, target, reduced, row, reduced, n_touched,
                                          heap_size)  # fmt: skip
            back[target] = col
    for k in range(n_scanned):
        col = scan_order[k]
        delta = best - dist[col]
        v[col] += delta
        if col != free:
            u[col_row[col]] -= delta
    col = exit_col
    if col != free:
        col_row[col] = -1
        while col != free:
            row = via[col]
            col = back[col]
            row_col[row] = col
            col_row[col] = row
    _reset(scratch, n_touched)


@_compiled
def _reach(scratch: _Scratch, col: int, distance: int, row: int, key: int, n_touched: int,
           heap_size: int) -> tuple[int, int]:  # fmt: skip
    """Record a shorter ``distance`` to ``col``, reached through ``row``, and queue it under
    ``key``; returns the new counts of touched columns and heap entries."""
    if scratch.dist[col] == _INF:
        scratch.touched[n_touched] = col
        n_touched += 1
    scratch.dist[col] = distance
    scratch.via[col] = row
    return n_touched, _heap_push(scratch.heap_key, scratch.heap_col, heap_size, key, col)


@_compiled
def _reset(scratch: _Scratch, n_touched: int) -> None:
    """Forget the distances of the columns one search touched."""
    for k in range(n_touched):
        col = scratch.touched[k]
        scratch.dist[col] = _INF
        scratch.scanned[col] = False


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
