"""One small video job for the tests that submit it to a Ray head: its input on S3, its
command line, and the check that its output is whole."""

from __future__ import annotations

import sys
from pathlib import Path

from rayapp import storage
from rayapp.testing import decode_video, make_test_video, stream_packets

FRAMES = 24
SIZE, OUT_SIZE = "32x24", "64x48"


def make_job(bucket: str, *options: str) -> tuple[str, str, list[str]]:
    """Writes the input; returns (input URI, output URI, the job's entrypoint)."""
    src, out = f"{bucket}/in.mp4", f"{bucket}/out.mp4"
    make_test_video(src, frames=FRAMES, width=32, height=24, gop=12, audio=True)
    entrypoint = [
        # The venv's interpreter by absolute path: the job's shell has no venv on its PATH.
        sys.executable, "-m", "jobs.upscale_video",
        "--input", src,
        "--output", out,
        "--outscale", "2",
        "--segment-s", "0.5",
        "--chunk-frames", "6",
        *options,
    ]  # fmt: skip
    return src, out, entrypoint


def wrote_line(out: str) -> str:
    """What the job prints on success."""
    return f"wrote {out}: {FRAMES} frames, {SIZE} -> {OUT_SIZE}"


def assert_whole_output(src: str, out: str, tmp_path: Path) -> None:
    """Every frame at its time and showing its own pattern; the audio packets untouched."""
    src_file, out_file = str(tmp_path / "in.mp4"), str(tmp_path / "out.mp4")
    Path(src_file).write_bytes(storage.read_bytes(src))
    Path(out_file).write_bytes(storage.read_bytes(out))
    want, got = decode_video(src_file), decode_video(out_file)
    assert len(got.pts) == len(want.pts) == FRAMES
    assert got.pts == want.pts
    assert got.time_base == want.time_base
    assert got.indices == list(range(FRAMES))
    want_audio = [bytes(p) for p in stream_packets(src_file, "audio")]
    got_audio = [bytes(p) for p in stream_packets(out_file, "audio")]
    assert len(want_audio) == 17  # 1 s of 16 kHz AAC: 16 frames of 1024 samples, and priming
    assert got_audio == want_audio
