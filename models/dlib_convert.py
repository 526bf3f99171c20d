"""Convert dlib's face recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``) to ONNX.

No library reads dlib's serialisation outside dlib itself (a C++ build), so the reader is written
here in pure Python; the graph is built with the ``onnx`` package's helpers. The format facts
(integer/float encodings, wrapper versions, layer trailers) are documented in
``shared/notes/dlib-resnet-format.md`` and were checked against the file byte for byte: the reader
consumes the file exactly to its end or refuses it.

The network, input to output (``dnn_face_recognition_ex.cpp``'s ``anet_type``):
conv 7x7/2 -> affine -> relu -> max pool 3x3/2 -> 3 residual blocks of 32 -> down block + 3 of 64
-> down block + 2 of 128 -> down block + 2 of 256 -> down block of 256 -> global average pool ->
fc 128 without bias.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from storelens.atomic import replacing
from storelens.errors import ModelError

log = logging.getLogger(__name__)

INPUT_NAME = "chip"
OUTPUT_NAME = "embedding"
CHIP_SIZE = 150
EMBEDDING_SIZE = 128


@dataclass(frozen=True)
class DlibLayer:
    """One layer's details as read from the file.

    Attributes:
        kind: dlib's type-and-version tag, e.g. ``con_4``.
        ints: integer fields in file order (filters, window, stride, padding ...).
        weights: for ``con_4`` filters (out, in, kh, kw); for ``affine_`` gamma (C,); for ``fc_2``
            the (in, out) matrix; else None.
        bias: for ``con_4`` biases (out,); for ``affine_`` beta (C,); else None.
    """

    kind: str
    ints: tuple[int, ...] = ()
    weights: NDArray[np.float32] | None = None
    bias: NDArray[np.float32] | None = None


@dataclass(frozen=True)
class DlibNet:
    """The parsed network.

    Attributes:
        input_mean: per-channel value subtracted from 0..255 RGB input, (3,) red, green, blue.
        chip_size: input chip side in pixels.
        layers: details innermost (nearest the input) first.
        distance_threshold: the loss layer's trained Euclidean decision threshold.
    """

    input_mean: tuple[float, float, float]
    chip_size: int
    layers: list[DlibLayer] = field(default_factory=list)
    distance_threshold: float = 0.6


class _Reader:
    """Reads dlib's ``serialize`` primitives from a byte buffer."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.pos = 0
        self.source = source

    def fail(self, what: str) -> ModelError:
        return ModelError(f"{self.source}: not a dlib face recognition model: {what} at byte {self.pos}")

    def need(self, n: int) -> None:
        if self.pos + n > len(self.data):
            raise self.fail(f"file ends early (needed {n} more bytes)")

    def integer(self) -> int:
        self.need(1)
        control = self.data[self.pos]
        self.pos += 1
        size = control & 0x0F
        if size > 8:
            raise self.fail(f"bad integer control byte {control:#x}")
        self.need(size)
        value = int.from_bytes(self.data[self.pos : self.pos + size], "little")
        self.pos += size
        return -value if control & 0x80 else value

    def real(self) -> float:
        mantissa = self.integer()
        exponent = self.integer()
        if not -1100 < exponent < 1100:
            raise self.fail(f"float exponent {exponent} out of range")
        return float(mantissa * 2.0**exponent)

    def string(self) -> str:
        n = self.integer()
        if not 0 <= n < 256:
            raise self.fail(f"string length {n}")
        self.need(n)
        raw = self.data[self.pos : self.pos + n]
        self.pos += n
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise self.fail("non-ASCII layer name") from exc

    def boolean(self) -> bool:
        self.need(1)
        c = self.data[self.pos : self.pos + 1]
        self.pos += 1
        if c not in (b"0", b"1"):
            raise self.fail(f"bad bool {c!r}")
        return c == b"1"

    def tensor(self) -> NDArray[np.float32]:
        version = self.integer()
        if version != 2:
            raise self.fail(f"tensor version {version}, expected 2")
        shape = tuple(self.integer() for _ in range(4))
        if any(d < 0 for d in shape):
            raise self.fail(f"negative tensor shape {shape}")
        count = int(np.prod(shape))
        self.need(4 * count)
        arr = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.pos).astype(np.float32)
        self.pos += 4 * count
        return arr.reshape(shape)

    def alias(self) -> tuple[int, int, int, int]:
        version = self.integer()
        if version != 1:
            raise self.fail(f"alias tensor version {version}, expected 1")
        a, b, c, d = (self.integer() for _ in range(4))
        return a, b, c, d


def _read_layer(r: _Reader, kind: str) -> DlibLayer:
    if kind == "con_4":
        params = r.tensor().ravel()
        nf, nr, nc, sy, sx, py, px = (r.integer() for _ in range(7))
        fshape = r.alias()
        bshape = r.alias()
        for _ in range(4):  # learning-rate and weight-decay multipliers: training only
            r.real()
        n_w = int(np.prod(fshape))
        if fshape[0] != nf or (fshape[2], fshape[3]) != (nr, nc) or params.size != n_w + nf:
            raise r.fail(f"convolution shapes disagree: filters {fshape}, biases {bshape}")
        w = params[:n_w].reshape(fshape)
        return DlibLayer(kind, (nf, nr, nc, sy, sx, py, px), w, params[n_w:].copy())
    if kind == "affine_":
        params = r.tensor().ravel()
        g = r.alias()
        r.alias()
        mode = r.integer()
        channels = int(np.prod(g))
        if params.size != 2 * channels or mode != 0:
            raise r.fail(f"affine layer with {params.size} params for {channels} channels, mode {mode}")
        return DlibLayer(kind, (channels,), params[:channels].copy(), params[channels:].copy())
    if kind in ("relu_", "add_prev_"):
        return DlibLayer(kind)
    if kind in ("max_pool_2", "avg_pool_2"):
        return DlibLayer(kind, tuple(r.integer() for _ in range(6)))
    if kind == "fc_2":
        n_out, n_in = r.integer(), r.integer()
        params = r.tensor()
        r.alias()
        r.alias()
        bias_mode = r.integer()
        for _ in range(4):
            r.real()
        if bias_mode != 1 or tuple(params.shape[:2]) != (n_in, n_out):
            raise r.fail(f"fc layer {params.shape} bias mode {bias_mode}; expected no bias")
        return DlibLayer(kind, (n_in, n_out), params.reshape(n_in, n_out).copy())
    raise r.fail(f"unsupported layer {kind!r}")


def read_dlib_model(path: Path) -> DlibNet:
    """Parse a dlib ``loss_metric`` ResNet file.

    Args:
        path: the ``.dat`` file.

    Returns:
        The parsed network.

    Raises:
        ModelError: the file is not the expected dlib format, naming the byte offset.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read: {exc.strerror}") from exc
    r = _Reader(data, str(path))
    if r.integer() != 1 or r.string() != "loss_metric_2":
        raise r.fail("missing loss_metric_2 header")
    r.real()  # margin, training only
    threshold = r.real()
    # Wrapper versions, outermost first: 1 or 2 for tags/skips/add_layer, 3 for the innermost.
    versions: list[int] = []
    while True:
        v = r.integer()
        if v == 3:
            break
        if v not in (1, 2) or len(versions) > 10_000:
            raise r.fail(f"unexpected wrapper version {v}")
        versions.append(v)
    if r.string() != "input_rgb_image_sized":
        raise r.fail("input layer is not input_rgb_image_sized")
    mean = (r.real(), r.real(), r.real())
    rows, cols = r.integer(), r.integer()
    if rows != cols:
        raise r.fail(f"non-square chip {rows}x{cols}")
    layers: list[DlibLayer] = []
    first = True
    while r.pos < len(data):
        layers.append(_read_layer(r, r.string()))
        for _ in range(3):  # setup-called, gradient-stale, output-disabled flags
            r.boolean()
        for _ in range(3):  # gradient and cached-output tensors, empty in a trained file
            r.tensor()
        if first:
            r.integer()  # the innermost wrapper's sample expansion factor
            first = False
    log.debug("read %d layers, %d wrapper versions from %s", len(layers), len(versions), path)
    return DlibNet(mean, rows, layers, threshold)


# The layer-kind sequence of dlib_face_recognition_resnet_model_v1, innermost first.
_STEM = ["con_4", "affine_", "relu_", "max_pool_2"]
_RES = ["con_4", "affine_", "relu_", "con_4", "affine_", "add_prev_", "relu_"]
_DOWN = ["con_4", "affine_", "relu_", "con_4", "affine_", "avg_pool_2", "add_prev_", "relu_"]
EXPECTED_KINDS = (
    _STEM + _RES * 3 + _DOWN + _RES * 3 + _DOWN + _RES * 2 + _DOWN + _RES * 2 + _DOWN + ["avg_pool_2", "fc_2"]
)


class _GraphBuilder:
    """Builds the ONNX graph while tracking static (C, H, W) shapes for dlib's add_prev rule."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.n = 0

    def name(self, stem: str) -> str:
        self.n += 1
        return f"{stem}_{self.n}"

    def const(self, stem: str, arr: NDArray[np.generic]) -> str:
        name = self.name(stem)
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def node(self, op: str, inputs: list[str], **attrs: Any) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out


def _pooled(size: int, window: int, stride: int, pad: int) -> int:
    return 1 + (size + 2 * pad - window) // stride


def _pad_to(b: _GraphBuilder, x: str, shape: tuple[int, int, int], target: tuple[int, int, int]) -> str:
    """Zero-pad (C, H, W) at the end of each axis, as dlib's tt::add treats missing elements as 0."""
    if shape == target:
        return x
    pads = [0, 0, 0, 0, 0, target[0] - shape[0], target[1] - shape[1], target[2] - shape[2]]
    return b.node("Pad", [x, b.const("pads", np.array(pads, dtype=np.int64))], mode="constant")


def build_onnx(net: DlibNet) -> onnx.ModelProto:
    """Build the ONNX graph: (N, 3, 150, 150) float chip, already (x - mean) / 256, to (N, 128).

    Args:
        net: the parsed network; its layer kinds must be exactly ``EXPECTED_KINDS``.

    Returns:
        The ONNX model (opset 17).

    Raises:
        ModelError: the network is not dlib_face_recognition_resnet_model_v1's architecture.
    """
    kinds = [layer.kind for layer in net.layers]
    if kinds != EXPECTED_KINDS:
        raise ModelError(
            f"unknown dlib architecture: {len(kinds)} layers, expected {len(EXPECTED_KINDS)} "
            "of dlib_face_recognition_resnet_model_v1"
        )
    b = _GraphBuilder()
    x = INPUT_NAME
    shape = (3, net.chip_size, net.chip_size)
    block_in: tuple[str, tuple[int, int, int]] = (x, shape)
    block_out: tuple[str, tuple[int, int, int]] = (x, shape)
    prev_kind = ""
    for i, layer in enumerate(net.layers):
        k = layer.kind
        # A block starts at a convolution after the stem's max pool or after a block's final relu.
        if k == "con_4" and (prev_kind == "max_pool_2" or net.layers[i - 2].kind == "add_prev_"):
            block_in = (x, shape)
        if k == "con_4":
            nf, nr, nc, sy, sx, py, px = layer.ints
            if layer.weights is None or layer.bias is None or layer.weights.shape[1] != shape[0]:
                raise ModelError(f"convolution {i} expects other input channels than {shape[0]}")
            w = b.const("w", layer.weights)
            bias = b.const("b", layer.bias)
            x = b.node("Conv", [x, w, bias], kernel_shape=[nr, nc], strides=[sy, sx], pads=[py, px, py, px])
            shape = (nf, _pooled(shape[1], nr, sy, py), _pooled(shape[2], nc, sx, px))
        elif k == "affine_":
            if layer.weights is None or layer.bias is None:
                raise ModelError(f"affine layer {i} has no parameters")
            g = b.const("gamma", layer.weights.reshape(1, -1, 1, 1))
            be = b.const("beta", layer.bias.reshape(1, -1, 1, 1))
            x = b.node("Add", [b.node("Mul", [x, g]), be])
            block_out = (x, shape)
        elif k == "relu_":
            x = b.node("Relu", [x])
        elif k in ("max_pool_2", "avg_pool_2"):
            wr, wc, sy, sx, py, px = layer.ints
            if wr == 0 and wc == 0:
                x = b.node("GlobalAveragePool", [x])
                shape = (shape[0], 1, 1)
                continue
            src, sshape = (x, shape) if k == "max_pool_2" else block_in  # the down block's skip1
            op = "MaxPool" if k == "max_pool_2" else "AveragePool"
            x = b.node(op, [src], kernel_shape=[wr, wc], strides=[sy, sx], pads=[py, px, py, px])
            shape = (sshape[0], _pooled(sshape[1], wr, sy, py), _pooled(sshape[2], wc, sx, px))
        elif k == "add_prev_":
            # Plain block: block output + block input. Down block: avg-pooled input + block output.
            other, oshape = block_in if prev_kind == "affine_" else block_out
            target = (max(shape[0], oshape[0]), max(shape[1], oshape[1]), max(shape[2], oshape[2]))
            x = b.node("Add", [_pad_to(b, x, shape, target), _pad_to(b, other, oshape, target)])
            shape = target
        elif k == "fc_2":
            if layer.weights is None:
                raise ModelError("fc layer has no weights")
            flat = b.node("Flatten", [x], axis=1)
            x = b.node("MatMul", [flat, b.const("fc", layer.weights)])
        prev_kind = k
    b.nodes.append(helper.make_node("Identity", [x], [OUTPUT_NAME]))
    graph = helper.make_graph(
        b.nodes,
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", 3, net.chip_size, net.chip_size])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", EMBEDDING_SIZE])],
        b.inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="storelens-dlib-convert"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def convert(dat_path: Path, onnx_path: Path) -> DlibNet:
    """Read ``dat_path`` and write the ONNX model to ``onnx_path`` (atomically).

    Args:
        dat_path: dlib's ``dlib_face_recognition_resnet_model_v1.dat``.
        onnx_path: destination ``.onnx`` file.

    Returns:
        The parsed network (its ``input_mean`` feeds the manifest's preprocessing).
    """
    net = read_dlib_model(dat_path)
    model = build_onnx(net)
    with replacing(onnx_path) as tmp:
        tmp.write_bytes(model.SerializeToString())
    return net
