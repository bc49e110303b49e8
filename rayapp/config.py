"""Typed configuration: the one home of every default.

The CLI, the jobs, the Serve YAML and the cluster configs use these names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from rayapp.codecs import CodecName, codec_spec
from rayapp.image_formats import IMAGE_FORMATS

__all__ = [
    "DEFAULT_DEDUP_THRESHOLD",
    "DEFAULT_DEFLICKER_STRENGTH",
    "DEFLICKER_REACH",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MODEL",
    "INSTANCES",
    "Device",
    "EvaluateJobConfig",
    "ImagesJobConfig",
    "Instance",
    "PlanOptions",
    "Precision",
    "ReplicaConfig",
    "ServeConfig",
    "ServeStoreConfig",
    "UpscaleConfig",
    "VideoJobConfig",
    "final_scale",
    "scaled_size",
]

Precision = Literal["auto", "fp32", "fp16", "bf16"]
Device = str  # "auto" | "cpu" | "cuda" | "cuda:<i>"
OutputFormat = Literal[("same", *IMAGE_FORMATS)]  # type: ignore[valid-type]

DEFAULT_MODEL = "realesr-animevideov3"
# Larger images are refused (pixels): a decoded 64 MP image is 192 MB, and 16x its upscale
# would not fit a replica.
DEFAULT_MAX_PIXELS = 64_000_000
# A frame whose 16x16 blocks differ from the last frame upscaled by at most this mean
# absolute difference (0-255) repeats it; chosen by measurement (rayapp.pipeline.stages._dedup).
DEFAULT_DEDUP_THRESHOLD = 4.0
# --deflicker's weight of each neighbour against the frame itself; chosen by measurement
# (docs/benchmarks.md, "temporal").
DEFAULT_DEFLICKER_STRENGTH = 1.0
# Frames --deflicker reads on either side of a frame (rayapp.deflicker), so a chunk's plan
# gives it that many frames around it.
DEFLICKER_REACH = 1
# Frames on either side whose faces' landmarks steady a frame's (rayapp.faces, --face-enhance
# in video), so a chunk's plan gives it that many frames around it.
FACE_REACH = 3
MAX_OUTSCALE = 16.0
MAX_URI_LENGTH = 2048
# Forwarded from the submitting process to every Ray worker of a job, so that the same command
# reaches the same object store from every node (AWS, an S3-compatible store, a local test
# server) and the same weights.
FORWARDED_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_PROFILE",
    "RAYAPP_CACHE_DIR",
    "RAYAPP_STORAGE_RETRY_S",
    "RAYAPP_OFFLINE",
)


def final_scale(outscale: float | None, native_scale: int) -> float:
    """The output's scale relative to the input: ``outscale`` if given, else the model's own."""
    return outscale or float(native_scale)


def scaled_size(height: int, width: int, outscale: float) -> tuple[int, int]:
    """(height, width) of an image of ``height`` x ``width`` upscaled by ``outscale``."""
    return round(height * outscale), round(width * outscale)


class UpscaleConfig(BaseModel):
    """How one model replica upscales: which model, on what, at what precision and scale."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(
        DEFAULT_MODEL,
        description="Registry name (see `rayapp models`) or a checkpoint path/URI.",
    )
    weights: str | None = Field(
        None, description="Explicit checkpoint path/URI for a registry model (overrides sources)."
    )
    device: Device = Field("auto", description="auto | cpu | cuda | cuda:<index>.")
    precision: Precision = Field(
        "auto",
        description="auto: fp16 on CUDA where the architecture allows, bf16 on a CPU with "
        "native bf16 (avx512_bf16, AMX), else fp32.",
    )
    outscale: float | None = Field(
        None,
        gt=0,
        le=MAX_OUTSCALE,
        description="Final scale relative to the input (e.g. 1.5, 2, 3); default: the model's.",
    )
    tile: int = Field(
        0, ge=0, description="Tile size in input pixels for large images; 0 = no tiling."
    )
    tile_overlap: int = Field(
        24, ge=0, description="Overlap between neighbouring tiles, in input pixels."
    )
    compile: bool = Field(
        False,
        description="CPU fp32: compile the network with TorchInductor at load (6-60 s, "
        "same outputs, ~5-35% faster on SRVGGNetCompact; minutes for RRDBNet).",
    )
    face_enhance: str | None = Field(
        None,
        max_length=MAX_URI_LENGTH,
        description="A face-restoration checkpoint (GFPGAN 1.2-1.4 or RestoreFormer, path or "
        "URI): every face found (MTCNN, on the picture before the upscale) is aligned, "
        "restored by it and pasted back into the upscale; a picture with no face is the "
        "plain upscale. In video, each face's landmarks are steadied over the frames "
        "around it first.",
    )
    face_strength: float = Field(
        1.0,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="--face-enhance: how much of the restored face replaces the upscaled one "
        "(1: all of it, as GFPGAN's own pipeline does).",
    )

    @property
    def identity(self) -> str:
        """What decides the pixels this config makes (a job's fingerprint): every field
        but ``compile`` (a compiled network makes the same pixels)."""
        return self.model_dump_json(exclude={"compile"})

    @field_validator("outscale")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError(f"outscale must be a finite number, got {v}")
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        head, _, index = v.partition(":")
        if head not in ("auto", "cpu", "cuda") or (index and not index.isdigit()):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:<index>, got {v!r}")
        return v


class ReplicaConfig(BaseModel):
    """How many model replicas, and what each one asks of the cluster."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_replicas: int = Field(1, ge=1, description="Replicas kept while the job runs.")
    max_replicas: int = Field(2, ge=1, description="Replicas the pool may scale up to.")
    num_gpus_per_replica: float = Field(
        0.0, ge=0, le=8, description="GPUs per replica (fractional, e.g. 0.25); 0 on CPU clusters."
    )
    num_cpus_per_replica: float = Field(
        0.75, gt=0, description="Logical CPUs per replica (leave room for decode tasks)."
    )
    threads_per_replica: int | None = Field(
        None, ge=1, description="torch threads per replica; default: host cores / max_replicas."
    )
    encoders_per_replica: int | None = Field(
        None,
        ge=1,
        description="Chunks a replica encodes at once; default: with its model on a GPU, one "
        "single-threaded encoder per CPU of its share of the node, else one.",
    )

    @model_validator(mode="after")
    def _range(self) -> ReplicaConfig:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas {self.min_replicas} is more than max_replicas {self.max_replicas}"
            )
        return self


class VideoJobConfig(BaseModel):
    """One video job: input and output URIs, the model, the encoder, the replicas."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: str = Field(
        ...,
        max_length=MAX_URI_LENGTH,
        description="Source video URI (s3://, gs://, file path, memory://).",
    )
    output: str = Field(
        ...,
        max_length=MAX_URI_LENGTH,
        description="Output URI; the container comes from its extension.",
    )
    upscale: UpscaleConfig = Field(default_factory=UpscaleConfig)
    mode: Literal["upscale", "downscale"] = Field(
        "upscale",
        description="upscale: through the model (a small copy made by a downscale job comes "
        "back at exactly its recorded original size); downscale: store a small copy "
        "(bicubic, antialiased), the original's size recorded in the container.",
    )
    downscale: float = Field(
        4.0,
        gt=1,
        le=MAX_OUTSCALE,
        allow_inf_nan=False,
        description="mode=downscale: the factor to shrink by.",
    )
    codec: CodecName = Field(
        "h264",
        description="Output codec: a family (h264, hevc, av1, vp9: NVENC on a replica with "
        "a CUDA GPU, else the CPU encoder) or an encoder by name (libx264, h264_nvenc, ...).",
    )
    crf: int | None = Field(
        None, ge=0, le=63, description="Encoder quality, lower is better; the codec's default."
    )
    preset: str | None = Field(None, description="Encoder preset; the codec's default.")
    deinterlace: Literal["auto", "on", "off", "double"] = Field(
        "auto",
        description="auto: deinterlace a source whose stream or frames say it is interlaced, "
        "or whose first frames FFmpeg's idet finds so (bwdif, one frame per frame: every "
        "source timestamp kept) before the model; on: "
        "always; off: never (woven fields are upscaled as one picture); double: a frame per "
        "field (50 frames a second from 25i; the certificate expects twice the frames, each "
        "source frame's second at half its duration). The output is progressive.",
    )
    ivtc: bool = Field(
        False,
        description="Telecined film (3:2 pulldown): put each frame's fields back with their "
        "film frame's (fieldmatch; bwdif only where still combed), drop the pulldown's repeat "
        "of every five frames and show the four kept evenly: 23.976 frames a second from "
        "29.97, the certificate expecting that timeline. Whatever --deinterlace says.",
    )
    segment_s: float = Field(
        4.0,
        gt=0,
        le=600,
        allow_inf_nan=False,
        description="Target segment length in seconds (keyframe-aligned decode unit).",
    )
    chunk_frames: int | None = Field(
        None,
        ge=1,
        le=10_000,
        description="Most frames per encoded chunk (the unit of retry and resume). Chunks are "
        "cut at the source's scene cuts and split inside a scene only where it is longer; "
        "default: 10 seconds' worth (a longer scene in equal parts, finer on a short clip "
        "where that keeps every replica's encoders busy to the end).",
    )
    scene_cuts: bool = Field(
        True,
        description="Cut chunks where the picture cuts, so that no chunk's keyframe steps "
        "inside a scene (every frame is decoded once more before the job, at about the "
        "source's decode speed); off: chunks by frame count alone.",
    )
    deflicker: bool = Field(
        False,
        description="Blend each upscaled frame with its neighbours brought onto it along the "
        "source's motion, where that motion can be trusted, never across a scene cut: less "
        "shimmer and crawl from frame-by-frame upscaling. A chunk reads the frames around it, "
        "so where the video is cut never changes a frame.",
    )
    deflicker_strength: float = Field(
        DEFAULT_DEFLICKER_STRENGTH,
        gt=0,
        le=8,
        allow_inf_nan=False,
        description="--deflicker: how much each neighbour weighs against the frame itself.",
    )
    interpolate: int = Field(
        1,
        ge=1,
        le=4,
        description="Frames per source frame in the output (2, 3 or 4; 1: the source's "
        "rate): the frames between each source frame and the next are made after the "
        "upscale, at evenly divided times (a variable rate's own intervals), the duration, "
        "audio and subtitles kept. Across a scene cut, after a held frame and after the last "
        "frame, the new frames repeat the frame before.",
    )
    interpolator: str = Field(
        "flow",
        max_length=MAX_URI_LENGTH,
        description="--interpolate: flow (optical flow both ways on the source frames, no "
        "weights) or the path or URI of a RIFE checkpoint (flownet.pkl of RIFE 4.6, 4.25 "
        "or 4.26), run on the replica's device.",
    )
    # Batch 1 was measured fastest per frame on CPU; on a GPU larger batches may pay.
    micro_batch: int = Field(1, ge=1, description="Frames per model forward inside a replica.")
    dedup: bool = Field(
        True,
        description="A frame that repeats the last one upscaled (animation holds drawings for "
        "2-3 frames) reuses its result instead of running the network.",
    )
    dedup_threshold: float = Field(
        DEFAULT_DEDUP_THRESHOLD,
        ge=0,
        le=255,
        allow_inf_nan=False,
        description="How far a frame may differ from the last one upscaled and still repeat "
        "it: the largest mean absolute difference over 16x16 blocks, on 0-255 (0: exact "
        "repeats only); the default sits above x264 crf 18-23 compression noise.",
    )
    report_frames: int = Field(
        32,
        ge=0,
        le=10_000,
        description="Frames the job's certificate decodes for consistency and temporal "
        "quality, spread over the clip (0: integrity only).",
    )
    estimate: bool = Field(
        False,
        description="Plan first (rayapp plan, timed on a replica) and state the estimated "
        "duration against the actual one in the report.",
    )
    replicas: ReplicaConfig = Field(default_factory=ReplicaConfig)
    work: str | None = Field(
        None, description="Work prefix for chunks; default: next to the output (resumable)."
    )
    keep_work: bool = Field(False, description="Keep the work prefix after success.")
    preview: bool = Field(
        False,
        description="Publish the finished chunks, in frame order and with the source's audio, "
        "as a growing HLS playlist at <output>.preview/index.m3u8 while the job runs "
        "(H.264, HEVC or AV1).",
    )
    keep_preview: bool = Field(
        False, description="Keep the preview after success (it goes with the work prefix)."
    )
    max_chunk_retries: int = Field(
        3, ge=0, description="Retries of a chunk whose replica died (crashes, not bad frames)."
    )

    @property
    def effective_dedup_threshold(self) -> float | None:
        """The repeat threshold the job uses: None when ``dedup`` is off."""
        return self.dedup_threshold if self.dedup else None

    @model_validator(mode="after")
    def _crf_in_codec_range(self) -> VideoJobConfig:
        codec_spec(self.codec).check_crf(self.crf)  # a ValueError: reported
        return self

    @model_validator(mode="after")
    def _windows_alone(self) -> VideoJobConfig:
        """--interpolate and --face-enhance read frames around a run's; the stages that
        read other windows of frames do not compose with them yet."""
        for asked, name, clashes in (
            (
                self.interpolate > 1,
                "--interpolate",
                (
                    ("--deflicker", self.deflicker),
                    ("--deinterlace double", self.deinterlace == "double"),
                    ("--ivtc", self.ivtc),
                    ("mode downscale", self.mode == "downscale"),
                ),
            ),
            (
                self.upscale.face_enhance is not None,
                "--face-enhance",
                (
                    ("--deflicker", self.deflicker),
                    ("--interpolate", self.interpolate > 1),
                    ("mode downscale", self.mode == "downscale"),
                ),
            ),
        ):
            clash = [what for what, on in clashes if on]
            if asked and clash:
                raise ValueError(f"{name} does not go with {' or '.join(clash)}")
        return self


@dataclass(frozen=True)
class Instance:
    """A cloud instance type the cluster configs use: what it holds and costs per hour."""

    name: str
    gpu: str | None  # the GPU's name (a key of the planner's stored timings), None: CPU only
    gpus: int
    vcpus: int
    usd_per_hour: float | None  # on demand, us-west-2, approximate


# Prices as cluster_configs/README.md states them (on demand, us-west-2, approximate).
INSTANCES = {
    i.name: i
    for i in (
        Instance("g5.xlarge", "A10G", 1, 4, 1.006),
        Instance("g6.xlarge", "L4", 1, 4, 0.805),
        Instance("c6i.2xlarge", None, 0, 8, 0.34),
        Instance("p5.4xlarge", "H100", 1, 16, None),
    )
}


class PlanOptions(BaseModel):
    """What to plan for, besides the job itself (``rayapp plan``, ``--dry-run``, POST)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    replicas: int | None = Field(None, ge=1, description="Replicas to estimate for; default: "
                                 "the job's max_replicas.")  # fmt: skip
    deadline: str | None = Field(
        None, description="Also find the fewest replicas that finish within it (90s, 15m, 2h)."
    )
    instance: str | None = Field(
        None, description=f"Estimate on these nodes, from stored timings and prices "
        f"({', '.join(INSTANCES)}); default: time the model on this cluster.",
    )  # fmt: skip


class ImagesJobConfig(BaseModel):
    """Every image under an input prefix, upscaled to the same relative names under an
    output prefix; outputs that already exist are skipped."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: str = Field(..., description="Input prefix URI (s3://b/lowres/, a directory, ...).")
    output: str = Field(..., description="Output prefix URI; same relative names as the input.")
    upscale: UpscaleConfig = Field(default_factory=UpscaleConfig)
    format: OutputFormat = Field(
        "same", description="Output format; 'same' keeps each input's format."
    )
    replicas: ReplicaConfig = Field(default_factory=ReplicaConfig)
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, gt=0, description="Refuse larger inputs (pixels).")


class EvaluateJobConfig(BaseModel):
    """Would a small copy, upscaled on read, be good enough for this content? Every image
    under an input prefix of originals, at each scale, through each model: downscaled,
    stored, upscaled back to the original size and measured against the original."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: str = Field(..., description="Prefix of original images (s3://b/originals/, ...).")
    output: str = Field(
        ..., description="Prefix for evaluation.csv, evaluation.html and the small copies."
    )
    models: tuple[str, ...] = Field(
        (DEFAULT_MODEL, "bicubic"),
        min_length=1,
        description="Models to compare (registry names or checkpoints); 'bicubic' is plain "
        "bicubic resizing, the baseline.",
    )
    scales: tuple[float, ...] = Field(
        (2.0, 4.0), min_length=1, description="Downscale factors to try (each above 1)."
    )
    format: OutputFormat = Field(
        "same", description="Format of the stored small copy; 'same' keeps each original's."
    )
    image_quality: int = Field(
        95, ge=1, le=100, description="JPEG/WebP quality of the stored small copy."
    )
    upscale: UpscaleConfig = Field(
        default_factory=UpscaleConfig,
        description="Device, precision and tiling of the replicas; the models and scales "
        "come from `models` and `scales`.",
    )
    replicas: ReplicaConfig = Field(default_factory=ReplicaConfig)
    max_pixels: int = Field(
        DEFAULT_MAX_PIXELS, gt=0, description="Refuse larger originals (pixels)."
    )
    keep_upscaled: bool = Field(
        False, description="Also write each upscaled image under <output>/upscaled/."
    )

    @field_validator("scales")
    @classmethod
    def _scales(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        bad = [s for s in v if not (math.isfinite(s) and 1 < s <= MAX_OUTSCALE)]
        if bad:
            raise ValueError(f"each scale must lie in (1, {MAX_OUTSCALE:g}], got {bad[0]}")
        if len(set(v)) != len(v):
            raise ValueError(f"scales are listed twice: {v}")
        return v

    @field_validator("models")
    @classmethod
    def _models(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError(f"models are listed twice: {v}")
        return v

    @model_validator(mode="after")
    def _one_source_of_models(self) -> EvaluateJobConfig:
        given = self.upscale.model_fields_set & {"model", "weights", "outscale"}
        if given:
            raise ValueError(
                f"upscale.{sorted(given)[0]} is not used by the evaluation; "
                "list the models in `models` and the factors in `scales`"
            )
        return self


# -- Serve ------------------------------------------------------------------------------
# One ``ServeConfig`` drives `serve run serve/config.yaml` (its `args:`), `build_app(...)`
# in tests, and the deployments' options: nothing tunable lives anywhere else.


class ServeAutoscalingConfig(BaseModel):
    """Serve autoscaling of the model pool (see Ray Serve's ``autoscaling_config``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_replicas: int = Field(1, ge=0, description="Replicas kept when idle.")
    max_replicas: int = Field(2, ge=1, description="Most replicas the pool scales up to.")
    target_ongoing_requests: float = Field(
        4.0, gt=0, description="Ongoing requests per replica the autoscaler aims for."
    )
    upscale_delay_s: float = Field(5.0, ge=0, description="Sustained load before adding.")
    downscale_delay_s: float = Field(60.0, ge=0, description="Sustained idle before removing.")


class ServeModelPoolConfig(BaseModel):
    """The model deployment: one pool of replicas serving every configured model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    models: list[str] = Field(
        default_factory=lambda: [DEFAULT_MODEL, "realesrgan-x4plus-anime"],
        min_length=1,
        description="Registry names clients may ask for; the first is the default.",
    )
    device: Device = Field("auto", description="auto | cpu | cuda | cuda:<index>.")
    precision: Precision = Field("auto", description="As in UpscaleConfig.")
    num_gpus_per_replica: float = Field(
        0.0, ge=0, le=8, description="GPUs per replica (fractional, e.g. 0.25)."
    )
    num_cpus_per_replica: float = Field(1.0, gt=0, description="Logical CPUs per replica.")
    threads_per_replica: int | None = Field(
        None, ge=1, description="torch threads per replica; default: torch's own."
    )
    max_models_per_replica: int = Field(
        2, ge=1, description="Models a replica keeps loaded (LRU, Serve model multiplexing)."
    )
    max_batch_size: int = Field(8, ge=1, description="Most requests in one forward.")
    batch_wait_timeout_s: float = Field(
        0.02, ge=0, description="How long a batch waits to fill before it runs."
    )
    max_ongoing_requests: int = Field(16, ge=1, description="In-flight requests per replica.")
    max_queued_requests: int = Field(
        32, ge=-1, description="Requests queued per caller beyond that; more get 503 (-1: none)."
    )
    autoscaling: ServeAutoscalingConfig = Field(default_factory=ServeAutoscalingConfig)
    face_enhance: str | None = Field(
        None,
        max_length=MAX_URI_LENGTH,
        description="The face-restoration checkpoint behind a request's faces=true (on "
        "/v1/upscale and /v1/jobs; loaded by a replica at the first such request). None: "
        "such requests are refused.",
    )
    face_strength: float = Field(
        1.0, ge=0, le=1, allow_inf_nan=False, description="As UpscaleConfig.face_strength."
    )


class ServeIngressConfig(BaseModel):
    """The HTTP ingress deployment (validation, decode/encode, routing)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    num_replicas: int = Field(1, ge=1, description="Ingress replicas.")
    num_cpus: float = Field(0.5, gt=0, description="Logical CPUs per ingress replica.")
    max_ongoing_requests: int = Field(64, ge=1, description="In-flight requests per replica.")
    max_queued_requests: int = Field(
        128, ge=-1, description="Requests queued at the proxy beyond that; more get 503."
    )
    retry_after_s: int = Field(1, ge=1, description="Retry-After of a 503 (seconds).")


class ServeLimits(BaseModel):
    """What one request may ask for; beyond it the answer is a 4xx, never a decode."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_body_bytes: int = Field(8_000_000, gt=0, description="Largest request body (bytes).")
    max_input_pixels: int = Field(
        4_000_000, gt=0, description="Largest input image (pixels, from the header)."
    )
    max_output_pixels: int = Field(
        16_000_000, gt=0, description="Largest output image (pixels) a request may produce."
    )
    auto_tile: int = Field(
        512,
        ge=0,
        description="Inputs with a side above this run in tiles of this size when the request "
        "asks no tiling (bounds a replica's memory); 0 = never.",
    )
    max_outscale: float = Field(
        MAX_OUTSCALE, gt=0, le=MAX_OUTSCALE, description="Largest outscale a request may ask."
    )
    max_tile: int = Field(2048, ge=0, description="Largest tile size a request may ask.")


class ServeJobsConfig(BaseModel):
    """``/v1/jobs``: video jobs submitted to the Ray cluster's job API."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(False, description="Serve the /v1/jobs routes.")
    allowed_prefixes: list[str] = Field(
        default_factory=list,
        description="URI prefixes inputs and outputs must lie under (e.g. s3://bucket/videos/).",
    )
    dashboard_address: str | None = Field(
        None, description="Ray dashboard URL for job submission; default: this cluster's."
    )
    working_dir: str | None = Field(
        None, description="working_dir of the submitted jobs; default: the repository."
    )
    forward_env: list[str] = Field(
        default_factory=lambda: list(FORWARDED_ENV),
        description="Environment variables copied from the ingress replica into each job.",
    )
    replicas: ReplicaConfig = Field(
        default_factory=lambda: ReplicaConfig(max_replicas=1, num_cpus_per_replica=0.5),
        description="Model replicas of each job (the operator's choice, not the client's).",
    )
    interpolator: str = Field(
        "flow",
        max_length=MAX_URI_LENGTH,
        description="The interpolator of a job that asks for interpolate: flow, or a RIFE "
        "checkpoint's path or URI (the operator's, as the weights are).",
    )
    face_enhance: str | None = Field(
        None,
        max_length=MAX_URI_LENGTH,
        description="The face-restoration checkpoint of a job that asks for faces (the "
        "operator's, as the weights are); None: such jobs are refused.",
    )
    retention_s: float = Field(
        7 * 24 * 3600.0,
        gt=0,
        allow_inf_nan=False,
        description="How long a finished job stays known (its status, preview and output "
        "routes) after it ended; then it is forgotten, as DELETE forgets it.",
    )


class ServeStoreConfig(BaseModel):
    """Store small, upscale on read: ``PUT /v1/objects/{key}`` keeps a downscaled copy under
    ``prefix``, ``GET`` returns it upscaled back to the original's size."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prefix: str | None = Field(
        None,
        description="Where small copies live (s3://bucket/small/, file:///data/small/); "
        "unset: the /v1/objects routes answer 404.",
    )
    scale: float = Field(4.0, gt=1, description="Default downscale factor of a PUT.")
    format: OutputFormat = Field(
        "same", description="Format of the stored copy; 'same' keeps the original's."
    )
    image_quality: int = Field(95, ge=1, le=100, description="JPEG/WebP quality when storing.")


class ServeConfig(BaseModel):
    """Everything `serve/app.py:build_app` needs; the `args:` of serve/config.yaml."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pool: ServeModelPoolConfig = Field(default_factory=ServeModelPoolConfig)
    ingress: ServeIngressConfig = Field(default_factory=ServeIngressConfig)
    limits: ServeLimits = Field(default_factory=ServeLimits)
    jobs: ServeJobsConfig = Field(default_factory=ServeJobsConfig)
    store: ServeStoreConfig = Field(default_factory=ServeStoreConfig)
    auth_token: SecretStr | None = Field(
        None, description="Bearer token for every /v1 route; prefer auth_token_env."
    )
    auth_token_env: str | None = Field(
        None, description="Name of an environment variable holding the bearer token."
    )
