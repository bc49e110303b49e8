"""The certificate every video job writes beside its output: whole and good on a clean run;
a dropped frame fails its integrity, a grey frame shows as a consistency outlier."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from rayapp.errors import FrameAccountingError
from rayapp.pipeline.certificate._report import integrity, quality, summary
from rayapp.pipeline.certificate._sampled import sampled_frames
from rayapp.testing import NearestUpscaler, SimulatedGpuUpscaler, SubtitleCue, make_test_video
from rayapp.video import probe
from tests.local_job import upscale_locally
from tests.meddling import finished_chunks, strip_captions

CUES = (SubtitleCue(0, 400, "first cue"), SubtitleCue(600, 900, "second cue"))


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, dict]:
    """24 frames with audio and subtitles, upscaled 2x in chunks of 6 (MKV out)."""
    tmp = tmp_path_factory.mktemp("report")
    src = make_test_video(str(tmp / "in.mkv"), frames=24, texture=True, subtitles=CUES)
    out = str(tmp / "out.mkv")
    result = upscale_locally(src, out, NearestUpscaler(2), chunk_frames=6, crf=0)
    return src, out, result.report


def test_a_clean_job_is_certified_whole_and_good(job: tuple[str, str, dict]) -> None:
    src, out, report = job
    assert json.loads(Path(out + ".report.json").read_text()) == report
    checks = report["integrity"]
    assert checks["ok"] and all(v["ok"] for k, v in checks.items() if k != "ok")
    assert (checks["frames"]["source"], checks["frames"]["output"]) == (24, 24)
    assert checks["audio"]["streams"] == [{"items": 17, "identical": True}]
    assert checks["subtitles"]["streams"] == [{"items": 2, "identical": True}]
    measured = report["quality"]
    assert measured["sampled_frames"] == list(range(24))  # a short clip: every frame
    assert measured["consistency"]["ok"] and measured["consistency"]["outliers"] == []
    assert measured["consistency"]["psnr_db"]["min"] > 30  # nearest x2, then back down
    temporal = measured["temporal"]  # one scene: its 3 seams inside it, every pair measured
    seams = [p["frame"] for p in temporal["per_pair"] if p["seam"]]
    assert [p["frame"] for p in temporal["per_pair"]] == list(range(23)) and seams == [5, 11, 17]
    assert (temporal["inside"]["pairs"], temporal["seams"]["pairs"]) == (20, 3)
    assert (temporal["seams"]["inside_scenes"], temporal["seams"]["at_scene_cuts"]) == (3, 0)
    assert temporal["seams"]["worst"]["first_frame_index"] in (6, 12, 18)
    # Lossless chunks: a seam steps no more than the pairs inside chunks move.
    assert temporal["seams"]["max"] < temporal["inside"]["max"]
    speed = report["speed"]
    assert (speed["chunks"], speed["chunks_reused"], speed["frames_skipped"]) == (4, 0, 0)
    assert speed["frames_per_s"] > 0
    line = summary(report)
    assert line.startswith("certificate: integrity ok (24 frames, 1 audio, 1 subtitle stream(s))")
    assert line.endswith(f" -> {out}.report.json")


def _rewrite(src: str, dst: str, *, drop: int | None = None, grey: int | None = None) -> str:
    """The video of ``src`` re-encoded losslessly into ``dst``, frame ``drop`` left out or
    frame ``grey`` painted mid-grey, every other frame at its own pts."""
    with av.open(src) as inp, av.open(dst, "w") as out:
        stream_in = inp.streams.video[0]
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = (
            stream_in.codec_context.width, stream_in.codec_context.height, "yuv444p"
        )  # fmt: skip
        stream.time_base = stream.codec_context.time_base = stream_in.time_base
        stream.codec_context.options = {"crf": "0", "preset": "ultrafast"}
        for i, frame in enumerate(inp.decode(stream_in)):
            if i == drop:
                continue
            image = frame.to_ndarray(format="rgb24")
            if i == grey:
                image = np.full_like(image, 128)
            new = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv444p")
            new.pts, new.time_base = frame.pts, stream_in.time_base
            out.mux(stream.encode(new))
        out.mux(stream.encode())
    return dst


def test_a_dropped_frame_fails_integrity(job: tuple[str, str, dict], tmp_path: Path) -> None:
    src, out, _ = job
    tampered = probe(_rewrite(out, str(tmp_path / "dropped.mkv"), drop=9))
    checks = integrity(probe(src), tampered)
    assert not checks["ok"]
    assert (checks["frames"]["output"], checks["frames"]["ok"]) == (23, False)
    assert checks["pts"] == {"first_mismatch": 9, "ok": False}


def test_an_output_that_fails_its_integrity_is_not_written(tmp_path: Path) -> None:
    """A finished chunk meddled with from outside (its captions removed), the rerun that
    reuses it fails its integrity before its output is published: the earlier output and
    its certificate stay byte for byte, the failed certificate is in the work prefix, and
    the error names both."""
    src = make_test_video(
        str(tmp_path / "in.mp4"), frames=12, width=32, height=24, gop=6, captions=True
    )
    out = str(tmp_path / "out.mp4")
    upscale_locally(src, out, NearestUpscaler(2), chunk_frames=6, keep_work=True)
    kept = Path(out).read_bytes(), Path(out + ".report.json").read_bytes()
    first = finished_chunks(out)[0]
    strip_captions(first)
    with pytest.raises(FrameAccountingError) as failed:
        upscale_locally(src, out, NearestUpscaler(2), chunk_frames=6)
    failed_at = str(Path(first).parent / "failed.report.json")
    assert str(failed.value) == (
        f"{out} failed its integrity checks (captions) and was not written; see {failed_at}"
    )
    report = failed.value.report
    assert report == json.loads(Path(failed_at).read_text())
    assert report["integrity"]["captions"] == {"source": 12, "output": 6, "ok": False}
    assert (report["quality"], report["speed"]["chunks_reused"]) == (None, 2)
    assert (Path(out).read_bytes(), Path(out + ".report.json").read_bytes()) == kept
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".rayapp-")]


def test_a_grey_frame_is_a_consistency_outlier(job: tuple[str, str, dict], tmp_path: Path) -> None:
    src, out, _ = job
    tampered = probe(_rewrite(out, str(tmp_path / "grey.mkv"), grey=13))
    checks = integrity(probe(src), tampered)
    assert checks["frames"]["ok"] and checks["pts"]["ok"]  # whole, but not good
    measured = quality(probe(src), tampered, [0, 6, 12, 18], samples=32)
    assert measured["consistency"]["outliers"] == [13]
    assert not measured["consistency"]["ok"]
    per_frame = {f["frame"]: f["psnr_db"] for f in measured["consistency"]["per_frame"]}
    assert per_frame[13] < 20 < min(p for t, p in per_frame.items() if t != 13)
    errors = {
        p["frame"]: p["warping_error"] - p["bicubic"] for p in measured["temporal"]["per_pair"]
    }
    # Into and out of the grey frame, far above what any other pair adds to bicubic's.
    assert min(errors[12], errors[13]) > 10 * max(e for t, e in errors.items() if t not in (12, 13))


def test_long_clips_are_sampled_across_seams_inside_scenes_never_across_a_cut() -> None:
    starts = list(range(0, 960, 48))  # 20 chunks
    pairs, frames = sampled_frames(960, starts, [0], samples=32)
    assert len(pairs) == 16 and len(frames) == 32
    seams = [p for p in pairs if p + 1 in starts]
    assert len(seams) == 8 and (seams[0], seams[-1]) == (47, 911)  # the first and last seam
    # Scenes cut at every third chunk: those seams, and every pair across a cut, are left out.
    cuts = [0, *starts[3::3]]
    pairs, _ = sampled_frames(960, starts, cuts, samples=32)
    assert not {p + 1 for p in pairs} & set(cuts)
    # 8 spread over the 13 seams inside scenes, the first and the last among them.
    assert [p for p in pairs if p + 1 in starts] == [47, 191, 239, 383, 527, 671, 767, 911]
    assert sampled_frames(1, [0], [0], 32) == ((), (0,))
    assert sampled_frames(5, [0], [0], 32) == ((0, 1, 2, 3), (0, 1, 2, 3, 4))
    assert sampled_frames(5, [0, 2], [0, 2], 32) == ((0, 2, 3), (0, 1, 2, 3, 4))


def test_the_chunks_own_measures_are_those_of_the_finished_output(
    job: tuple[str, str, dict],
) -> None:
    """The replicas measure each chunk's sampled frames as they make it; measured again on
    the finished output, every figure is the same."""
    src, out, report = job
    again = quality(probe(src), probe(out), [0, 6, 12, 18], samples=32)
    assert again["sampled_frames"] == report["quality"]["sampled_frames"]
    assert again["consistency"]["outliers"] == report["quality"]["consistency"]["outliers"]
    for mine, theirs in zip(
        report["quality"]["consistency"]["per_frame"],
        again["consistency"]["per_frame"],
        strict=True,
    ):
        assert mine["frame"] == theirs["frame"]
        assert mine["ssim"] == pytest.approx(theirs["ssim"], abs=1e-6)
        if theirs["psnr_db"] is None:
            assert mine["psnr_db"] is None
        else:
            assert mine["psnr_db"] == pytest.approx(theirs["psnr_db"], abs=1e-4)
    for mine, theirs in zip(
        report["quality"]["temporal"]["per_pair"], again["temporal"]["per_pair"], strict=True
    ):
        assert (mine["frame"], mine["seam"]) == (theirs["frame"], theirs["seam"])
        assert mine["warping_error"] == pytest.approx(theirs["warping_error"], abs=1e-6)
        assert mine["bicubic"] == pytest.approx(theirs["bicubic"], abs=1e-6)


def test_every_chunk_measures_the_sampled_frames_it_holds(tmp_path: Path) -> None:
    """A short clip is sampled whole: each of its 5 chunks carries the measures of its
    own frames, so the certificate needs no decode of the output."""
    src = make_test_video(str(tmp_path / "in.mp4"), frames=30, gop=6)
    result = upscale_locally(src, str(tmp_path / "out.mp4"), NearestUpscaler(2), chunk_frames=6)
    chunk_measures = [c.quality for c in result.chunks]
    assert all(m is not None for m in chunk_measures)
    assert sorted(int(t) for m in chunk_measures for t in m["frames"]) == list(range(30))


def test_a_gpu_replica_measures_on_one_torch_thread_and_gives_the_rest_back(
    tmp_path: Path,
) -> None:
    """A replica whose model runs on a GPU leaves its CPUs to its encoders: the sampled
    frames are measured on one torch thread, with the same figures, and torch has its
    threads back afterwards."""
    import torch

    from rayapp.pipeline.cluster._sizing import torch_threads

    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    src = make_test_video(str(tmp_path / "in.mp4"), frames=12, gop=6, texture=True)
    out = str(tmp_path / "out.mp4")
    gpu = SimulatedGpuUpscaler(scale=2, frame_s=0)
    report = upscale_locally(src, out, gpu, chunk_frames=6).report
    assert torch.get_num_threads() == before
    again = quality(probe(src), probe(out), [0, 6], samples=32)
    assert report["quality"]["sampled_frames"] == again["sampled_frames"] == list(range(12))
    for mine, theirs in zip(
        report["quality"]["consistency"]["per_frame"],
        again["consistency"]["per_frame"],
        strict=True,
    ):
        assert mine["ssim"] == pytest.approx(theirs["ssim"], abs=1e-6)
        assert mine["psnr_db"] == pytest.approx(theirs["psnr_db"], abs=1e-4)
