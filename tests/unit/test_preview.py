"""The video job's growing HLS preview (``--preview``), read while the job runs: local files
and S3, chunks finishing out of order, the closed playlist against the source."""

from __future__ import annotations

import io
import re
from fractions import Fraction
from pathlib import Path

import av
import pytest

from rayapp import storage
from rayapp.config import VideoJobConfig
from rayapp.errors import ConfigError
from rayapp.pipeline import run_video_job
from rayapp.pipeline.progress import ProgressEvent
from rayapp.testing import NearestUpscaler, make_test_video, read_frame_index, stream_packets
from rayapp.video import probe

FRAMES, CHUNK = 24, 6  # keyframes every 6 frames: four chunks, four segments


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_test_video(str(tmp_path_factory.mktemp("preview") / "in.mp4"), frames=FRAMES, gop=6)


def segment_frames(uri: str, init: str | None = None) -> tuple[list[int], int, Fraction]:
    """The frame indices a segment shows (an fMP4 one read after its ``init``), its audio
    packets, and the time its first frame is shown at."""
    data = (storage.read_bytes(init) if init else b"") + storage.read_bytes(uri)
    with av.open(io.BytesIO(data)) as c:
        decoded = list(c.decode(video=0))
        shown = [read_frame_index(fr.to_ndarray(format="rgb24")) for fr in decoded]
        first_s = decoded[0].pts * decoded[0].time_base
    with av.open(io.BytesIO(data)) as c:
        audio = sum(1 for p in c.demux(audio=0) if p.size)
    return shown, audio, first_s


def run_with_preview(source: str, output: str, **fields: object) -> list[str]:
    """Run the job with ``--preview``; the playlist as it stood at each progress event."""
    playlist = f"{output}.preview/index.m3u8"
    seen: list[str] = []

    def look(event: ProgressEvent) -> None:
        seen.append(storage.read_bytes(playlist).decode() if storage.exists(playlist) else "")

    config = VideoJobConfig(
        input=source, output=output, preview=True, chunk_frames=CHUNK, segment_s=0.25, **fields
    )
    run_video_job(config, runner="local", upscaler=NearestUpscaler(2), progress=[look])
    return seen


def check_preview(source: str, output: str, seen: list[str], suffix: str = ".ts") -> None:
    """At least two non-empty states while the job ran, each a prefix of the next; every
    segment starts at its chunk's first frame, at that frame's time in the source (shifted
    by the preview's 10 s); the closed playlist plays every frame and every audio packet
    of the source, once."""
    growing = [s for s in dict.fromkeys(seen) if "#EXTINF" in s]
    assert len(growing) >= 2 and all("#EXT-X-ENDLIST" not in s for s in seen)
    for earlier, later in zip(growing, growing[1:], strict=False):
        assert later.startswith(earlier)  # segments only added, at the end
    final = storage.read_bytes(f"{output}.preview/index.m3u8").decode()
    assert final.startswith("#EXTM3U\n") and final.endswith("#EXT-X-ENDLIST\n")
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in final
    names = [line for line in final.splitlines() if line and not line.startswith("#")]
    assert names == [f"segment-{i:09d}{suffix}" for i in range(0, FRAMES, CHUNK)]
    inits = re.findall(r'#EXT-X-MAP:URI="([^"]+)"', final)
    fmp4 = suffix == ".m4s"
    assert inits == ([n.replace(".m4s", ".init.mp4") for n in names] if fmp4 else [])
    assert f"#EXT-X-VERSION:{7 if fmp4 else 3}" in final
    times = [t * probe(source).video.time_base for t in probe(source).video.frame_pts]
    shown, audio = [], 0
    for i, (name, first) in enumerate(zip(names, range(0, FRAMES, CHUNK), strict=True)):
        init = f"{output}.preview/{inits[i]}" if fmp4 else None
        frames, packets, first_s = segment_frames(f"{output}.preview/{name}", init)
        assert frames[0] == first
        assert first_s == times[first] + 10
        shown += frames
        audio += packets
    assert shown == list(range(FRAMES))
    assert audio == len(stream_packets(source, "audio"))


def test_the_preview_grows_while_the_job_runs_and_plays_everything(
    source: str, tmp_path: Path
) -> None:
    output = str(tmp_path / "out.mp4")
    seen = run_with_preview(source, output, keep_preview=True)
    check_preview(source, output, seen)
    assert (tmp_path / "out.mp4").exists()


def test_the_preview_on_s3_and_gone_after_success(source: str, s3_bucket: str) -> None:
    output = f"{s3_bucket}/hd/out.mp4"
    seen = run_with_preview(source, output, keep_preview=True)
    check_preview(source, output, seen)
    run_with_preview(source, f"{s3_bucket}/hd/again.mp4")  # not kept: removed at the end
    assert storage.exists(f"{s3_bucket}/hd/again.mp4")
    assert not storage.exists(f"{s3_bucket}/hd/again.mp4.preview/index.m3u8")


def test_chunks_finishing_out_of_order_publish_in_frame_order(source: str, tmp_path: Path) -> None:
    from rayapp.pipeline import plan_video_job
    from rayapp.pipeline.video._preview import Preview

    output = str(tmp_path / "out.mp4")
    config = VideoJobConfig(input=source, output=output, chunk_frames=CHUNK, segment_s=0.25)
    chunks = {}

    def keep(event: ProgressEvent) -> None:
        if event.chunk is not None:
            chunks[event.chunk.chunk.first_frame_index] = event.chunk.chunk

    # The chunks themselves, from a job that keeps its work prefix.
    job = config.model_copy(update={"keep_work": True})
    run_video_job(job, runner="local", upscaler=NearestUpscaler(2), progress=[keep])
    preview = Preview(plan_video_job(config, NearestUpscaler(2)), output)
    published = []
    for first in (12, 18, 6, 0):
        preview.add(chunks[first])
        published.append(preview.published)
    assert published == [0, 0, 0, 4]
    preview.close()
    assert storage.read_bytes(preview.playlist).decode().endswith("#EXT-X-ENDLIST\n")


@pytest.mark.parametrize("codec", ["hevc", "av1"])
def test_hevc_and_av1_previews_are_fragmented_mp4(source: str, tmp_path: Path, codec: str) -> None:
    output = str(tmp_path / "out.mp4")
    seen = run_with_preview(source, output, keep_preview=True, codec=codec)
    check_preview(source, output, seen, suffix=".m4s")


def test_a_preview_of_a_codec_it_cannot_carry_is_refused_before_any_work(
    source: str, tmp_path: Path
) -> None:
    config = VideoJobConfig(
        input=source, output=str(tmp_path / "out.mkv"), preview=True, codec="vp9"
    )
    with pytest.raises(ConfigError, match="this job encodes vp9"):
        run_video_job(config, runner="local", upscaler=NearestUpscaler(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == []
