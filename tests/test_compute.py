"""Device and precision are decided from the machine: bf16 only where it is native."""

import time

import pytest
import torch

from restoration.core import compute
from restoration.core.compute import Compute, default_parallel, native_bf16, resolve_device, resolve_dtype
from restoration.core.restore import RestoreConfig, load_models, method_description
from restoration.detect.diffedit import DiffEditConfig, diffedit_map, load_detector
from restoration.errors import RestorationError


def test_auto_is_float32_without_native_bf16(monkeypatch):
    monkeypatch.setattr(compute, "cpu_capability", lambda: "AVX2")
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32


def test_avx512_without_the_bf16_extension_is_not_native(monkeypatch):
    monkeypatch.setattr(compute, "cpu_capability", lambda: "AVX512")
    monkeypatch.setattr(compute, "_cpu_flags", lambda: {"avx512f", "avx512bw"})
    assert not native_bf16(torch.device("cpu"))
    monkeypatch.setattr(compute, "_cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    assert native_bf16(torch.device("cpu"))
    assert resolve_dtype("auto", torch.device("cpu")) == torch.bfloat16


def test_named_precisions_and_refusals():
    cpu = torch.device("cpu")
    assert resolve_dtype("float32", cpu) == torch.float32
    assert resolve_dtype("bfloat16", cpu) == torch.bfloat16
    with pytest.raises(RestorationError, match="unknown precision"):
        resolve_dtype("fp8", cpu)
    with pytest.raises(ValueError, match="unknown precision"):
        RestoreConfig(precision="fp8")
    with pytest.raises(ValueError, match="unknown device"):
        RestoreConfig(device="tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_one_clear_error():
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(RestorationError, match="sees no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(RestorationError, match="sees no CUDA GPU"):
        load_models(RestoreConfig(device="cuda", detector="temporal", inpainter="temporal_median"))


def test_the_resolved_compute_is_recorded():
    config = RestoreConfig(detector="temporal", inpainter="temporal_median")
    models = load_models(config)
    record = method_description(config, models)["compute"]
    assert record["device"] == str(Compute.resolve().device)
    assert record["precision"] == str(resolve_dtype("auto", Compute.resolve().device)).removeprefix("torch.")
    assert record["cpu_capability"] == compute.cpu_capability()


def test_default_precision_is_not_slower_than_float32_on_this_cpu():
    """The CI guard for emulated bf16: on an AVX2-only CPU it ran the detector 25x slower than
    float32. Whatever CPU runs this, the default precision must cost at most 3x float32 (a margin
    for a machine busy with other tests, far below the 25x of emulation)."""
    model, scheduler = load_detector()
    torch.manual_seed(0)
    tiles = torch.rand(16, model.config.in_channels, 32, 32) * 2 - 1
    config = DiffEditConfig(n_draws=1, conditions="both")
    auto = Compute.resolve("cpu").dtype

    def best_of(dtype: torch.dtype) -> float:
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            diffedit_map(model, scheduler, tiles, config, 0, dtype)
            times.append(time.perf_counter() - t0)
        return min(times)

    best_of(torch.float32)  # warm-up: first calls allocate and pick kernels
    assert best_of(auto) <= 3 * best_of(torch.float32)


def test_parallel_chunks_follow_the_cores_the_reel_and_the_memory(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(compute.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(compute, "available_memory", lambda: 64 * 2**30)
    samples = 20 * 720 * 576  # a 16-frame chunk and its context, gray
    assert default_parallel(cpu, chunks=100, chunk_samples=samples) == 4  # one a core
    assert default_parallel(cpu, chunks=3, chunk_samples=samples) == 3  # no more than the reel has
    assert default_parallel(cpu, chunks=100, chunk_samples=samples, threads=2) == 2  # the user's threads a chunk
    assert default_parallel(cpu, chunks=100, chunk_samples=samples, threads=8) == 1
    assert default_parallel(cpu, chunks=100, chunk_samples=samples, reels=2) == 2  # two reels share the cores
    assert default_parallel(cpu, chunks=100, chunk_samples=samples, reels=8) == 1
    # half of 1 GiB holds one 720x576 chunk (0.58 GB) at most: never fewer than one
    monkeypatch.setattr(compute, "available_memory", lambda: 2**30)
    assert default_parallel(cpu, chunks=100, chunk_samples=samples) == 1
    monkeypatch.setattr(compute, "available_memory", lambda: 3 * 2**30)
    assert default_parallel(cpu, chunks=100, chunk_samples=samples) == 2
    assert default_parallel(torch.device("cuda"), chunks=100, chunk_samples=samples) == 1
    assert compute.available_memory() > 0
