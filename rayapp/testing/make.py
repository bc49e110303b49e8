"""Writing small test videos (pattern frames, a sine tone, subtitles) and audio-only files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from rayapp import storage
from rayapp.testing.patterns import frame_pattern, telecined_frame, woven_frame
from rayapp.video import add_text_subtitle_stream, captioned_packet

__all__ = [
    "HDR10_LIGHT",
    "HDR10_MASTERING",
    "SubtitleCue",
    "dvd_subpicture",
    "frame_caption",
    "held_drawings",
    "make_audio_only",
    "make_test_video",
]


@dataclass(frozen=True)
class SubtitleCue:
    """One subtitle cue; times in milliseconds."""

    start_ms: int
    end_ms: int
    text: str


def make_test_video(
    uri: str,
    *,
    frames: int = 24,
    fps: int = 24,
    width: int = 64,
    height: int = 48,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    crf: int = 18,
    gop: int = 12,
    bframes: int = 0,
    open_gop: bool = False,
    vfr: bool = False,
    audio: bool = True,
    subtitles: Sequence[SubtitleCue] = (),
    colour: str | None = None,
    texture: bool = False,
    rotation: int = 0,
    holds: Sequence[int] = (1,),
    interlaced: str | None = None,
    field_flags: bool = True,
    telecine: bool = False,
    timecode: str | None = None,
    sample_aspect_ratio: Fraction | None = None,
    chapters: Sequence[tuple[int, int, str]] = (),
    captions: bool = False,
    dvd_subtitles: Sequence[SubtitleCue] = (),
    cuts: Sequence[int] = (),
) -> str:
    """Write a small test video at ``uri`` (any fsspec URI; format from the extension).

    ``vfr`` spaces frames irregularly (1, 1.5 and 0.5 frame periods, millisecond pts).
    ``colour="bt709"`` tags (and converts with) BT.709 primaries/transfer/matrix, tv range;
    ``"hdr10"`` and ``"hlg"`` BT.2020 with PQ or HLG (use a 10-bit ``pix_fmt``; hdr10 with
    libx265 also writes ``HDR10_MASTERING`` and ``HDR10_LIGHT``).
    Frame ``i`` shows index ``i`` (see :func:`read_frame_index`), unless ``holds`` holds
    drawings for several frames, as animation does: drawing ``d`` for ``holds[d % len]``
    frames, each frame then showing its drawing's index (see :func:`held_drawings`).
    ``interlaced`` tff or bff: each frame woven from two fields half a frame apart
    (:func:`woven_frame`), coded interlaced (x264) and tagged with that field order (with
    ``field_flags`` False: coded and tagged progressive, as a capture that lost its flags).
    ``telecine``: film frames by 3:2 pulldown (:func:`telecined_frame`: frame ``i`` shows
    film frames, not ``i``), coded and tagged as ``interlaced`` says (tff; None: progressive).
    ``timecode``: the start timecode ("HH:MM:SS:FF"; MP4/MOV write a timecode track).
    ``chapters``: (start ms, end ms, title) each. ``captions`` (H.264): each frame's
    access unit carries CEA-608 caption bytes of its own, :func:`frame_caption` (index).
    ``dvd_subtitles``: a DVD (bitmap) subtitle stream, a cue a bar as wide as its text has
    letters (:func:`dvd_subpicture`; Matroska and MP4 carry it). ``cuts``: the frames that
    start a new scene, each scene darker or lighter and tinted otherwise than the one before
    (:func:`frame_pattern`'s ``scene``), so that a scene-cut detector finds them.
    Returns ``uri``.
    """
    with storage.atomic_write(uri) as tmp, av.open(tmp, "w") as container:
        video = _add_video(container, codec, pix_fmt, fps, width, height, crf, gop, bframes)
        video.codec_context.options = _codec_options(codec, crf, gop, bframes, open_gop)
        if interlaced is not None and field_flags:
            _interlace(video, interlaced)
        if timecode is not None:
            video.metadata["timecode"] = timecode
        if sample_aspect_ratio is not None:
            video.sample_aspect_ratio = sample_aspect_ratio
        time_base = Fraction(1, 1000) if vfr else Fraction(1, fps)
        video.codec_context.time_base = time_base
        video.time_base = time_base
        if colour is not None:
            _tag_colour(video, colour)
        if rotation:
            video.set_display_rotation(rotation)
        audio_stream = container.add_stream("aac", rate=16000, layout="mono") if audio else None
        sub_stream = _add_subtitles(container) if subtitles else None
        dvd_stream = container.add_stream("dvdsub") if dvd_subtitles else None

        if chapters:
            container.set_chapters(
                [
                    {"id": n + 1, "start": a, "end": b, "time_base": Fraction(1, 1000),
                     "metadata": {"title": title}}
                    for n, (a, b, title) in enumerate(chapters)
                ]
            )  # fmt: skip
        # The header must be written even when no frame ever is (the zero-frame case).
        container.start_encoding()
        pts_list = _frame_pts(frames, fps, vfr)
        dtype = np.uint16 if "10" in pix_fmt else np.uint8
        scenes = [sum(i >= c for c in cuts) for i in range(frames)]
        for pts, drawing, scene in zip(pts_list, held_drawings(frames, holds), scenes, strict=True):
            if telecine:
                image = telecined_frame(drawing, height, width)
            elif interlaced is not None:
                image = woven_frame(drawing, height, width, interlaced)
            else:
                image = frame_pattern(drawing, height, width, texture=texture, scene=scene)
            fmt = "rgb24"
            if dtype == np.uint16:
                image, fmt = image.astype(np.uint16) * 257, "rgb48le"
            frame = av.VideoFrame.from_ndarray(image, format=fmt)
            frame = frame.reformat(
                format=pix_fmt,
                dst_colorspace=_SWS_COLOURSPACE.get(colour),
                dst_color_range="MPEG",
            )
            frame.pts = pts
            frame.time_base = time_base
            container.mux(_captioned(video.encode(frame), pts_list, captions))
        container.mux(_captioned(video.encode(), pts_list, captions))

        if audio_stream is not None:
            end_s = float((pts_list[-1] + 1) * time_base) if vfr and frames else frames / fps
            end_s = end_s or 1.0
            _write_audio(container, audio_stream, end_s)
        if sub_stream is not None:
            _write_subtitles(container, sub_stream, subtitles)
        for cue in dvd_subtitles:
            packet = av.Packet(dvd_subpicture(len(cue.text), cue.end_ms - cue.start_ms))
            packet.pts = packet.dts = cue.start_ms
            packet.duration = cue.end_ms - cue.start_ms
            packet.time_base = Fraction(1, 1000)
            packet.stream = dvd_stream
            container.mux(packet)
    return uri


def dvd_subpicture(width: int, shown_ms: int, height: int = 2) -> bytes:
    """A DVD subpicture unit: a ``width`` x ``height`` bar in colour 1 at the top left,
    shown at once and hidden after ``shown_ms`` (its own control sequences, as a DVD's)."""
    line = b"\x00\x01"  # one run to the end of the line, colour 1
    fields = line * ((height + 1) // 2) + line * (height // 2)  # top lines, then bottom
    top, bottom = 4, 4 + 2 * ((height + 1) // 2)
    show_at = 4 + len(fields)
    x, y = width - 1, height - 1
    area = bytes([0, x >> 8, x & 0xFF, 0, y >> 8, y & 0xFF])  # x 0..x, y 0..y, 12 bits each
    show = (
        b"\x03\x01\x23" + b"\x04\xff\xf0" + b"\x05" + area + b"\x06"
        + top.to_bytes(2, "big") + bottom.to_bytes(2, "big") + b"\x01\xff"
    )  # fmt: skip  # colours, contrast, area, the fields' offsets, show, end
    hide_at = show_at + 4 + len(show)
    ticks = round(shown_ms * 90 / 1024)  # the delay's unit: 1024 ticks of 90 kHz
    unit = (
        fields
        + (0).to_bytes(2, "big") + hide_at.to_bytes(2, "big") + show
        + ticks.to_bytes(2, "big") + hide_at.to_bytes(2, "big") + b"\x02\xff"
    )  # fmt: skip
    return (4 + len(unit)).to_bytes(2, "big") + show_at.to_bytes(2, "big") + unit


def frame_caption(index: int) -> bytes:
    """The caption triplet frame ``index`` of a ``captions`` test video carries: field 1,
    two bytes that name the frame."""
    return bytes([0xFC, 0x80 | index % 64, 0x80 | index // 64 % 64])


def _captioned(packets: list[av.Packet], pts_list: list[int], on: bool) -> list[av.Packet]:
    if not on:
        return packets
    rank = {p: i for i, p in enumerate(pts_list)}
    return [captioned_packet(p, frame_caption(rank[p.pts])) for p in packets]


def held_drawings(frames: int, holds: Sequence[int]) -> list[int]:
    """The drawing each of ``frames`` frames shows when drawing ``d`` is held for
    ``holds[d % len(holds)]`` frames (``(1,)``: every frame its own drawing)."""
    drawings: list[int] = []
    d = 0
    while len(drawings) < frames:
        drawings += [d] * holds[d % len(holds)]
        d += 1
    return drawings[:frames]


def make_audio_only(uri: str, seconds: float = 1.0) -> str:
    """Write an AAC-only file (no video stream) at ``uri``."""
    with storage.atomic_write(uri) as tmp, av.open(tmp, "w") as container:
        stream = container.add_stream("aac", rate=16000, layout="mono")
        _write_audio(container, stream, seconds)
    return uri


def _add_video(
    container: av.container.OutputContainer,
    codec: str,
    pix_fmt: str,
    fps: int,
    width: int,
    height: int,
    crf: int,
    gop: int,
    bframes: int,
) -> av.VideoStream:
    video = container.add_stream(codec, rate=fps)
    video.width, video.height, video.pix_fmt = width, height, pix_fmt
    video.codec_context.gop_size = gop
    video.codec_context.max_b_frames = bframes
    # One thread: tiny frames gain nothing, and the test machine has two shared cores.
    video.codec_context.thread_count = 1
    return video


def _codec_options(codec: str, crf: int, gop: int, bframes: int, open_gop: bool) -> dict[str, str]:
    if codec == "libx264":
        params = f"bframes={bframes}:keyint={gop}:min-keyint={gop}:scenecut=0"
        if open_gop:
            params += ":open-gop=1"
        return {"crf": str(crf), "preset": "veryfast", "x264-params": params}
    if codec == "libx265":
        params = f"bframes={bframes}:keyint={gop}:min-keyint={gop}:scenecut=0:log-level=error"
        if open_gop:
            params += ":open-gop=1"
        return {"crf": str(crf), "preset": "ultrafast", "x265-params": params}
    return {"crf": str(crf)}


def _interlace(video: av.VideoStream, parity: str) -> None:
    """Code the frames as interlaced (x264's field-aware coding) with ``parity`` first."""
    if parity not in ("tff", "bff"):
        raise ValueError(f"Expected interlaced 'tff' or 'bff', but got {parity!r}")
    ctx = video.codec_context
    ctx.field_order = 2 if parity == "tff" else 3  # AV_FIELD_TT, AV_FIELD_BB
    options = dict(ctx.options)
    options["flags"] = "+ildct+ilme"
    options["x264-params"] = f"{options.get('x264-params', '')}:{parity}=1".lstrip(":")
    ctx.options = options


# The HDR10 metadata a "hdr10" test video carries (x265's units: HEVC's SEI).
HDR10_MASTERING = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,50)"
HDR10_LIGHT = (1000, 400)
_COLOURS = {  # AVCOL_PRI, AVCOL_TRC, AVCOL_SPC
    "bt709": (1, 1, 1),
    "hdr10": (9, 16, 9),  # BT.2020, SMPTE ST 2084 (PQ), BT.2020 non-constant
    "hlg": (9, 18, 9),  # BT.2020, ARIB STD-B67 (HLG)
}


_SWS_COLOURSPACE = {"bt709": "itu709", "hdr10": "bt2020", "hlg": "bt2020"}


def _tag_colour(video: av.VideoStream, colour: str) -> None:
    """Tag ``colour`` (tv range); an hdr10 x265 stream also gets HDR10's static metadata."""
    if colour not in _COLOURS:
        raise ValueError(f"Expected colour one of {sorted(_COLOURS)} or None, but got {colour!r}")
    ctx = video.codec_context
    ctx.color_primaries, ctx.color_trc, ctx.colorspace = _COLOURS[colour]
    ctx.color_range = 1  # AVCOL_RANGE_MPEG (tv)
    if colour == "hdr10":
        options = dict(ctx.options)
        light = "{},{}".format(*HDR10_LIGHT)
        options["x265-params"] += f":hdr10=1:master-display={HDR10_MASTERING}:max-cll={light}"
        ctx.options = options


def _frame_pts(frames: int, fps: int, vfr: bool) -> list[int]:
    if not vfr:
        return list(range(frames))
    period_ms = 1000 / fps
    steps = (1.0, 1.5, 0.5, 1.0, 2.0)
    pts, t = [], 0.0
    for i in range(frames):
        pts.append(round(t))
        t += steps[i % len(steps)] * period_ms
    return pts


def _write_audio(
    container: av.container.OutputContainer, stream: av.AudioStream, seconds: float
) -> None:
    rate, frame_size = stream.codec_context.sample_rate, 1024
    total = int(seconds * rate)
    for start in range(0, total, frame_size):
        n = min(frame_size, total - start)
        t = (np.arange(start, start + n) / rate).astype(np.float32)
        samples = (0.2 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = rate, start
        container.mux(stream.encode(frame))
    container.mux(stream.encode())


def _add_subtitles(container: av.container.OutputContainer) -> av.subtitles.stream.SubtitleStream:
    name = container.format.name
    codec = (
        "mov_text" if "mp4" in name or "mov" in name else "webvtt" if "webm" in name else "subrip"
    )
    return add_text_subtitle_stream(container, codec)


def _write_subtitles(
    container: av.container.OutputContainer,
    stream: av.subtitles.stream.SubtitleStream,
    cues: Sequence[SubtitleCue],
) -> None:
    for cue in cues:
        duration = cue.end_ms - cue.start_ms
        subtitle = av.subtitles.subtitle.SubtitleSet.create(
            f"0,0,Default,,0,0,0,,{cue.text}".encode(), 0, duration, pts=cue.start_ms * 1000
        )
        packet = stream.codec_context.encode_subtitle(subtitle)
        packet.pts = packet.dts = cue.start_ms
        packet.duration = duration
        packet.time_base = Fraction(1, 1000)
        packet.stream = stream
        container.mux(packet)
