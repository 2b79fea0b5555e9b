#!/usr/bin/env python3
"""Writes the seed corpus for frame_decoder_fuzz (run once; the output is committed)."""
import os
import struct
import zlib

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def frame(payload: bytes, castagnoli=False, crc=None) -> bytes:
    if crc is None:
        crc = crc32c(payload) if castagnoli else zlib.crc32(payload)
    return struct.pack("<II", len(payload), crc) + payload


def seed(name: str, mode: int, max_sel: int, stream: bytes) -> None:
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(bytes([mode, max_sel]) + stream)


os.makedirs(HERE, exist_ok=True)
seed("ieee_one_frame", 0, 255, frame(b"123456789"))
seed("castagnoli_one_frame", 1, 255, frame(b"123456789", castagnoli=True))
seed("ieee_three_frames_split", 0x2A, 255,
     frame(b"a") + frame(bytes(range(200))) + frame(b"\x0a\x05hello"))
seed("castagnoli_split", 0x03, 4, frame(b"x" * 100, True) + frame(b"yz", True))
seed("zero_length", 0, 255, struct.pack("<II", 0, 0))
seed("too_large", 0, 1, struct.pack("<II", 0xFFFFFFFF, 0) + b"abc")
seed("bad_crc", 0, 255, frame(b"payload", crc=0xDEADBEEF))
seed("half_frame", 0, 255, frame(b"0123456789")[:11])
seed("max_frame", 0, 0, frame(b"M"))  # max_frame_bytes 1
