"""The video job on the local runner with a test upscaler, as the unit tests call it, and
what its output must keep of its source."""

from __future__ import annotations

from typing import Any

from rayapp.config import VideoJobConfig
from rayapp.pipeline import FrameUpscaler, VideoJobResult, run_video_job
from rayapp.testing import decode_video, stream_packets, subtitle_cues
from rayapp.video import probe


def upscale_locally(src: str, out: str, upscaler: FrameUpscaler, **fields: Any) -> VideoJobResult:
    """``run_video_job`` of ``src`` into ``out`` in this process; ``fields`` are the
    ``VideoJobConfig``'s (segment_s, preset, work, keep_work, ...)."""
    config = VideoJobConfig(input=src, output=out, **fields)
    return run_video_job(config, runner="local", upscaler=upscaler, progress=())


def check_output(src: str, out: str, scale: int = 2) -> None:
    """Everything the output must keep from the source, checked exactly."""
    source, output = probe(src), probe(out)
    sv, ov = source.video, output.video
    assert (ov.width, ov.height) == (sv.width * scale, sv.height * scale)
    assert ov.frame_count == sv.frame_count
    decoded = decode_video(out)
    # The content: every frame once, in order (each frame shows its own index).
    assert decoded.indices == list(range(sv.frame_count))
    # The timeline: source pts rescaled to the output time base.
    assert decoded.pts == [round(p * sv.time_base / decoded.time_base) for p in sv.frame_pts]
    frame_s = (
        max(b - a for a, b in zip(sv.frame_pts, sv.frame_pts[1:], strict=False)) * sv.time_base
    )
    assert abs(ov.duration_s - sv.duration_s) <= frame_s
    assert ov.colour == sv.colour
    assert ov.rotation == sv.rotation
    src_audio, out_audio = stream_packets(src, "audio"), stream_packets(out, "audio")
    assert [bytes(p) for p in out_audio] == [bytes(p) for p in src_audio]
    if source.subtitles:
        assert subtitle_cues(out) == subtitle_cues(src)
