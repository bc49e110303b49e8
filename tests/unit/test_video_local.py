"""The video job on the local runner end to end on generated files, with NearestUpscaler and
the real model."""

from __future__ import annotations

from pathlib import Path

import av
import fsspec
import pytest

from rayapp.config import VideoJobConfig
from rayapp.pipeline import TqdmProgress, run_video_job
from rayapp.testing import (
    NearestUpscaler,
    decode_video,
    make_test_video,
)
from rayapp.video import probe
from tests.local_job import check_output as _check_output
from tests.local_job import upscale_locally


@pytest.mark.parametrize("ext", [".mkv", ".mp4", ".mov"])
def test_bframes_multi_segment(bframes_mkv: str, tmp_path: Path, ext: str) -> None:
    out = str(tmp_path / f"out{ext}")
    result = upscale_locally(
        bframes_mkv, out, NearestUpscaler(2), segment_s=0.5, chunk_frames=12, preset="ultrafast"
    )
    got = (result.output_uri, result.frames, result.duration_s, result.input_size)
    assert got == (out, 48, probe(bframes_mkv).video.duration_s, (64, 48))
    assert (result.output_size, result.video_codec, result.segments) == ((128, 96), "h264", 4)
    assert (result.chunks_total, result.chunks_reused) == (4, 0)
    _check_output(bframes_mkv, out)


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_variable_frame_rate_and_colour(vfr_mp4: str, tmp_path: Path, ext: str) -> None:
    out = str(tmp_path / f"out{ext}")
    # veryfast keeps B-frames in the output, so chunk boundaries meet shifted DTS.
    upscale_locally(vfr_mp4, out, NearestUpscaler(2), segment_s=0.4, preset="veryfast")
    _check_output(vfr_mp4, out)
    assert probe(out).video.colour.describe() == "range=tv primaries=1 transfer=1 matrix=bt709"


@pytest.mark.parametrize(
    ("codec", "preset", "ext", "name"),
    [
        ("libx265", "ultrafast", ".mkv", "hevc"),
        ("libsvtav1", "8", ".mp4", "av1"),
        ("libvpx-vp9", "8", ".mkv", "vp9"),
    ],
)
def test_output_codecs(
    vfr_mp4: str, tmp_path: Path, codec: str, preset: str, ext: str, name: str
) -> None:
    out = str(tmp_path / f"out{ext}")
    result = upscale_locally(
        vfr_mp4, out, NearestUpscaler(2), codec=codec, preset=preset, segment_s=0.4, chunk_frames=12
    )
    assert (result.video_codec, result.segments) == (name, 3)
    _check_output(vfr_mp4, out)


def test_open_gop_hevc_source(open_gop_mkv: str, tmp_path: Path) -> None:
    out = str(tmp_path / "out.mkv")
    result = upscale_locally(
        open_gop_mkv,
        out,
        NearestUpscaler(2),
        segment_s=0.3,
        chunk_frames=8,
        codec="libx265",
        preset="ultrafast",
    )
    assert (result.segments, result.video_codec) == (5, "hevc")
    _check_output(open_gop_mkv, out)


def test_ten_bit_source_stays_ten_bit(ten_bit_mkv: str, tmp_path: Path) -> None:
    out = str(tmp_path / "out.mp4")
    upscale_locally(ten_bit_mkv, out, NearestUpscaler(2), codec="libx265", preset="ultrafast")
    assert (probe(out).video.pix_fmt, probe(out).video.bit_depth) == ("yuv420p10le", 10)
    with av.open(out) as container:  # HEVC in MP4 as Apple's players need it
        assert container.streams.video[0].codec_tag == "hvc1"
    _check_output(ten_bit_mkv, out)


def test_rotation_and_texture_survive(rotated_mov: str, tmp_path: Path) -> None:
    out = str(tmp_path / "out.mp4")
    config = VideoJobConfig(input=rotated_mov, output=out, preset="ultrafast")
    run_video_job(config, runner="local", upscaler=NearestUpscaler(3), progress=[TqdmProgress()])
    _check_output(rotated_mov, out, scale=3)


def test_rerun_with_work_uri_reuses_chunks(bframes_mkv: str, tmp_path: Path) -> None:
    work = tmp_path / "work"
    args = (bframes_mkv, NearestUpscaler(2))
    opts = {"segment_s": 0.5, "chunk_frames": 12, "preset": "ultrafast", "work": str(work)}
    opts["keep_work"] = True
    first = upscale_locally(args[0], str(tmp_path / "a.mkv"), args[1], **opts)
    (folder,) = work.iterdir()  # named by the job's fingerprint
    names = [f"chunk-{i:09d}.mp4" for i in (0, 12, 24, 36)]
    # At each seam inside a scene, both sides keep their frame (output and source).
    seams = [(0, 11), (12, 12), (12, 23), (24, 24), (24, 35), (36, 36)]
    diffs = [f"chunk-{c:09d}.mp4.edge-{t}.{p}.png" for c, t in seams for p in ("out", "src")]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*names, *(n + ".json" for n in names), *diffs]
    )
    second = upscale_locally(args[0], str(tmp_path / "b.mkv"), args[1], **opts)
    assert (first.chunks_reused, second.chunks_reused) == (0, 4)
    _check_output(bframes_mkv, str(tmp_path / "b.mkv"))


def test_memory_uris_in_and_out(tmp_path: Path) -> None:
    fs = fsspec.filesystem("memory")
    src = make_test_video("memory://local-test/in.mkv", frames=12)
    try:
        upscale_locally(src, "memory://local-test/out.mp4", NearestUpscaler(2), preset="ultrafast")
        local = tmp_path / "out.mp4"
        local.write_bytes(fs.cat("/local-test/out.mp4"))
        assert decode_video(str(local)).indices == list(range(12))
    finally:
        fs.rm("/local-test", recursive=True)


@pytest.mark.slow
def test_real_model_on_a_tiny_clip(tmp_path: Path) -> None:
    from rayapp.upscaler import Upscaler

    src = make_test_video(
        str(tmp_path / "in.mkv"), frames=6, width=32, height=24, bframes=2, gop=3, subtitles=[]
    )
    upscaler = Upscaler.load("realesr-animevideov3", device="cpu")
    out = str(tmp_path / "out.mp4")
    result = upscale_locally(src, out, upscaler, segment_s=0.1, chunk_frames=3, preset="ultrafast")
    assert (result.frames, result.output_size, result.segments) == (6, (128, 96), 2)
    _check_output(src, out, scale=4)


def test_progress_sinks_see_every_chunk_and_the_result_its_timings(
    bframes_mkv: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from rayapp.pipeline import LogProgress

    events = []
    config = VideoJobConfig(
        input=bframes_mkv, output=str(tmp_path / "o.mkv"), segment_s=0.5, chunk_frames=6
    )
    with caplog.at_level("INFO", logger="rayapp.progress"):
        result = run_video_job(
            config,
            runner="local",
            upscaler=NearestUpscaler(2),
            progress=[events.append, LogProgress()],
        )
    assert [e.frames_done for e in events] == list(range(0, 49, 6))
    assert [e.chunks_done for e in events] == list(range(9))
    assert events[0].chunk is None and all(e.frames_total == 48 for e in events)
    assert [e.chunk for e in events[1:]] == list(result.chunks)
    assert [c.chunk.first_frame_index for c in result.chunks] == list(range(0, 48, 6))
    assert all(c.finished_at >= c.started_at >= result.started_at for c in result.chunks)
    assert all(0 < c.model_s <= c.elapsed_s for c in result.chunks)
    lines = [r.getMessage() for r in caplog.records if r.name == "rayapp.progress"]
    assert len(lines) == 8 and lines[-1].startswith("frames 48/48 (100.0%), ")
    assert events[-1].to_json()["frames_done"] == 48 and events[-1].eta_s == 0.0
