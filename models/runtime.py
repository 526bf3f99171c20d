"""Model sessions built from the runtime config: ONNX Runtime (providers, thread counts) or OpenCV DNN.

Both engines run the same verified ONNX file. Which one is faster depends on the model: on the 2-core
benchmark machine YuNet ran in 4.1 ms on ONNX Runtime against 9.1 ms on OpenCV DNN, and SFace in
11.9 ms against 7.7 ms (docs/benchmarks.md, part 1, measures both every run). A manifest entry names the
faster one (``cpu_engine``); ``models.runtime.engine`` may force either.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from google.protobuf.message import DecodeError

from storelens.config import RuntimeConfig
from storelens.errors import ModelError
from storelens.manifest import ModelSpec
from storelens.stage_messages import InferenceSession

log = logging.getLogger(__name__)


def make_session(path: Path, runtime: RuntimeConfig) -> ort.InferenceSession:
    """An ONNX Runtime session for ``path`` on the configured providers.

    Args:
        path: a verified ``.onnx`` file.
        runtime: providers in order of preference and thread counts.

    Raises:
        ModelError: a requested provider is not installed, or ORT cannot load the file.
    """
    available = ort.get_available_providers()
    missing = [p for p in runtime.providers if p not in available]
    if missing:
        raise ModelError(
            f"models.runtime.providers: {', '.join(missing)} not installed; this onnxruntime offers "
            f"{', '.join(available)}"
        )
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = runtime.intra_op_threads
    opts.inter_op_num_threads = runtime.inter_op_threads
    opts.log_severity_level = 3
    # Several sessions (face and person detectors, the recogniser) and several cameras share the cores: a thread
    # that spins waiting for its next operator burns a core another session needs, so threads sleep instead.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(str(path), sess_options=opts, providers=list(runtime.providers))
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph types without a common base
        raise ModelError(f"{path}: ONNX Runtime cannot load it: {exc}") from exc
    log.debug("session %s on %s", path.name, session.get_providers())
    return session


@dataclass(frozen=True)
class NodeArg:
    """A model input or output as ONNX Runtime describes it: name and shape (a free dimension as its name)."""

    name: str
    shape: list[int | str]


class OpenCVSession:
    """OpenCV DNN behind ONNX Runtime's four calls, so that the stages take either.

    Written here because ``cv2.dnn.Net`` has no session interface of its own. A ``Net`` keeps its input
    between ``setInput`` and ``forward``, so calls are serialised by a lock (cameras share one recogniser);
    OpenCV parallelises each call over the cores itself.

    Args:
        path: a verified ``.onnx`` file.

    Raises:
        ModelError: OpenCV cannot read the file.
    """

    def __init__(self, path: Path) -> None:
        try:
            graph = onnx.load(str(path), load_external_data=False).graph
            self._net = cv2.dnn.readNetFromONNX(str(path))
        except (cv2.error, OSError, ValueError, DecodeError) as exc:
            raise ModelError(f"{path}: OpenCV DNN cannot load it: {exc}") from exc
        constants = {i.name for i in graph.initializer}
        self._inputs = [_node(v) for v in graph.input if v.name not in constants]
        self._outputs = [_node(v) for v in graph.output]
        if len(self._inputs) != 1:
            raise ModelError(f"{path}: OpenCV DNN runs models of one input, this one has {len(self._inputs)}")
        self._lock = threading.Lock()

    def get_inputs(self) -> list[Any]:
        """The model's one input."""
        return list(self._inputs)

    def get_outputs(self) -> list[Any]:
        """The model's outputs, in the file's order."""
        return list(self._outputs)

    def get_providers(self) -> list[str]:
        """OpenCV's own CPU backend."""
        return ["OpenCV DNN (CPU)"]

    def run(self, output_names: list[str] | None, input_feed: dict[str, Any]) -> list[Any]:
        """The outputs named (all when None) for the one input fed."""
        names = output_names or [o.name for o in self._outputs]
        (blob,) = input_feed.values()
        with self._lock:
            self._net.setInput(np.ascontiguousarray(blob, np.float32))
            outs = self._net.forward(names)
        return [np.asarray(o) for o in outs]


def _node(value: Any) -> NodeArg:
    dims = value.type.tensor_type.shape.dim
    return NodeArg(value.name, [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims])


def open_session(path: Path, spec: ModelSpec, runtime: RuntimeConfig) -> InferenceSession:
    """The session ``runtime`` asks for: ``engine`` auto takes the manifest's measured choice on the CPU.

    Args:
        path: the model's verified file.
        spec: its manifest entry (``cpu_engine``).
        runtime: providers, threads and engine.
    """
    on_cpu = list(runtime.providers) == ["CPUExecutionProvider"]
    engine = spec.cpu_engine if runtime.engine == "auto" else runtime.engine
    if engine == "opencv" and on_cpu:
        log.debug("session %s on OpenCV DNN", path.name)
        return OpenCVSession(path)
    return make_session(path, runtime)
