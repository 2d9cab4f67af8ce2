"""The inference runtime of the pixel-space U-Nets: eager torch, ONNX Runtime or OpenVINO.

On a CPU the project's small U-Nets spend most of their time in framework overhead and poorly
blocked convolutions; an inference runtime runs the same graph (exported once per run with
``torch.onnx.export``) 1.5 to 2.2 times faster (``benchmarks/RESULTS.md``, "Inference runtime").
:class:`CompiledUNet` is called exactly like the ``UNet2DModel`` it wraps
(``net(sample, timestep, class_labels=...).sample``), so the detectors and inpainters do not know
which runtime runs them, and may be called from several threads at once (a run's chunks share the
loaded networks). Every runtime is deterministic for a seed on one machine (the same input gives the
same bits); in float32 runtimes differ from each other by rounding (about 1e-6), in bfloat16 the
fills of torch and OpenVINO by up to 10 code values in 255.

Which runtime a run uses is decided with its device and precision
(:func:`restoration.core.compute.resolve_runtime`). ``bfloat16`` runs as torch autocast, or as
OpenVINO's bf16 inference precision.
"""

from __future__ import annotations

import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np
import torch
from diffusers import UNet2DModel
from diffusers.models.unets.unet_2d import UNet2DOutput


class _Traced(torch.nn.Module):
    """The U-Net with plain tensor inputs and output, as ``torch.onnx.export`` traces it."""

    def __init__(self, model: UNet2DModel, conditional: bool):
        super().__init__()
        self.model, self.conditional = model, conditional

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, *labels: torch.Tensor) -> torch.Tensor:
        return self.model(sample, timestep, class_labels=labels[0] if self.conditional else None).sample


def export_onnx(model: UNet2DModel, path: Path) -> None:
    """Write the model to ``path`` as an ONNX graph (opset 17) with batch, height and width left free.

    Inputs: ``sample`` float32 ``(N, C, H, W)``, ``timestep`` int64 ``(N,)`` and, for a
    class-conditional model, ``class_labels`` int64 ``(N,)``; output ``eps`` float32 ``(N, Cout, H, W)``.
    H and W must be multiples of the U-Net's total downsampling, as for the model itself.
    """
    conditional = model.config.num_class_embeds is not None
    side = model.config.sample_size if isinstance(model.config.sample_size, int) else model.config.sample_size[0]
    example: tuple[torch.Tensor, ...] = (
        torch.zeros(2, model.config.in_channels, side, side),
        torch.zeros(2, dtype=torch.long),
    )
    names = ["sample", "timestep"]
    if conditional:
        example += (torch.zeros(2, dtype=torch.long),)
        names.append("class_labels")
    axes = {name: {0: "n"} for name in names} | {"sample": {0: "n", 2: "h", 3: "w"}, "eps": {0: "n", 2: "h", 3: "w"}}
    with warnings.catch_warnings():
        # The tracer warns about diffusers' Python-side shape checks; the graph is checked in the tests.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Traced(model.cpu().float().eval(), conditional),
            example,
            str(path),
            input_names=names,
            output_names=["eps"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )


class CompiledUNet:
    """A ``UNet2DModel`` run by ONNX Runtime or OpenVINO on the CPU, called like the model.

    ``threads``: intra-op threads of the runtime (the run's torch thread count);
    ``dtype``: ``torch.float32``, or ``torch.bfloat16`` for OpenVINO's bf16 inference precision.
    ``config`` and ``device`` are the wrapped model's.
    """

    def __init__(self, model: UNet2DModel, runtime: str, threads: int, dtype: torch.dtype = torch.float32):
        if runtime not in ("onnxruntime", "openvino"):
            raise ValueError(f"CompiledUNet runs onnxruntime or openvino, not {runtime!r}")
        self.config, self.device, self.runtime = model.config, torch.device("cpu"), runtime
        self._conditional = model.config.num_class_embeds is not None
        with tempfile.TemporaryDirectory() as folder:
            graph = Path(folder) / "unet.onnx"
            export_onnx(model, graph)
            if runtime == "onnxruntime":
                import onnxruntime

                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
                session = onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
                self._run = lambda feed: session.run(None, feed)[0]
            else:
                import openvino

                core = openvino.Core()
                network = core.read_model(graph)
                settings = {
                    "INFERENCE_NUM_THREADS": threads,
                    "INFERENCE_PRECISION_HINT": "bf16" if dtype == torch.bfloat16 else "f32",
                    "ENABLE_CPU_PINNING": False,
                }
                # A run's chunks share the loaded models across threads. A request's output is its
                # own buffer, which its next call overwrites (two chunks on one request gave masks
                # that differed run to run); the requests of one compiled model share its threads
                # (two chunks ran one after the other); and pinned threads all sat on the first core
                # (0.29 frames a second against 0.52 unpinned): each calling thread compiles its own.
                mine = threading.local()

                def run(feed: dict) -> np.ndarray:
                    if not hasattr(mine, "request"):
                        mine.request = core.compile_model(network, "CPU", settings).create_infer_request()
                    return mine.request.infer(feed)[0]

                self._run = run

    def __call__(self, sample: torch.Tensor, timestep: torch.Tensor | int, class_labels: torch.Tensor | None = None) -> UNet2DOutput:
        steps = torch.as_tensor(timestep, dtype=torch.long)
        if steps.ndim == 0:
            steps = steps.expand(sample.shape[0])
        feed = {"sample": sample.detach().float().numpy(), "timestep": np.ascontiguousarray(steps.numpy())}
        if self._conditional:
            if class_labels is None:
                raise ValueError("this model is class-conditional: class_labels are required")
            feed["class_labels"] = class_labels.detach().long().numpy()
        return UNet2DOutput(sample=torch.from_numpy(np.array(self._run(feed), dtype=np.float32, copy=True)))


def prepare_unet(model: UNet2DModel, runtime: str, threads: int, dtype: torch.dtype) -> UNet2DModel | CompiledUNet:
    """``model`` as ``runtime`` (resolved: not ``auto``) runs it: the model itself for torch."""
    return model if runtime == "torch" else CompiledUNet(model, runtime, threads, dtype)
