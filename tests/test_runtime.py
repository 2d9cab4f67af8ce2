"""The U-Nets run by ONNX Runtime / OpenVINO: the same network as eager torch, deterministic, chosen from the machine."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from restoration.core.compute import Compute, native_bf16, resolve_runtime
from restoration.core.restore import RestoreConfig, load_models, method_description, restore_frames
from restoration.errors import RestorationError
from restoration.models.detector import build_detector, tiny_detector_config
from restoration.models.inpainter import build_inpainter, tiny_inpainter_config
from restoration.models.runtime import CompiledUNet, prepare_unet

CPU = torch.device("cpu")
COMPILED = ["onnxruntime", "openvino"]


def _inputs(model, n=3, side=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, model.config.in_channels, side, side, generator=g), torch.tensor([5, 40, 99][:n])


@pytest.mark.parametrize("runtime", COMPILED)
def test_compiled_detector_matches_torch_and_repeats_bit_exactly(runtime):
    torch.manual_seed(0)
    model = build_detector(tiny_detector_config()).eval()
    x, t = _inputs(model)
    labels = torch.tensor([0, 1, 1])
    with torch.inference_mode():
        expected = model(x, t, class_labels=labels).sample
    net = CompiledUNet(model, runtime, threads=1)
    got = net(x, t, class_labels=labels).sample
    assert got.shape == expected.shape and got.dtype == torch.float32
    assert torch.allclose(got, expected, atol=1e-5)
    assert torch.equal(net(x, t, class_labels=labels).sample, got)
    # Other batch and tile sizes than the export's example run too.
    x2, t2 = _inputs(model, n=2, side=24, seed=1)
    with torch.inference_mode():
        assert torch.allclose(net(x2, t2, class_labels=labels[:2]).sample, model(x2, t2, class_labels=labels[:2]).sample, atol=1e-5)
    with pytest.raises(ValueError, match="class_labels are required"):
        net(x, t)


@pytest.mark.parametrize("runtime", COMPILED)
def test_compiled_inpainter_takes_a_scalar_timestep_as_the_model_does(runtime):
    torch.manual_seed(0)
    model = build_inpainter(tiny_inpainter_config()).eval()
    x, _ = _inputs(model)
    with torch.inference_mode():
        expected = model(x, 7).sample
    assert torch.allclose(CompiledUNet(model, runtime, threads=1)(x, torch.tensor(7)).sample, expected, atol=1e-5)


@pytest.mark.parametrize("runtime", COMPILED)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_compiled_unet_called_from_threads_at_once_gives_what_it_gives_alone(runtime, dtype):
    """A run's chunks share the loaded networks across threads: each call's output is its own."""
    if dtype == torch.bfloat16 and (runtime == "onnxruntime" or not native_bf16(CPU)):
        pytest.skip("bfloat16 runs only in OpenVINO, and only where the CPU computes it natively")
    torch.manual_seed(0)
    model = build_detector(tiny_detector_config()).eval()
    net = CompiledUNet(model, runtime, threads=1, dtype=dtype)
    inputs = [_inputs(model, n=3, side=32, seed=seed) for seed in range(8)]
    labels = torch.tensor([0, 1, 1])
    alone = [net(x, t, class_labels=labels).sample for x, t in inputs]

    def calls(order):
        return [(i, net(*inputs[i], class_labels=labels).sample) for i in order for _ in range(3)]

    with ThreadPoolExecutor(2) as pool:
        results = [*pool.submit(calls, range(8)).result(), *pool.submit(calls, reversed(range(8))).result()]
    assert all(torch.equal(got, alone[i]) for i, got in results)


def test_auto_runtime_on_the_cpu_is_onnxruntime_for_float32_and_openvino_for_bfloat16_and_torch_on_a_gpu():
    assert resolve_runtime("auto", CPU, torch.float32) == "onnxruntime"
    assert resolve_runtime("auto", CPU, torch.bfloat16) == "openvino"
    assert resolve_runtime("auto", torch.device("cuda"), torch.float32) == "torch"
    assert resolve_runtime("auto", torch.device("cuda"), torch.bfloat16) == "torch"
    assert resolve_runtime("torch", CPU, torch.bfloat16) == "torch"
    with pytest.raises(RestorationError, match="float32 only"):
        resolve_runtime("onnxruntime", CPU, torch.bfloat16)
    with pytest.raises(RestorationError, match="CPU only"):
        resolve_runtime("onnxruntime", torch.device("cuda"), torch.float32)
    with pytest.raises(RestorationError, match="unknown runtime"):
        resolve_runtime("tensorrt", CPU, torch.float32)
    with pytest.raises(ValueError, match="unknown runtime"):
        RestoreConfig(runtime="tensorrt")
    with pytest.raises(RestorationError, match="CPU only"):
        resolve_runtime("openvino", torch.device("cuda"), torch.bfloat16)


def test_torch_runtime_leaves_the_model_as_it_is():
    model = build_detector(tiny_detector_config())
    assert prepare_unet(model, "torch", 1, torch.float32) is model


def test_the_default_restore_gives_the_same_masks_and_fills_under_onnxruntime_as_under_torch():
    """The shipped networks on a small damaged clip: the runtime changes the speed, not the result."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :96]
    base = (96 + 60 * np.sin(xx / 9.0) * np.cos(yy / 13.0)).astype(np.float32)
    frames = np.stack([np.clip(base + rng.normal(0, 3, base.shape), 0, 255) for _ in range(3)]).astype(np.uint8)[..., None]
    frames[1, 30:34, 40:45] = 250  # a speck on the middle frame only
    results = {}
    for runtime in ("torch", "onnxruntime"):
        config = RestoreConfig(runtime=runtime, precision="float32")
        models = load_models(config)
        assert models.compute == Compute(CPU, torch.float32, runtime)
        assert method_description(config, models)["compute"]["runtime"] == runtime
        mask, restored, _, _ = restore_frames(frames, [1], 0, config, models)[0]
        results[runtime] = (mask, restored)
    (mask_t, restored_t), (mask_o, restored_o) = results["torch"], results["onnxruntime"]
    assert mask_t[30:34, 40:45].all()
    assert np.array_equal(mask_o, mask_t) and np.array_equal(restored_o, restored_t)
    assert np.array_equal(restored_t[~mask_t], frames[1][~mask_t])
