"""Where and in which precision the networks run, decided from the machine, never assumed.

bf16 autocast halves the network's cost where the hardware computes bf16 natively (a CUDA GPU
that reports it, a CPU with AVX-512 BF16 or AMX); elsewhere it is emulated, and the shipped
detector ran 25x *slower* under bf16 than in float32 on an AVX2-only CPU. So ``precision="auto"``
is bf16 only where it is native. The decision is made once, when a run loads its models, and
written into the run's provenance (:func:`describe`).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from restoration.errors import RestorationError

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "float32", "bfloat16")
RUNTIMES = ("auto", "torch", "onnxruntime", "openvino")
_CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_capability() -> str:
    """The vector instruction set torch's CPU kernels use here: "AVX2", "AVX512", "DEFAULT", ..."""
    return str(torch.backends.cpu.get_cpu_capability())


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def native_bf16(device: torch.device) -> bool:
    """True where ``device`` computes bfloat16 in hardware (not emulated).

    CUDA: as the driver reports it. CPU: torch's kernels use AVX-512 *and* the CPU has the BF16
    or AMX extension (AVX-512 alone converts in software; outside Linux the flags cannot be read
    and the answer is False, the safe side: float32 is never slower than emulated bf16).
    """
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type != "cpu":
        return False
    return cpu_capability().startswith("AVX512") and bool(_cpu_flags() & set(_CPU_BF16_FLAGS))


def resolve_device(device: str) -> torch.device:
    """``"auto"`` (CUDA when available, else CPU), ``"cpu"`` or ``"cuda"``/``"cuda:N"``.

    Raises :class:`RestorationError` for CUDA on a machine without it.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise RestorationError(
                f"device {device!r} asked for, but this torch ({torch.__version__}) sees no CUDA GPU; "
                "use --device cpu (or auto), or install torch's CUDA build (README, GPU)"
            )
        return torch.device(device)
    raise RestorationError(f"unknown device {device!r}; choose from {DEVICES} (or cuda:N)")


def resolve_dtype(precision: str, device: torch.device) -> torch.dtype:
    """``"auto"``: bfloat16 where :func:`native_bf16`, else float32; or the named precision."""
    if precision == "auto":
        return torch.bfloat16 if native_bf16(device) else torch.float32
    if precision == "float32":
        return torch.float32
    if precision == "bfloat16":
        return torch.bfloat16
    raise RestorationError(f"unknown precision {precision!r}; choose from {PRECISIONS}")


def runtime_installed(runtime: str) -> bool:
    """Whether ``runtime`` (one of :data:`RUNTIMES` but ``auto``) can run on this machine."""
    return runtime == "torch" or importlib.util.find_spec(runtime) is not None


def resolve_runtime(runtime: str, device: torch.device, dtype: torch.dtype) -> str:
    """The runtime of the pixel-space U-Nets (:mod:`restoration.models.runtime`).

    ``"auto"``, on a CPU: ONNX Runtime for float32 (it ran the default restore 1.5 to 2.2 times
    faster than eager torch, with the same masks and fills: ``benchmarks/RESULTS.md``, "Inference
    runtime"), OpenVINO for bfloat16 (which ONNX Runtime's CPU provider does not compute; two
    chunks at once at 720x576 restored 0.48 frames a second against eager torch's 0.34, F1 the same
    to three decimals, in-damage PSNR 0.001 dB lower: "Restore speed at scale"; in float32 OpenVINO
    ran 0.25 against ONNX Runtime's 0.33); on a GPU, torch. An explicit choice is
    checked: :class:`RestorationError` for one not installed, one asked for on a GPU (only torch
    runs there), or ONNX Runtime with bfloat16.
    """
    if runtime == "auto":
        if device.type != "cpu":
            return "torch"
        chosen = "onnxruntime" if dtype == torch.float32 else "openvino"
        return chosen if runtime_installed(chosen) else "torch"
    if runtime not in RUNTIMES:
        raise RestorationError(f"unknown runtime {runtime!r}; choose from {RUNTIMES}")
    if runtime != "torch" and device.type != "cpu":
        raise RestorationError(f"runtime {runtime} runs on the CPU only; on {device} use torch (or auto)")
    if not runtime_installed(runtime):
        raise RestorationError(f"runtime {runtime}: the {runtime} package is not installed (pip install -e .)")
    if runtime == "onnxruntime" and dtype != torch.float32:
        raise RestorationError("runtime onnxruntime computes float32 only; use precision float32, or runtime torch or openvino")
    return runtime


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# A chunk in flight adds about this much peak memory per sample of the frames it holds (its own and
# its context): a second 8-frame chunk of a 720x576 gray reel at once took the restore's peak from
# 1.52 to 1.87 GB (2026-12-03).
CHUNK_BYTES_PER_SAMPLE = 70


def available_memory() -> int:
    """Bytes of memory new work can take: Linux's ``MemAvailable``, elsewhere the free pages."""
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def default_parallel(device: torch.device, chunks: int, chunk_samples: int, threads: int = 0, reels: int = 1) -> int:
    """Chunks of a reel to restore at once when the user did not say.

    On a CPU, one per usable core, each then computing on one thread (:func:`default_threads`), or
    one per ``threads`` cores where the user set the threads (never more busy threads than cores): the
    networks' small convolutions use a second thread poorly, and on this project's 2-core machine
    two 8-frame chunks of a 720x576 reel on one thread each restored 0.395 frames a second against
    0.234 for one chunk on two threads, the same output (2026-12-03). At most ``chunks`` (the
    reel's), and as many as half the available memory holds at :data:`CHUNK_BYTES_PER_SAMPLE` x
    ``chunk_samples`` (the samples of the frames one chunk holds, context included). ``reels``:
    reels restored at once in this process (an inbox run's), which share the cores and the memory.
    On a GPU, one.
    """
    if device.type != "cpu":
        return 1
    reels = max(1, reels)
    fits = available_memory() // 2 // reels // max(1, CHUNK_BYTES_PER_SAMPLE * chunk_samples)
    return max(1, min(usable_cores() // reels // max(1, threads), chunks, fits))


def default_threads(workers: int = 1) -> int:
    """Intra-op threads for one of ``workers`` busy processes (or chunks, or reels, at once): the
    usable cores shared out.

    Oversubscription is what costs here: two processes with two threads each on two cores ran far
    slower than one thread each.
    """
    return max(1, usable_cores() // max(1, workers))


def set_threads(threads: int) -> None:
    """Use ``threads`` intra-op threads in torch and OpenCV (the two pools the restore keeps busy)."""
    import cv2

    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)


@dataclass(frozen=True)
class Compute:
    """The resolved device, network precision and inference runtime of a run."""

    device: torch.device
    dtype: torch.dtype
    runtime: str = "torch"

    @classmethod
    def resolve(cls, device: str = "auto", precision: str = "auto", runtime: str = "auto") -> Compute:
        dev = resolve_device(device)
        dtype = resolve_dtype(precision, dev)
        return cls(dev, dtype, resolve_runtime(runtime, dev, dtype))

    def describe(self) -> dict:
        """What the provenance records: device, precision, and why (the CPU's capability)."""
        out = {
            "device": str(self.device),
            "precision": str(self.dtype).removeprefix("torch."),
            "runtime": self.runtime,
            "cpu_capability": cpu_capability(),
            "threads": torch.get_num_threads(),
        }
        if self.device.type == "cuda":
            out["gpu"] = torch.cuda.get_device_name(self.device)
        return out
