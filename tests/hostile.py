"""A corpus of hostile media, generated: broken, odd and adversarial inputs, each with the
outcome rayapp decides for it.

Every case is made in a folder by :func:`make_case` (a few KB, well under a second each).
A case either **works** (the output is frame-exact: the source's frame count and every pts,
its audio and subtitle packets byte-identical) or **fails** with one error class of
``rayapp.errors`` and a message matching ``message`` (exit 2 / a 4xx for the input's
fault). The tests run every case through every path (``rayapp video``, the Ray job,
``POST /v1/jobs``) and assert that outcome; ``why`` records the decision.

    for case in VIDEO_CASES:
        src = make_case(case, folder)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from rayapp.errors import (
    ImageTooLargeError,
    InputImageError,
    InvalidVideoError,
    RayappError,
    StorageError,
    UnsupportedCodecError,
)
from rayapp.testing.make import SubtitleCue, make_audio_only, make_test_video

__all__ = ["IMAGE_CASES", "VIDEO_CASES", "HostileCase", "make_case", "png_declaring"]

FRAMES, FPS = 24, 24  # the valid clips: 1 s, 64x48, a keyframe every 12 frames


@dataclass(frozen=True)
class HostileCase:
    """One hostile input and its decided outcome (``error`` None: it works)."""

    name: str
    make: Callable[[Path], str]  # folder -> the input's path
    error: type[RayappError] | None
    message: str  # a regex the error line matches ("" when it works)
    why: str

    @property
    def works(self) -> bool:
        return self.error is None


def make_case(case: HostileCase, folder: str | os.PathLike) -> str:
    """Write ``case``'s input under ``folder`` (created); returns its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return case.make(folder)


# -- makers --------------------------------------------------------------------------------


def _valid(ext: str = ".mp4", name: str = "valid", **options: object) -> Callable[[Path], str]:
    def make(folder: Path) -> str:
        fields = {"frames": FRAMES, "fps": FPS, **options}
        return make_test_video(str(folder / f"{name}{ext}"), **fields)  # type: ignore[arg-type]

    return make


def _bytes(name: str, data: bytes) -> Callable[[Path], str]:
    def make(folder: Path) -> str:
        (folder / name).write_bytes(data)
        return str(folder / name)

    return make


def _truncated(ext: str, percent: int, faststart: bool = False) -> Callable[[Path], str]:
    def make(folder: Path) -> str:
        full = Path(_valid(ext, "full", frames=48)(folder))
        if faststart:
            full = Path(_remux(str(full), str(folder / f"front{ext}"), movflags="+faststart"))
        data = full.read_bytes()
        cut = folder / f"cut{percent}{ext}"
        cut.write_bytes(data[: len(data) * percent // 100])
        return str(cut)

    return make


def _remux(src: str, dst: str, *, skip: int = 0, **options: str) -> str:
    """Copy every stream's packets into ``dst``, the first ``skip`` video packets left out."""
    with av.open(src) as inp, av.open(dst, "w", options=options) as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        seen = 0
        for packet in inp.demux():
            if packet.dts is None:
                continue
            if packet.stream.type == "video":
                seen += 1
                if seen <= skip:
                    continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    return dst


def _header_only(folder: Path) -> str:
    """A Matroska file cut right before its first cluster: header, tracks, no frames."""
    data = Path(_valid(".mkv", "full")(folder)).read_bytes()
    cut = folder / "header.mkv"
    cut.write_bytes(data[: data.index(b"\x1f\x43\xb6\x75")])  # the Cluster element's ID
    return str(cut)


def _directory(folder: Path) -> str:
    (folder / "folder.mp4").mkdir()
    (folder / "folder.mp4" / "part-0.bin").write_bytes(b"\x00" * 64)
    return str(folder / "folder.mp4")


def _png_named_mp4(folder: Path) -> str:
    from rayapp.images import encode_image

    data = encode_image(np.full((48, 64, 3), 90, np.uint8), "png")
    (folder / "picture.mp4").write_bytes(data)
    return str(folder / "picture.mp4")


def _subtitles_only(folder: Path) -> str:
    from rayapp.video import add_text_subtitle_stream

    path = folder / "subs.mkv"
    with av.open(str(path), "w") as out:
        stream = add_text_subtitle_stream(out, "subrip")
        out.start_encoding()
        sub = av.subtitles.subtitle.SubtitleSet.create(b"0,0,Default,,0,0,0,,hello", 0, 500)
        packet = stream.codec_context.encode_subtitle(sub)
        packet.pts = packet.dts = 0
        packet.duration = 500
        packet.time_base = Fraction(1, 1000)
        packet.stream = stream
        out.mux(packet)
    return str(path)


def _mid_gop(folder: Path) -> str:
    """An open-GOP clip whose first 5 video packets were cut away: it starts on P/B frames."""
    full = _valid(".mkv", "full", frames=48, bframes=2, open_gop=True)(folder)
    return _remux(full, str(folder / "midgop.mkv"), skip=5)


def _corrupt_packets(folder: Path) -> str:
    """Bytes flipped inside three mid-stream video packets (their sizes kept)."""
    full = Path(_valid(".mkv", "full", frames=48, texture=True)(folder))
    data = bytearray(full.read_bytes())
    with av.open(str(full)) as inp:
        spans = [(p.pos, p.size) for p in inp.demux(video=0) if p.size and p.pos and p.pos > 0]
    for pos, size in (spans[15], spans[20], spans[30]):
        for i in range(pos + size // 3, pos + size - 1, 3):
            data[i] ^= 0xA5
    out = folder / "corrupt.mkv"
    out.write_bytes(bytes(data))
    return str(out)


def _timed(name: str, pts: list[int], time_base: Fraction) -> Callable[[Path], str]:
    """A Matroska/MP4 clip whose frames carry ``pts`` (in ``time_base``), in this order."""

    def make(folder: Path) -> str:
        from rayapp.testing.patterns import frame_pattern

        path = folder / name
        with av.open(str(path), "w") as out:
            video = out.add_stream("libx264", rate=24)
            video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
            video.codec_context.time_base = video.time_base = time_base
            video.codec_context.options = {"x264-params": "bframes=0:keyint=12:scenecut=0"}
            video.codec_context.thread_count = 1
            packets = []
            for i in range(len(pts)):  # encoded in order; the pts are set on the packets
                frame = av.VideoFrame.from_ndarray(frame_pattern(i, 48, 64), format="rgb24")
                frame.pts, frame.time_base = i, time_base
                packets += video.encode(frame)
            packets += video.encode()
            shuffled = pts != sorted(pts)
            for i, (packet, p) in enumerate(zip(packets, pts, strict=True)):
                # Shuffled pts: dts a step behind in decode order, so pts >= dts holds.
                packet.pts, packet.dts = p, i - 1 if shuffled else p
                out.mux(packet)
        return str(path)

    return make


def _codec_renamed(folder: Path) -> str:
    """A Matroska file whose codec ID was rewritten to one no decoder knows."""
    data = Path(_valid(".mkv", "full")(folder)).read_bytes()
    assert b"V_MPEG4/ISO/AVC" in data
    out = folder / "unknown-codec.mkv"
    out.write_bytes(data.replace(b"V_MPEG4/ISO/AVC", b"V_RAYAPP/NOPE!!", 1))
    return str(out)


def _many_tracks(folder: Path) -> str:
    """One video, 10 audio and 10 subtitle tracks (Matroska), each track its own tone/text."""
    base = Path(_valid(".mkv", "base", subtitles=[SubtitleCue(100, 600, "one")])(folder))
    path = folder / "tracks.mkv"
    with av.open(str(base)) as inp, av.open(str(path), "w") as out:
        video = out.add_stream_from_template(inp.streams.video[0])
        audio = [out.add_stream_from_template(inp.streams.audio[0]) for _ in range(10)]
        subs = [out.add_stream_from_template(inp.streams.subtitles[0]) for _ in range(10)]
        for packet in inp.demux():
            if packet.dts is None:
                continue
            targets = {"video": [video], "audio": audio, "subtitle": subs}[packet.stream.type]
            for target in targets:
                copy = av.Packet(bytes(packet))
                copy.pts, copy.dts, copy.duration = packet.pts, packet.dts, packet.duration
                copy.time_base, copy.is_keyframe = packet.time_base, packet.is_keyframe
                copy.stream = target
                out.mux(copy)
    return str(path)


def _edit_list_late(folder: Path) -> str:
    """An MP4 whose video starts 0.5 s late: the muxer writes an empty edit before it."""
    return _timed("late.mp4", list(range(12, 12 + FRAMES)), Fraction(1, 24))(folder)


def _cover_art(only: bool) -> Callable[[Path], str]:
    """An MP4 with a JPEG cover picture as an attached-picture video stream (and, unless
    ``only``, a real video stream after it)."""

    def make(folder: Path) -> str:
        src = make_audio_only(str(folder / "sound.m4a")) if only else _valid(".mp4", "v")(folder)
        path = folder / ("cover-only.mp4" if only else "cover.mp4")
        with av.open(src) as inp, av.open(str(path), "w") as out:
            cover = out.add_stream("mjpeg", rate=1)
            cover.width, cover.height, cover.pix_fmt = 32, 32, "yuvj420p"
            cover.disposition = av.stream.Disposition.attached_pic
            streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 200, np.uint8), "rgb24")
            frame.pts = 0
            for packet in cover.encode(frame.reformat(format="yuvj420p")):
                out.mux(packet)
            for packet in cover.encode():
                out.mux(packet)
            for packet in inp.demux():
                if packet.dts is not None:
                    packet.stream = streams[packet.stream.index]
                    out.mux(packet)
        return str(path)

    return make


def _huge_width(folder: Path) -> str:
    return _valid(".mkv", "wide", frames=2, width=16384, height=16, audio=False)(folder)


# -- the corpus ----------------------------------------------------------------------------

_UNREADABLE = r"is not a readable media file"
_TRUNCATED = r"is (damaged or )?truncated"

VIDEO_CASES: tuple[HostileCase, ...] = (
    HostileCase("zero-bytes", _bytes("empty.mp4", b""), InvalidVideoError,
                r"empty\.mp4 is empty \(0 bytes\)", "nothing to read"),
    HostileCase("one-byte", _bytes("one.mp4", b"\x00"), InvalidVideoError, _UNREADABLE,
                "no container can be one byte"),
    *(
        HostileCase(f"mp4-moov-end-cut-{p}", _truncated(".mp4", p), InvalidVideoError,
                    _UNREADABLE, "moov (the index) is at the end: the cut loses it")
        for p in (1, 10, 50, 90)
    ),
    HostileCase("mp4-moov-end-cut-99", _truncated(".mp4", 99), None, "",
                "the last 1 % is moov's trailing metadata: every sample is indexed and there"),
    HostileCase("mp4-moov-front-cut-1", _truncated(".mp4", 1, faststart=True),
                InvalidVideoError, rf"({_UNREADABLE}|has no video stream)",
                "the cut is inside the moov: what is left names no video track"),
    HostileCase("mp4-moov-front-cut-10", _truncated(".mp4", 10, faststart=True),
                InvalidVideoError, rf"({_UNREADABLE}|{_TRUNCATED})",
                "the cut is inside the moov"),
    *(
        HostileCase(f"mp4-moov-front-cut-{p}", _truncated(".mp4", p, faststart=True),
                    InvalidVideoError, r"is truncated: its index lists 48 video samples",
                    "the index lists samples whose bytes are missing")
        for p in (50, 90, 99)
    ),
    HostileCase("mkv-cut-1", _truncated(".mkv", 1), InvalidVideoError,
                rf"({_UNREADABLE}|no video frames|{_TRUNCATED})", "the header itself is cut"),
    *(
        HostileCase(f"mkv-cut-{p}", _truncated(".mkv", p), InvalidVideoError, _TRUNCATED,
                    "Matroska declares its duration up front: the cut shows")
        for p in (10, 50, 90, 99)
    ),
    HostileCase("mkv-header-only", _header_only, InvalidVideoError,
                rf"({_UNREADABLE}|no video frames|is truncated)", "tracks, but not one frame"),
    HostileCase("random-bytes", _bytes("noise.mp4", np.random.default_rng(7).bytes(4096)),
                InvalidVideoError, _UNREADABLE, "no container signature"),
    HostileCase("png-named-mp4", _png_named_mp4, None, "",
                "FFmpeg reads a PNG as a one-frame video: it is upscaled as one"),
    HostileCase("text-named-mp4", _bytes("notes.mp4", b"meeting notes, not a video\n" * 50),
                InvalidVideoError, _UNREADABLE, "text"),
    HostileCase("directory", _directory, StorageError,
                r"folder\.mp4 is a directory; expected a file", "a folder named like a video"),
    HostileCase("missing", lambda folder: str(folder / "nowhere.mp4"), StorageError,
                r"Input not found: .*nowhere", "nothing there"),
    HostileCase("audio-only", lambda folder: make_audio_only(str(folder / "sound.m4a")),
                InvalidVideoError, r"has no video stream; found: audio \(aac\)",
                "nothing to upscale"),
    HostileCase("subtitles-only", _subtitles_only, InvalidVideoError,
                r"has no video stream; found: subtitle \(subrip\)", "nothing to upscale"),
    HostileCase("starts-mid-gop", _mid_gop, InvalidVideoError,
                r"before its first keyframe",
                "frames before the first keyframe cannot be decoded; dropping them would "
                "lose frames, so the job refuses and says how to cut the file"),
    HostileCase("corrupt-packets", _corrupt_packets, None, "",
                "the decoder conceals damaged packets: every frame comes out, at its pts"),
    HostileCase("one-frame", _valid(frames=1), None, "", "a one-frame video is a video"),
    HostileCase("zero-frames", _valid(".mkv", frames=0), InvalidVideoError,
                r"has a video stream \(#0\) but no video frames", "nothing to upscale"),
    HostileCase("zero-durations", _timed("zerodur.mkv", list(range(FRAMES)),
                                         Fraction(1, 24)), None, "",
                "Matroska blocks without durations: the frame step gives the last one"),
    HostileCase("duplicate-pts", _timed("dupes.mkv", [0, 1, 2, 2, 3, *range(4, 20)],
                                        Fraction(1, 24)), InvalidVideoError,
                r"share timestamps \(pts \[83\]\)",
                "two frames at one instant: which one shows is undefined"),
    HostileCase("non-monotonic-pts", _timed("shuffled.mkv", [0, 2, 1, 3, 5, 4, *range(6, 24)],
                                            Fraction(1, 24)), InvalidVideoError,
                r"expected frame 1 \(pts 42\) of segment 0, but the decoder produced pts 83",
                "pts go back with no frame reordering to explain it: which frame shows when "
                "is undefined, so the decode stage refuses it (before any output is written)"),
    HostileCase("tiny-16x16", _valid(width=16, height=16), None, "", "small but valid"),
    HostileCase("declared-16384-wide", _huge_width, UnsupportedCodecError,
                r"libx264 cannot encode \d{5}x\d+ frames",
                "x4 makes 65536 pixels a row: no encoder takes it; refused before work"),
    HostileCase("time-base-1-1", _timed("slow.mkv", list(range(FRAMES)), Fraction(1, 1)),
                None, "", "one frame a second, exactly kept"),
    HostileCase("rate-1000000", _timed("fast.mp4", list(range(FRAMES)),
                                       Fraction(1, 1_000_000)), None, "",
                "a million frames a second, as timestamps say"),
    HostileCase("unknown-codec", _codec_renamed, UnsupportedCodecError, r"no decoder",
                "no decoder knows it"),
    HostileCase("yuv444p10", _valid(".mkv", pix_fmt="yuv444p10le"), None, "",
                "10-bit 4:4:4: decoded at 16 bits a sample"),
    HostileCase("yuv422p10", _valid(".mkv", pix_fmt="yuv422p10le"), None, "",
                "10-bit 4:2:2: decoded at 16 bits a sample"),
    HostileCase("ten-audio-ten-subtitle", _many_tracks, None, "",
                "every track is carried, packets untouched"),
    HostileCase("edit-list-late-start", _edit_list_late, None, "",
                "the empty edit is kept: every frame at its pts"),
    HostileCase("cover-art-and-video", _cover_art(only=False), None, "",
                "the attached picture is not the video: the real stream is upscaled; the "
                "picture is not carried (logged and listed in the report as dropped)"),
    HostileCase("cover-art-only", _cover_art(only=True), InvalidVideoError,
                r"has no video stream", "a picture attached to a sound is not a video"),
    HostileCase("rotation-270", _valid(rotation=270), None, "",
                "the display matrix is kept"),
    HostileCase("vfr-duplicated-pts", _timed("vfrdupes.mkv", [0, 40, 40, 125, 167, 167, 250],
                                             Fraction(1, 1000)), InvalidVideoError,
                r"share timestamps \(pts \[40, 167\]\)",
                "two frames at one instant: which one shows is undefined"),
    HostileCase("vfr", _valid(".mkv", vfr=True), None, "", "irregular frame times, kept"),
)  # fmt: skip


# -- images: the images job, ``rayapp upscale`` and ``/v1/upscale`` ----------------------------


def _image(name: str, array: np.ndarray, fmt: str, cut: float = 1.0) -> Callable[[Path], str]:
    def make(folder: Path) -> str:
        from rayapp.images import encode_image

        data = encode_image(array, fmt)
        (folder / name).write_bytes(data[: int(len(data) * cut)])
        return str(folder / name)

    return make


def _photo(h: int = 48, w: int = 64, channels: int = 3, dtype: type = np.uint8) -> np.ndarray:
    peak = np.iinfo(dtype).max
    ramp = np.linspace(0, peak, h * w * channels, dtype=np.float64).reshape(h, w, channels)
    return ramp.astype(dtype)


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height (a decompression bomb's shape)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _mp4_named_png(folder: Path) -> str:
    data = Path(_valid(".mp4", "clip", frames=2)(folder)).read_bytes()
    (folder / "clip.png").write_bytes(data)
    return str(folder / "clip.png")


_UNDECODABLE = r"Cannot decode image"

IMAGE_CASES: tuple[HostileCase, ...] = (
    HostileCase("image-zero-bytes", _bytes("empty.png", b""), InputImageError,
                r"Empty image", "nothing to read"),
    HostileCase("image-one-byte", _bytes("one.png", b"\x89"), InputImageError, _UNDECODABLE,
                "a signature's first byte"),
    HostileCase("png-cut-50", _image("cut.png", _photo(), "png", 0.5), InputImageError,
                _UNDECODABLE, "the pixel data ends early"),
    HostileCase("jpeg-cut-50", _image("cut.jpg", _photo(), "jpeg", 0.5), InputImageError,
                _UNDECODABLE, "the scan ends early"),
    HostileCase("image-random-bytes", _bytes("noise.jpg", np.random.default_rng(3).bytes(999)),
                InputImageError, _UNDECODABLE, "no signature"),
    HostileCase("text-named-png", _bytes("notes.png", b"not an image\n" * 40), InputImageError,
                _UNDECODABLE, "text"),
    HostileCase("mp4-named-png", _mp4_named_png, InputImageError, _UNDECODABLE,
                "a video is not an image: the images path takes stills only"),
    HostileCase("png-declaring-100000x100000", _bytes("bomb.png", png_declaring(100_000,
                100_000)), ImageTooLargeError, r"10000000000 pixels",
                "refused from its header, before any pixel is inflated"),
    HostileCase("png-1x1", _image("dot.png", _photo(1, 1), "png"), None, "", "one pixel"),
    HostileCase("png-16-bit", _image("deep.png", _photo(dtype=np.uint16), "png"), None, "",
                "16 bits a sample, kept"),
    HostileCase("png-rgba", _image("alpha.png", _photo(channels=4), "png"), None, "",
                "alpha upscaled beside the colour"),
    HostileCase("png-gray", _image("gray.png", _photo(channels=1)[:, :, 0], "png"), None, "",
                "one channel, kept one"),
    HostileCase("webp", _image("photo.webp", _photo(), "webp"), None, "", "WebP in, WebP out"),
)  # fmt: skip
