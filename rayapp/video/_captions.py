"""Closed captions carried in the video stream (CEA-608/708 as ATSC A/53 user data).

FFmpeg's decoders hand each frame's caption bytes (``cc_data`` triplets) to us as the
frame's ``A53_CC`` side data, and libx264 would write them back from the same side data,
but PyAV cannot attach side data to a frame it encodes. So an encoded H.264 packet gets its
frame's captions here, as one SEI NAL unit (``user_data_registered_itu_t_t35``: country
0xB5, provider 0x0031, "GA94", type 3) placed before the picture's first slice: what
x264 and broadcast encoders write, and what FFmpeg's decoder reads back as ``A53_CC``.
"""

from __future__ import annotations

import re

import av

__all__ = ["CAPTION_TAG", "captioned_packet", "frame_captions", "with_captions"]

CAPTION_TAG = b"GA94"  # ATSC A/53's user identifier: a packet holding it carries captions
_T35 = bytes([0xB5, 0x00, 0x31]) + CAPTION_TAG + bytes([0x03])
_SEI, _SLICES = 6, (1, 5)  # H.264 NAL unit types: SEI, coded slices (non-IDR, IDR)
_START = re.compile(b"\x00\x00\x01")


def frame_captions(frame: av.VideoFrame) -> bytes:
    """A decoded frame's caption triplets (its ``A53_CC`` side data), b"" when none."""
    for item in frame.side_data:
        if item.type.name == "A53_CC":
            return bytes(item)
    return b""


def with_captions(packet: bytes, captions: bytes) -> bytes:
    """An H.264 access unit (Annex B start codes, or MP4's 4-byte lengths) with an SEI
    carrying ``captions`` (whole ``cc_data`` triplets) before its first slice; unchanged
    when ``captions`` is empty."""
    if not captions:
        return packet
    if len(captions) % 3 or len(captions) // 3 > 31:
        raise ValueError(f"Expected 1-31 caption triplets, but got {len(captions)} bytes")
    nal = _sei(captions)
    if packet.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01")):
        for match in _START.finditer(packet):
            if packet[match.end()] & 0x1F in _SLICES:
                at = match.start()
                if at > 0 and packet[at - 1] == 0:
                    at -= 1  # a four-byte start code
                return packet[:at] + b"\x00\x00\x00\x01" + nal + packet[at:]
        return packet
    at = 0
    while at + 4 < len(packet):
        size = int.from_bytes(packet[at : at + 4], "big")
        if packet[at + 4] & 0x1F in _SLICES:
            return packet[:at] + len(nal).to_bytes(4, "big") + nal + packet[at:]
        at += 4 + size
    return packet


def captioned_packet(packet: av.Packet, captions: bytes) -> av.Packet:
    """``packet`` (an encoder's H.264 output) carrying ``captions``: a new packet of its
    bytes ``with_captions``, its timestamps, stream and flags kept."""
    if not captions:
        return packet
    out = av.Packet(with_captions(bytes(packet), captions))
    out.pts, out.dts, out.duration = packet.pts, packet.dts, packet.duration
    out.time_base, out.stream = packet.time_base, packet.stream
    out.is_keyframe = packet.is_keyframe
    return out


def _sei(captions: bytes) -> bytes:
    """The SEI NAL unit: payload type 4, its size, the A/53 ``cc_data`` with
    ``process_cc_data_flag`` set, and the RBSP's stop bit; emulation prevented."""
    payload = _T35 + bytes([0x40 | len(captions) // 3, 0xFF]) + captions + b"\xff"
    size = len(payload)
    body = bytearray([4])
    while size >= 255:
        body.append(255)
        size -= 255
    body += bytes([size]) + payload + b"\x80"
    return bytes([_SEI]) + _escaped(bytes(body))


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
