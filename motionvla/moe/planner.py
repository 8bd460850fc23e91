"""The LLEP planner: which device computes which of each expert's tokens (pure; no torch.distributed).

Least-Loaded Expert Parallelism (arXiv 2601.17111). Under plain expert parallelism (EP) expert ``e``
lives on device ``e // M`` (``M = N / P`` experts per device) and computes all of its tokens there, so
skewed routing overloads the devices that host popular experts. The planner caps every device at
``capacity = ceil(alpha * total / P)`` tokens and moves the excess tokens of an overloaded expert, and
a copy of that expert's weights, to the least-loaded devices. Routing itself never changes, so the
layer's result is exact.

The plan depends only on the global per-expert token counts, so every rank computes the same plan
without talking to the others, and it can be simulated for 64+ devices on a laptop.

Two optional rules go beyond the paper (both off by default, so the default plan is the paper's):
``intra_node_first`` spills to devices on the home device's node before crossing nodes, and
``transfer_cost`` (a :class:`TransferCost`) spills a chunk only when moving the expert's weights is
cheaper than computing the chunk at home. A third, ``align_ranges``, only changes which of an
expert's tokens each device gets, so that fewer of them cross a link.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LLEPPlan:
    """Where every expert's tokens are computed.

    Attributes:
        assignments: for each expert, ``(device, start, end)`` token ranges that exactly cover
            ``[0, loads[e])`` in order. An expert's tokens are numbered in source-rank order (all of
            rank 0's tokens for that expert first, then rank 1's, ...).
        transfers: ``(expert, src_device, dst_device)`` for every expert computed (partly) away from
            its home device; each pair appears once. The destination borrows the expert's weights.
        device_loads: ``(P,)`` int64, tokens each device computes under the plan.
        native_loads: ``(P,)`` int64, tokens each device would compute under plain EP.
        capacity: the per-device token cap ``ceil(alpha * total / P)``.
        forced: devices that were given tokens beyond ``capacity`` because no device had room (or,
            with a ``transfer_cost``, because moving the remainder was not worth its transfer).
        is_plain_ep: True when the routing was balanced enough (below the imbalance threshold) to
            keep every expert at home.
    """

    assignments: tuple[tuple[tuple[int, int, int], ...], ...]
    transfers: tuple[tuple[int, int, int], ...]
    device_loads: np.ndarray
    native_loads: np.ndarray
    capacity: int
    forced: tuple[int, ...]
    is_plain_ep: bool

    @property
    def num_devices(self) -> int:
        return len(self.device_loads)

    @property
    def imbalance(self) -> float:
        """max / mean of the planned device loads (1.0 = perfectly even)."""
        mean = self.device_loads.mean()
        return float(self.device_loads.max() / mean) if mean > 0 else 1.0

    @property
    def native_imbalance(self) -> float:
        """max / mean of the device loads under plain EP."""
        mean = self.native_loads.mean()
        return float(self.native_loads.max() / mean) if mean > 0 else 1.0


_FULL = np.iinfo(np.int64).max  # effective load that sorts a device last


def _check_loads(loads: np.ndarray, num_devices: int) -> np.ndarray:
    loads = np.asarray(loads)
    if loads.ndim != 1 or loads.size == 0:
        raise ValueError(f"loads must be a 1-D array of per-expert token counts, got shape {loads.shape}")
    if num_devices < 1 or loads.size % num_devices:
        raise ValueError(f"number of experts ({loads.size}) must be a positive multiple of num_devices ({num_devices})")
    if (loads < 0).any():
        raise ValueError("loads must be non-negative token counts")
    return loads.astype(np.int64)


def plan_ep(loads: np.ndarray, num_devices: int) -> LLEPPlan:
    """The plain expert-parallel plan: every expert computes all of its tokens on its home device."""
    loads = _check_loads(loads, num_devices)
    per_device = loads.size // num_devices
    native = loads.reshape(num_devices, per_device).sum(axis=1)
    homes = (np.arange(loads.size) // per_device).tolist()
    assignments = tuple(((home, 0, n),) if n else () for home, n in zip(homes, loads.tolist()))
    return LLEPPlan(assignments, (), native.copy(), native, int(native.max()), (), True)


@dataclass(frozen=True)
class TransferCost:
    """Costs for transfer-cost-aware spilling, as plain numbers (the planner stays hardware-agnostic).

    Beyond the paper (which has no explicit transfer-cost rule; its ``min_tokens`` stands in for one).
    Moving expert ``e`` from its home ``g`` to device ``h`` costs
    ``T(g, h) = latency + expert_weight_bytes / bandwidth(g, h)`` seconds of link time on both ends,
    and a device spends ``seconds_per_token`` per token it computes. The planner keeps an estimated
    finish time per device, ``est(d) = seconds_per_token * tokens(d) + max(sent(d), received(d))``,
    where ``sent``/``received`` add up the transfer times booked at ``d`` so far (a full-duplex
    link), and spills a chunk of ``c`` tokens from ``g`` to ``h`` only if

    (a) ``T(g, h) < c * seconds_per_token``: moving the weights costs the home device less than the
        compute it takes off it, and
    (b) ``est(h) + T(g, h) + c * seconds_per_token <= est(g)`` (``est(g)`` counting the chunk at
        home): the destination, after waiting for the weights and computing the chunk, still
        finishes no later than the home device would have with it.

    Together these say the spill shortens the later of the two devices' finish times. A remainder
    that no device takes goes wherever it finishes first counting its transfer (``argmin`` of
    ``est(d) + T(g, d) + remainder * seconds_per_token`` over the home device, ``T(g, g) = 0``, and the
    devices that pass rule (a) for the whole remainder). When that is the home device the remainder
    stays home over capacity and the home device is listed in ``forced``. So every transfer in a
    transfer-aware plan moves a chunk whose compute time exceeds its transfer time.

    Attributes:
        expert_weight_bytes: bytes of one expert's weights (e.g. ``3 * D * H * dtype_bytes``).
        seconds_per_token: time a device spends per token it computes for an expert (its GEMMs;
            add the time to move the token's activations in and back out to count communication).
        bandwidth: bytes/s from ``src`` to ``dst``: one number for every pair, a ``(P, P)`` array, or
            a function ``(src, dst) -> bytes/s`` (e.g. NVLink within a node, InfiniBand across).
        latency: fixed seconds per transfer (link latency, extra kernel launches on the destination).
    """

    expert_weight_bytes: float
    seconds_per_token: float
    bandwidth: float | np.ndarray | Callable[[int, int], float]
    latency: float = 0.0

    def seconds(self, src: int, dst: int) -> float:
        """Transfer time of one expert's weights from ``src`` to ``dst`` (0 when they are the same)."""
        if src == dst:
            return 0.0
        if callable(self.bandwidth):
            bandwidth = float(self.bandwidth(src, dst))
        elif np.ndim(self.bandwidth):
            bandwidth = float(np.asarray(self.bandwidth)[src, dst])
        else:
            bandwidth = float(self.bandwidth)
        return self.latency + self.expert_weight_bytes / bandwidth

    def row(self, src: int, num_devices: int) -> np.ndarray:
        """``(P,)`` transfer times from ``src`` to every device."""
        if callable(self.bandwidth):
            bandwidth = np.array([self.bandwidth(src, dst) if dst != src else np.inf for dst in range(num_devices)])
        elif np.ndim(self.bandwidth):
            bandwidth = np.asarray(self.bandwidth, dtype=np.float64)[src].copy()
        else:
            bandwidth = np.full(num_devices, float(self.bandwidth))
        bandwidth[src] = np.inf
        if (bandwidth <= 0).any():
            raise ValueError("bandwidth must be positive")
        times = self.latency + self.expert_weight_bytes / bandwidth
        times[src] = 0.0
        return times


def _greedy_chunks(rooms: np.ndarray, remainder: int, min_tokens: int) -> np.ndarray:
    """Chunk sizes when devices with ``rooms`` (non-increasing) take a remainder in turn.

    Device ``i`` takes ``min(rooms[i], left)``; the walk stops at the first device whose chunk would
    be empty or smaller than ``min(min_tokens, left)`` (all later devices have even less room), or
    when nothing is left. Vectorized form of that loop.
    """
    if rooms.size == 0:
        return rooms
    # Tokens left before device i, if every device before it took all of its room.
    left = remainder - np.concatenate(([0], np.cumsum(rooms[:-1])))
    ok = (left > 0) & (rooms > 0) & (rooms >= np.minimum(min_tokens, left))
    stop = int(np.argmin(ok)) if not ok.all() else ok.size
    return np.minimum(rooms[:stop], left[:stop])


class _CostState:
    """Book-keeping for transfer-cost-aware spilling (see :class:`TransferCost`)."""

    def __init__(self, cost: TransferCost, num_devices: int):
        if cost.seconds_per_token <= 0 or cost.expert_weight_bytes < 0 or cost.latency < 0:
            raise ValueError("transfer_cost needs seconds_per_token > 0, expert_weight_bytes >= 0, latency >= 0")
        self.cost = cost
        self.num_devices = num_devices
        self.per_token = float(cost.seconds_per_token)
        self.sent = [0.0] * num_devices  # seconds of weight traffic booked out of each device
        self.received = [0.0] * num_devices
        self.rows: dict[int, np.ndarray] = {}

    def row(self, home: int) -> np.ndarray:
        if home not in self.rows:
            self.rows[home] = self.cost.row(home, self.num_devices)
        return self.rows[home]

    def chunks(self, group, effective, capacity, remainder, min_tokens, home, pending, assigned):
        """Yield ``(device, chunk)`` spills from ``home`` that pass rules (a) and (b)."""
        per_token, sent, received = self.per_token, self.sent, self.received
        home_load = pending[home] + assigned[home]
        devices = group.tolist()
        loads = effective[group].tolist()
        seconds_to = self.row(home)[group].tolist()
        for device, load, seconds in zip(devices, loads, seconds_to):
            chunk = min(capacity - load, remainder)
            if chunk <= 0 or chunk < min(min_tokens, remainder):
                return  # later devices in the group have even less room
            if seconds >= per_token * chunk:
                continue  # rule (a); a device later in the order can have a cheaper link
            keep = per_token * (home_load + remainder) + max(sent[home], received[home])
            there = per_token * (load + chunk) + max(sent[device], received[device] + seconds)
            if there > keep:
                continue  # rule (b)
            sent[home] += seconds
            received[device] += seconds
            remainder -= chunk
            yield device, chunk
            if remainder == 0:
                return

    def forced_device(self, home, remainder, pending, assigned) -> int:
        """Where a remainder no device took finishes first, counting its transfer; only devices
        that pass rule (a) for the whole remainder, and the home device, are candidates."""
        row = self.row(home)
        finish = self.per_token * (np.add(pending, assigned) + remainder) + np.maximum(
            self.sent, np.add(self.received, row)
        )
        finish[row >= self.per_token * remainder] = np.inf
        finish[home] = self.per_token * (pending[home] + assigned[home] + remainder) + max(
            self.sent[home], self.received[home]
        )
        device = int(np.argmin(finish))
        if device != home:
            self.sent[home] += float(row[device])
            self.received[device] += float(row[device])
        return device


def _align(ranges: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """The same tokens per device, laid out contiguously in device order (one range per device)."""
    sizes: dict[int, int] = {}
    for device, lo, hi in ranges:
        sizes[device] = sizes.get(device, 0) + hi - lo
    aligned, start = [], 0
    for device in sorted(sizes):
        aligned.append((device, start, start + sizes[device]))
        start += sizes[device]
    return aligned


def plan_llep(
    loads: np.ndarray,
    num_devices: int,
    alpha: float = 1.0,
    min_tokens: int = 1024,
    imbalance_threshold: float = 1.3,
    *,
    devices_per_node: int | None = None,
    intra_node_first: bool = False,
    transfer_cost: TransferCost | None = None,
    align_ranges: bool = False,
) -> LLEPPlan:
    """Plan least-loaded expert parallelism for one MoE layer.

    Args:
        loads: ``(N,)`` global token count per expert (summed over ranks and top-k slots).
            ``N`` must be divisible by ``num_devices``; expert ``e`` lives on device ``e // (N / P)``.
        num_devices: ``P``, the expert-parallel group size.
        alpha: capacity factor; each device takes at most ``ceil(alpha * total / P)`` tokens (>= 1).
        min_tokens: a spilled chunk smaller than this is not worth moving an expert's weights for,
            unless it is the whole remainder of that expert.
        imbalance_threshold: when ``max / mean`` of the native device loads is below it, return the
            plain EP plan (moving weights would cost more than it saves).
        devices_per_node: devices per node (device ``d`` is on node ``d // devices_per_node``);
            needed by ``intra_node_first``.
        intra_node_first: (beyond the paper; off by default) spill to devices on the home device's
            node, least-loaded first, while they have room, and only then across nodes.
        transfer_cost: (beyond the paper; off by default) make spilling transfer-cost-aware; see
            :class:`TransferCost` for the rule.
        align_ranges: (beyond the paper; off by default) lay out a split expert's token ranges in
            device order, one range per device. Tokens are numbered in source-rank order, so device
            ``d``'s range then tends to hold the tokens rank ``d`` (or its node) routed, which need
            not cross a link. Which devices compute how many tokens, the transfers and ``forced``
            are unchanged; only which tokens each device gets moves.

    Experts are visited from the most to the least loaded. An expert keeps on its home device as
    many tokens as fit under the cap (counting the home device's still-unplaced native load, so that
    its own later experts keep room), and spills the rest to the other devices in order of their
    current load, each taking up to its free room. If no device has room, the remainder goes to the
    least-loaded device (recorded in ``forced``). With the default keyword arguments this is the
    paper's algorithm.
    """
    loads = _check_loads(loads, num_devices)
    if alpha < 1.0:
        raise ValueError(f"alpha must be >= 1 (a cap below the mean load cannot hold all tokens), got {alpha}")
    if intra_node_first:
        if devices_per_node is None or devices_per_node < 1:
            raise ValueError("intra_node_first needs devices_per_node >= 1")
    plain = plan_ep(loads, num_devices)
    if plain.native_imbalance < imbalance_threshold:
        return plain
    per_device = loads.size // num_devices
    total = int(loads.sum())
    capacity = int(np.ceil(alpha * total / num_devices))
    min_tokens = int(min_tokens)
    node = np.arange(num_devices) // devices_per_node if intra_node_first else None
    cost = _CostState(transfer_cost, num_devices) if transfer_cost is not None else None
    # Python lists in the per-expert loop (numpy scalar indexing is several times slower).
    pending = plain.native_loads.tolist()  # native tokens not yet placed, per device
    assigned = [0] * num_devices  # tokens placed, per device
    load_list = loads.tolist()
    assignments: list[tuple[tuple[int, int, int], ...]] = [()] * loads.size
    transfers: dict[tuple[int, int, int], None] = {}  # ordered set
    forced: dict[int, None] = {}
    # Most-loaded first, ties by expert index, so every rank builds the same plan.
    for expert in np.argsort(-loads, kind="stable").tolist():
        count = load_list[expert]
        if count == 0:
            break  # the rest are empty too
        home = expert // per_device
        pending[home] -= count
        room_home = capacity - pending[home] - assigned[home]
        if room_home >= count:
            assigned[home] += count
            assignments[expert] = ((home, 0, count),)
            continue
        ranges: list[tuple[int, int, int]] = []
        start = 0
        if room_home > 0:
            ranges.append((home, 0, room_home))
            assigned[home] += room_home
            start = room_home
        effective = np.add(pending, assigned)
        effective[home] = _FULL  # the home device is already full
        order = np.argsort(effective, kind="stable")[:-1]  # the home device sorts last
        groups = [order]
        if node is not None:
            same = node[order] == node[home]
            groups = [order[same], order[~same]]
        for group in groups:
            if start == count:
                break
            if cost is None:
                chunks = _greedy_chunks(capacity - effective[group], count - start, min_tokens)
                pairs = zip(group[: len(chunks)].tolist(), chunks.tolist())
            else:
                pairs = cost.chunks(group, effective, capacity, count - start, min_tokens, home, pending, assigned)
            for device, chunk in pairs:
                ranges.append((device, start, start + chunk))
                assigned[device] += chunk
                transfers[(expert, home, device)] = None
                start += chunk
        if start < count:
            remainder = count - start
            if cost is None:
                device = int(np.argmin(np.add(pending, assigned)))
            else:
                device = cost.forced_device(home, remainder, pending, assigned)
            ranges.append((device, start, count))
            assigned[device] += remainder
            forced[device] = None
            if device != home:
                transfers[(expert, home, device)] = None
        if align_ranges:
            ranges = _align(ranges)
        assignments[expert] = tuple(ranges)
    return LLEPPlan(
        assignments=tuple(assignments),
        transfers=tuple(transfers),
        device_loads=np.asarray(assigned, dtype=np.int64),
        native_loads=plain.native_loads,
        capacity=capacity,
        forced=tuple(forced),
        is_plain_ep=False,
    )


def route_counts(plan: LLEPPlan, counts: np.ndarray) -> np.ndarray:
    """How many of each rank's tokens go to each device for each expert.

    Args:
        plan: the plan for ``loads = counts.sum(0)``.
        counts: ``(P, N)`` tokens each source rank routes to each expert.

    Returns:
        ``(P_src, P_dst, N)`` int64: tokens rank ``r`` sends to device ``d`` for expert ``e``. Within an
        expert the tokens are in source-rank order, and each rank's share of an assignment range is the
        overlap of its own interval ``[offset[r, e], offset[r, e] + counts[r, e])`` with that range.
    """
    counts = np.asarray(counts, dtype=np.int64)
    num_ranks, num_experts = counts.shape
    ends = np.cumsum(counts, axis=0)  # (P, N): end of rank r's interval within expert e's tokens
    starts = ends - counts
    sends = np.zeros((num_ranks, plan.num_devices, num_experts), dtype=np.int64)
    for expert, ranges in enumerate(plan.assignments):
        for device, lo, hi in ranges:
            overlap = np.minimum(ends[:, expert], hi) - np.maximum(starts[:, expert], lo)
            sends[:, device, expert] += np.maximum(overlap, 0)
    return sends
