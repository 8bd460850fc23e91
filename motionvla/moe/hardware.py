"""Hardware profiles for the MoE layer simulator (numpy only).

Every figure carries its public source. Figures that are not on a datasheet (achieved fractions of
peak, latencies, overheads) are marked ``ASSUMPTION`` and were chosen once, before comparing with the
paper; they were not fitted to it. Change them with :func:`dataclasses.replace`.

Sources:
    [H100] NVIDIA H100 Tensor Core GPU datasheet (H100 SXM column):
        https://www.nvidia.com/en-us/data-center/h100/ - BF16 Tensor Core 1,979 TFLOP/s *with
        sparsity*, i.e. 989 TFLOP/s dense; 80 GB HBM3 at 3.35 TB/s; NVLink 900 GB/s.
    [H200] NVIDIA H200 Tensor Core GPU datasheet (H200 SXM column):
        https://www.nvidia.com/en-us/data-center/h200/ - BF16 1,979 TFLOP/s with sparsity (989
        dense); 141 GB HBM3e at 4.8 TB/s; NVLink 900 GB/s.
    [NVLINK] NVIDIA NVLink (4th generation, Hopper): 900 GB/s total bandwidth per GPU, i.e. 450 GB/s
        in each direction: https://www.nvidia.com/en-us/data-center/nvlink/
    [DGX] NVIDIA DGX H100 / DGX H200 datasheets: 8 GPUs per node on NVSwitch, 8 x ConnectX-7
        400 Gb/s InfiniBand/Ethernet (one NDR port per GPU) for the compute fabric.
    [NDR] NVIDIA Quantum-2 InfiniBand NDR: 400 Gb/s per port = 50 GB/s per direction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GB = 1e9
TB = 1e12


@dataclass(frozen=True)
class HardwareProfile:
    """One GPU model in a multi-node cluster, as the simulator sees it.

    Attributes:
        name: profile name.
        bf16_flops: dense BF16 tensor-core peak, FLOP/s.
        gemm_efficiency: fraction of ``bf16_flops`` a large GEMM achieves.
        gemm_half_rows: rows (tokens) ``m`` at which a GEMM reaches half of that; the throughput
            curve is ``bf16_flops * gemm_efficiency * m / (m + gemm_half_rows)``.
        hbm_bytes: device memory capacity, bytes.
        hbm_bandwidth: device memory bandwidth, bytes/s (a GEMM never runs faster than it can read
            its weights and activations: the memory floor of :meth:`gemm_seconds`).
        hbm_efficiency: achieved fraction of ``hbm_bandwidth``.
        intra_node_bandwidth: per GPU, per direction, bytes/s, to GPUs on the same node.
        inter_node_bandwidth: per GPU, per direction, bytes/s, to GPUs on other nodes.
        intra_node_efficiency: achieved fraction of ``intra_node_bandwidth`` by all-to-all and p2p.
        inter_node_efficiency: the same across nodes.
        devices_per_node: GPUs per node.
        kernel_launch_s: fixed time per GEMM or elementwise kernel.
        collective_latency_s: fixed time per all-to-all (also the per-layer token-count exchange).
        p2p_latency_s: fixed time per point-to-point weight transfer.
        plan_overhead_s: LLEP only: copying the global counts to the host and planning.
    """

    name: str
    bf16_flops: float
    gemm_efficiency: float
    gemm_half_rows: float
    hbm_bytes: float
    hbm_bandwidth: float
    hbm_efficiency: float
    intra_node_bandwidth: float
    inter_node_bandwidth: float
    intra_node_efficiency: float
    inter_node_efficiency: float
    devices_per_node: int
    kernel_launch_s: float
    collective_latency_s: float
    p2p_latency_s: float
    plan_overhead_s: float

    def gemm_throughput(self, rows: np.ndarray | float) -> np.ndarray:
        """Achieved FLOP/s of a BF16 GEMM with ``rows`` rows (tokens), compute-bound part only."""
        rows = np.asarray(rows, dtype=np.float64)
        return self.bf16_flops * self.gemm_efficiency * rows / (rows + self.gemm_half_rows)

    def gemm_seconds(self, rows: np.ndarray | float, k: int, n: int, dtype_bytes: int = 2) -> np.ndarray:
        """Time of an ``(rows x k) @ (k x n)`` GEMM: launch + max(compute, memory); 0 for 0 rows."""
        rows = np.asarray(rows, dtype=np.float64)
        flops = 2.0 * rows * k * n
        compute = np.divide(flops, self.gemm_throughput(rows), out=np.zeros_like(rows), where=rows > 0)
        memory = dtype_bytes * (k * n + rows * (k + n)) / (self.hbm_bandwidth * self.hbm_efficiency)
        return np.where(rows > 0, self.kernel_launch_s + np.maximum(compute, memory), 0.0)

    def memory_seconds(self, nbytes: np.ndarray | float) -> np.ndarray:
        """Time to stream ``nbytes`` through HBM (elementwise kernels)."""
        return np.asarray(nbytes, dtype=np.float64) / (self.hbm_bandwidth * self.hbm_efficiency)

    def link_bandwidth(self, src: int, dst: int, devices_per_node: int | None = None) -> float:
        """Achieved bytes/s from ``src`` to ``dst`` (NVLink within a node, the NIC across nodes)."""
        per_node = devices_per_node or self.devices_per_node
        if src // per_node == dst // per_node:
            return self.intra_node_bandwidth * self.intra_node_efficiency
        return self.inter_node_bandwidth * self.inter_node_efficiency


# Shared by both Hopper profiles (same SXM5 board, NVLink 4 and NDR NIC).
_COMMON = dict(
    bf16_flops=989 * 1e12,  # [H100]/[H200]: 1,979 TFLOP/s BF16 with 2:4 sparsity -> 989 dense
    # ASSUMPTION: large BF16 GEMMs in cuBLAS reach ~70% of the dense peak (~690 TFLOP/s).
    gemm_efficiency=0.70,
    # ASSUMPTION: a 128-row GEMM runs at half that rate (tile quantization, too few CTAs per wave).
    gemm_half_rows=128.0,
    # ASSUMPTION: streaming kernels reach 80% of the HBM bandwidth.
    hbm_efficiency=0.80,
    intra_node_bandwidth=450 * GB,  # [NVLINK]: 900 GB/s total = 450 GB/s per direction
    inter_node_bandwidth=50 * GB,  # [DGX]+[NDR]: one 400 Gb/s NDR port per GPU = 50 GB/s per direction
    # ASSUMPTION: NCCL all-to-all / p2p reach 80% of the link rate, inside and across nodes.
    intra_node_efficiency=0.80,
    inter_node_efficiency=0.80,
    devices_per_node=8,  # [DGX]: 8 GPUs per node
    kernel_launch_s=5e-6,  # ASSUMPTION: per kernel, launch + tail
    collective_latency_s=30e-6,  # ASSUMPTION: per all-to-all (NCCL latency at 8-256 ranks)
    p2p_latency_s=15e-6,  # ASSUMPTION: per point-to-point transfer
    # ASSUMPTION: device->host copy of the counts + planning; benchmarks/moe_planner_speed.py
    # measures the planner itself at 0.1-1 ms on one CPU core.
    plan_overhead_s=0.5e-3,
)

H100_SXM = HardwareProfile(
    name="h100-sxm",
    hbm_bytes=80 * GB,  # [H100]: 80 GB HBM3
    hbm_bandwidth=3.35 * TB,  # [H100]: 3.35 TB/s
    **_COMMON,
)

H200_SXM = HardwareProfile(
    name="h200-sxm",
    hbm_bytes=141 * GB,  # [H200]: 141 GB HBM3e
    hbm_bandwidth=4.8 * TB,  # [H200]: 4.8 TB/s
    **_COMMON,
)

PROFILES: dict[str, HardwareProfile] = {p.name: p for p in (H100_SXM, H200_SXM)}


def get_profile(name: str) -> HardwareProfile:
    """The profile called ``name`` (``h100-sxm`` or ``h200-sxm``)."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown hardware profile {name!r}; known: {', '.join(PROFILES)}") from None
