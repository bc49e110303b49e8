"""Closed captions carried in the video stream (CEA-608/708 as ATSC A/53 user data).

FFmpeg's decoders hand each frame's caption bytes (``cc_data`` triplets) to us as the
frame's ``A53_CC`` side data, and libx264 would write them back from the same side data,
but PyAV cannot attach side data to a frame it encodes. So an encoded packet gets its
frame's captions here, as ITU-T T.35 user data (country 0xB5, provider 0x0031, "GA94",
type 3: ATSC A/53) where each codec carries it, and where FFmpeg's decoders read it back
as ``A53_CC``:

- H.264: an SEI NAL unit (``user_data_registered_itu_t_t35``) before the picture's first
  slice, as x264 and broadcast encoders write it;
- HEVC: the same SEI as a prefix SEI NAL unit before the picture's first slice;
- AV1: a metadata OBU (``METADATA_TYPE_ITUT_T35``) before the frame's first frame OBU.

H.264 and HEVC packets come in Annex B (start codes) or MP4's 4-byte lengths; AV1 packets
are low-overhead OBUs with sizes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import av

__all__ = ["CAPTION_CODECS", "CAPTION_TAG", "captioned_packet", "frame_captions", "with_captions"]

CAPTION_TAG = b"GA94"  # ATSC A/53's user identifier: a packet holding it carries captions
CAPTION_CODECS = ("h264", "hevc", "av1")  # the video codecs captions are written into
_T35 = bytes([0xB5, 0x00, 0x31]) + CAPTION_TAG + bytes([0x03])
_START = re.compile(b"\x00\x00\x01")
# OBU types: a frame header, a tile group, a frame (header and tiles); metadata.
_AV1_FRAME_OBUS, _AV1_METADATA, _METADATA_ITUT_T35 = (3, 4, 6), 5, 4


@dataclass(frozen=True)
class _Nal:
    """How a NAL codec names its units: a unit's type from its first byte, which types are
    pictures' slices, and the header of a caption SEI unit."""

    type_of: Callable[[int], int]
    slices: range | tuple[int, ...]
    sei: bytes


_NALS = {
    # H.264: nal_unit_type in the low 5 bits; slices 1 (non-IDR) and 5 (IDR); SEI is 6.
    "h264": _Nal(lambda b: b & 0x1F, (1, 5), bytes([6])),
    # HEVC: type in bits 1-6; VCL units 0-31; prefix SEI 39, layer 0, temporal id 0 (+1).
    "hevc": _Nal(lambda b: (b >> 1) & 0x3F, range(32), bytes([39 << 1, 1])),
}


def frame_captions(frame: av.VideoFrame) -> bytes:
    """A decoded frame's caption triplets (its ``A53_CC`` side data), b"" when none."""
    for item in frame.side_data:
        if item.type.name == "A53_CC":
            return bytes(item)
    return b""


def with_captions(packet: bytes, captions: bytes, codec: str = "h264") -> bytes:
    """A ``codec`` (h264, hevc, av1) access unit carrying ``captions`` (whole ``cc_data``
    triplets) before its first picture data; unchanged when ``captions`` is empty."""
    if not captions:
        return packet
    if len(captions) % 3 or len(captions) // 3 > 31:
        raise ValueError(f"Expected 1-31 caption triplets, but got {len(captions)} bytes")
    if codec == "av1":
        return _av1_with(packet, _user_data(captions))
    if codec not in _NALS:
        raise ValueError(f"Captions go into {', '.join(CAPTION_CODECS)}, not {codec}")
    nal = _NALS[codec]
    unit = nal.sei + _escaped(_sei_payload(_user_data(captions)))
    if packet.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01")):
        for match in _START.finditer(packet):
            if nal.type_of(packet[match.end()]) in nal.slices:
                at = match.start()
                if at > 0 and packet[at - 1] == 0:
                    at -= 1  # a four-byte start code
                return packet[:at] + b"\x00\x00\x00\x01" + unit + packet[at:]
        return packet
    at = 0
    while at + 4 < len(packet):
        size = int.from_bytes(packet[at : at + 4], "big")
        if nal.type_of(packet[at + 4]) in nal.slices:
            return packet[:at] + len(unit).to_bytes(4, "big") + unit + packet[at:]
        at += 4 + size
    return packet


def captioned_packet(packet: av.Packet, captions: bytes, codec: str = "h264") -> av.Packet:
    """``packet`` (an encoder's ``codec`` output) carrying ``captions``: a new packet of its
    bytes ``with_captions``, its timestamps, stream and flags kept."""
    if not captions:
        return packet
    out = av.Packet(with_captions(bytes(packet), captions, codec))
    out.pts, out.dts, out.duration = packet.pts, packet.dts, packet.duration
    out.time_base, out.stream = packet.time_base, packet.stream
    out.is_keyframe = packet.is_keyframe
    return out


def _user_data(captions: bytes) -> bytes:
    """The T.35 message: A/53's header and ``cc_data`` with ``process_cc_data_flag`` set."""
    return _T35 + bytes([0x40 | len(captions) // 3, 0xFF]) + captions + b"\xff"


def _sei_payload(user_data: bytes) -> bytes:
    """The SEI message's RBSP: payload type 4, its size, ``user_data``, the stop bit."""
    size = len(user_data)
    body = bytearray([4])
    while size >= 255:
        body.append(255)
        size -= 255
    return bytes(body) + bytes([size]) + user_data + b"\x80"


def _av1_with(packet: bytes, user_data: bytes) -> bytes:
    """An AV1 temporal unit with a T.35 metadata OBU before its first frame OBU."""
    payload = _leb128(_METADATA_ITUT_T35) + user_data + b"\x80"  # trailing bits
    obu = bytes([_AV1_METADATA << 3 | 0x02]) + _leb128(len(payload)) + payload
    at = 0
    while at < len(packet):
        header = packet[at]
        kind, extended, sized = header >> 3 & 0x0F, header >> 2 & 1, header >> 1 & 1
        if kind in _AV1_FRAME_OBUS:
            return packet[:at] + obu + packet[at:]
        if not sized:  # the last OBU: it runs to the end
            return packet
        size, after = _read_leb128(packet, at + 1 + extended)
        at = after + size
    return packet


def _leb128(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_leb128(data: bytes, at: int) -> tuple[int, int]:
    """The value at ``at`` and the position after it."""
    value = shift = 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7


def _escaped(rbsp: bytes) -> bytes:
    """RBSP -> NAL payload: 0x03 after two zero bytes where the next is 0-3."""
    out = bytearray()
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)
