"""ONNX Runtime sessions built from the runtime config: providers and thread counts."""

from __future__ import annotations

import logging
from pathlib import Path

import onnxruntime as ort

from storelens.config import RuntimeConfig
from storelens.errors import ModelError

log = logging.getLogger(__name__)


def make_session(path: Path, runtime: RuntimeConfig) -> ort.InferenceSession:
    """An inference session for ``path`` on the configured providers.

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
    try:
        session = ort.InferenceSession(str(path), sess_options=opts, providers=list(runtime.providers))
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph types without a common base
        raise ModelError(f"{path}: ONNX Runtime cannot load it: {exc}") from exc
    log.debug("session %s on %s", path.name, session.get_providers())
    return session
