"""Model files against their manifest entries: checksum and input/output signature."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from storelens.errors import ModelError
from storelens.manifest import ModelSpec

if TYPE_CHECKING:
    import onnx


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _dims(value_info: onnx.ValueInfoProto) -> list[int | str]:
    dims = value_info.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]


def check_signature(spec: ModelSpec, path: Path) -> None:
    """Refuse a model whose input/output signature does not fit its manifest entry.

    Raises:
        ModelError: naming the file, what was expected and what the file has.
    """
    import onnx  # only when a model file is checked: every other command starts without it

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and others from protobuf
        raise ModelError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from exc
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise ModelError(f"{path}: expected one image input for {spec.name}, found {len(inputs)}")
    dims = _dims(inputs[0])
    w, h = spec.input_size
    spatial_ok = (
        len(dims) == 4
        and dims[1] == 3
        and all(d == want or isinstance(d, str) for d, want in zip(dims[2:], (h, w), strict=True))
    )
    if not spatial_ok:
        raise ModelError(f"{path}: input {dims} does not match {spec.name}'s [N, 3, {h}, {w}]")
    outputs = list(model.graph.output)
    if spec.task == "recognition":
        out = _dims(outputs[0]) if len(outputs) == 1 else []
        if len(out) != 2 or out[1] != spec.embedding_size:
            raise ModelError(f"{path}: output {out} does not match {spec.name}'s [N, {spec.embedding_size}]")
    elif spec.decoder == "scrfd" and len(outputs) not in (9, 15):  # score, bbox, kps per stride
        raise ModelError(f"{path}: {len(outputs)} outputs; {spec.name} needs SCRFD's score/bbox/kps outputs")
    elif spec.decoder == "yunet" and len(outputs) != 12:  # cls, obj, bbox, kps at strides 8, 16, 32
        raise ModelError(f"{path}: {len(outputs)} outputs; {spec.name} needs YuNet's cls/obj/bbox/kps outputs")


def verify_model_file(spec: ModelSpec, directory: Path) -> Path:
    """Check that ``spec``'s file is present in ``directory`` and is the model the manifest names.

    Args:
        spec: manifest entry.
        directory: the models directory.

    Returns:
        The file's path.

    Raises:
        ModelError: missing file (with the command that fixes it), checksum or signature mismatch.
    """
    path = directory / spec.file
    if not path.is_file():
        hint = "run `storelens models prepare`" if spec.origin else "place the operator's pack files there"
        earlier = Path("models") / spec.file  # the default before $STORELENS_HOME/models (a documented change)
        if earlier.is_file() and earlier.resolve() != path.resolve():
            hint += f" (or pass --models-dir models: {earlier} is there, where models were prepared before)"
        raise ModelError(f"{path}: model {spec.name} is missing; {hint}")
    if spec.sha256:
        actual = sha256_file(path)
        if actual != spec.sha256:
            raise ModelError(
                f"{path}: checksum mismatch for {spec.name}: sha256 {actual}, manifest expects {spec.sha256}"
            )
        # byte for byte the file the manifest pins, whose signature tests/models/test_manifest.py checks once:
        # no need to load onnx (a second of start-up) on every run
        return path
    check_signature(spec, path)  # an operator's pack, not pinned: its inputs and outputs must fit the manifest
    return path
