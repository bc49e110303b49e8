"""Video I/O with PyAV: what a media file holds (``probe``), its keyframe segments, decoding
them, encoding chunks, assembling the output, and reading streams back.

The pieces are plain functions and frozen dataclasses in this package's private modules;
these are the names the rest of rayapp uses (``rayapp.pipeline`` runs them as a job).
"""

from __future__ import annotations

from rayapp.codecs import CODECS
from rayapp.video._assemble import AssembledVideo, assemble, check_coverage
from rayapp.video._captions import captioned_packet
from rayapp.video._chunks import SCENE_CHUNK_S, Cut, Run
from rayapp.video._codecs import EncodeSettings, encoder_usable
from rayapp.video._colour import Colour, HdrMetadata, to_rgb
from rayapp.video._containers import OUTPUT_FORMATS, VIDEO_SUFFIXES
from rayapp.video._decode import (
    DecodedFrame,
    decode_encoded_frames,
    decode_frames_at,
    decode_segment,
)
from rayapp.video._encode import Chunk, ChunkEncoder, chunk_uri
from rayapp.video._film import film_frames, film_rate
from rayapp.video._hls import (
    HLS_CODECS,
    PlaylistEntry,
    hls_init_name,
    hls_playlist,
    hls_segment_name,
    write_hls_segment,
)
from rayapp.video._info import (
    AudioStreamInfo,
    Keyframe,
    MediaInfo,
    OtherStreamInfo,
    SubtitleStreamInfo,
    VideoStreamInfo,
)
from rayapp.video._nvenc import nvenc_reason
from rayapp.video._plan import (
    JobPlan,
    deinterlace_for,
    field_rate,
    multiplied_rate,
    plan_job,
    preflight,
)
from rayapp.video._planes import Yuv420, yuv420_planes
from rayapp.video._probe import check_video_header, probe
from rayapp.video._readback import Cue, stream_cues, stream_payloads
from rayapp.video._scenes import SceneScores, scene_cuts, scene_scores
from rayapp.video._segments import Deinterlace, Segment, plan_segments
from rayapp.video._subtitles import add_text_subtitle_stream

__all__ = [
    "CODECS",
    "HLS_CODECS",
    "OUTPUT_FORMATS",
    "VIDEO_SUFFIXES",
    "AssembledVideo",
    "AudioStreamInfo",
    "Chunk",
    "ChunkEncoder",
    "Colour",
    "Cue",
    "Cut",
    "DecodedFrame",
    "Deinterlace",
    "EncodeSettings",
    "HdrMetadata",
    "JobPlan",
    "Keyframe",
    "MediaInfo",
    "OtherStreamInfo",
    "PlaylistEntry",
    "Run",
    "SCENE_CHUNK_S",
    "SceneScores",
    "Segment",
    "SubtitleStreamInfo",
    "VideoStreamInfo",
    "Yuv420",
    "add_text_subtitle_stream",
    "assemble",
    "captioned_packet",
    "check_coverage",
    "check_video_header",
    "chunk_uri",
    "decode_encoded_frames",
    "decode_frames_at",
    "decode_segment",
    "deinterlace_for",
    "encoder_usable",
    "field_rate",
    "multiplied_rate",
    "film_frames",
    "film_rate",
    "hls_init_name",
    "hls_playlist",
    "hls_segment_name",
    "nvenc_reason",
    "plan_job",
    "plan_segments",
    "preflight",
    "probe",
    "scene_cuts",
    "scene_scores",
    "stream_cues",
    "stream_payloads",
    "to_rgb",
    "write_hls_segment",
    "yuv420_planes",
]
