"""Fold an int8 block-quantised ONNX model's constant weights into float32 initializers.

OpenCV's model zoo ships YuNet and SFace as "int8bq" files: every weight is stored as int8 with one
scale per block and dequantised by a ``DequantizeLinear`` node at run time. ONNX Runtime 1.31 loads
such files but fails to run them (blocked ``DequantizeLinear`` on constant weights), while OpenCV DNN
runs them. Folding each constant ``DequantizeLinear`` (and the constant ``Reshape`` that follows it)
once, at ``storelens models prepare``, computes exactly the arithmetic the node would compute at run
time: ``(q - zero_point) * scale``, with each block's scale repeated over its ``block_size`` elements.

No library does this fold for blocked quantisation (onnx's reference evaluator runs a whole graph,
onnxruntime's optimiser keeps quantised weights), so it is written here, on numpy and onnx's helpers.
The output is byte-deterministic, so its sha256 is pinned in the manifest.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import numpy_helper

from storelens.errors import PrepareError


def _dequantise(
    q: NDArray[np.generic], scale: NDArray[np.generic], zero: NDArray[np.generic] | None, axis: int, block: int
) -> NDArray[np.float32]:
    """``(q - zero) * scale`` as ONNX's ``DequantizeLinear`` defines it (per tensor, per axis or blocked).

    Args:
        q: quantised tensor, any shape.
        scale: scalar, (q.shape[axis],) per axis, or q's shape with ceil(n / block) along ``axis`` when blocked.
        zero: zero points shaped like ``scale``, or None for zero.
        axis: the quantisation axis.
        block: block size along ``axis``; 0 when not blocked.

    Returns:
        float32 tensor shaped like ``q``.
    """
    x = q.astype(np.float32)
    s = scale.astype(np.float32)
    z = zero.astype(np.float32) if zero is not None else np.zeros_like(s)
    if x.ndim == 0 or s.size == 1:
        return np.asarray((x - z.reshape(())) * s.reshape(()), np.float32)
    ax = axis % x.ndim
    if block:
        n = x.shape[ax]
        s = np.repeat(s, block, axis=ax).take(np.arange(n), axis=ax)
        z = np.repeat(z, block, axis=ax).take(np.arange(n), axis=ax)
    else:
        shape = [1] * x.ndim
        shape[ax] = -1
        s, z = s.reshape(shape), z.reshape(shape)
    return np.asarray((x - z) * s, np.float32)


def fold_quantised(model: onnx.ModelProto, dynamic_batch: bool) -> onnx.ModelProto:
    """The same model with every constant ``DequantizeLinear`` (and constant ``Reshape``) folded.

    Args:
        model: a loaded ONNX model; changed in place and returned.
        dynamic_batch: make the first dimension of the image input and of the outputs symbolic, so that
            a recogniser can embed several faces in one call (the graph's other ops are batch-agnostic).

    Returns:
        The folded model, with one graph input (the image).
    """
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    values: dict[str, NDArray[np.generic]] = {}

    def const(name: str) -> NDArray[np.generic] | None:
        if name in values:
            return values[name]
        return numpy_helper.to_array(inits[name]) if name in inits else None

    kept_nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        args = [a for a in (const(name) for name in node.input) if a is not None]
        constant = len(args) == len(node.input)
        if node.op_type == "DequantizeLinear" and constant:
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            zero = args[2] if len(args) > 2 else None
            values[node.output[0]] = _dequantise(
                args[0], args[1], zero, int(attrs.get("axis", 1)), int(attrs.get("block_size", 0))
            )
        elif node.op_type == "Reshape" and constant and len(args) == 2:
            values[node.output[0]] = args[0].reshape([int(v) for v in args[1]])
        else:
            kept_nodes.append(node)
    needed = {name for node in kept_nodes for name in node.input} | {o.name for o in graph.output}
    new_inits = [i for i in graph.initializer if i.name in needed and i.name not in values]
    new_inits += [numpy_helper.from_array(v, name) for name, v in values.items() if name in needed]
    image_inputs = [i for i in graph.input if i.name not in inits and i.name not in values][:1]
    del graph.node[:]
    graph.node.extend(kept_nodes)
    del graph.initializer[:]
    graph.initializer.extend(new_inits)
    del graph.input[:]
    graph.input.extend(image_inputs)
    if dynamic_batch:
        for value in [*graph.input, *graph.output]:
            value.type.tensor_type.shape.dim[0].dim_param = "N"
    onnx.checker.check_model(model)
    return model


def fold_file(src: Path, dst: Path, dynamic_batch: bool) -> Path:
    """Fold ``src`` into ``dst`` (written to a temporary file, fsynced and renamed).

    Raises:
        PrepareError: ``src`` is not a readable ONNX model, or the folded graph is invalid.
    """
    try:
        model = fold_quantised(onnx.load(str(src)), dynamic_batch)
    except Exception as exc:  # onnx raises DecodeError, ValidationError and others
        raise PrepareError(f"{src}: cannot fold the quantised model: {type(exc).__name__}: {exc}") from exc
    dst.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dst.parent, delete=False, suffix=".part") as tmp:
        tmp.write(model.SerializeToString())
        tmp.flush()
        os.fsync(tmp.fileno())
    Path(tmp.name).replace(dst)
    return dst
