# SPDX-License-Identifier: GPL-3.0-or-later
"""The Toeplitz RSS hash, and the published verification suite it is checked against.

A NIC that hashes with Toeplitz puts a frame on ``table[hash % len(table)]``, where ``hash`` is the
Toeplitz hash, under the table's key, of the source address, destination address, source port and
destination port (ports only for the flow types whose hashed fields include them), in network order.
The lab tests predict the queue of a frame this way from what ``ethtool -x`` reports and compare it
with the queue whose counters the frame moved. The function itself is checked against the RSS
verification suite (Microsoft's "Verifying the RSS Hash Calculation", also in Intel's 82599
datasheet, 7.1.2.8.3): its key and the 2-tuple and 4-tuple hashes of 5 IPv4 and 3 IPv6 flows."""

from __future__ import annotations

import ipaddress
import struct

VERIFICATION_KEY = bytes.fromhex(
    "6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa")

# (source, source port, destination, destination port, hash of the addresses, hash with the ports)
VERIFICATION_FLOWS = [
    ("66.9.149.187", 2794, "161.142.100.80", 1766, 0x323e8fc2, 0x51ccc178),
    ("199.92.111.2", 14230, "65.69.140.83", 4739, 0xd718262a, 0xc626b0ea),
    ("24.19.198.95", 12898, "12.22.207.184", 38024, 0xd2d0a5de, 0x5c2b394a),
    ("38.27.205.30", 48228, "209.142.163.6", 2217, 0x82989176, 0xafc7327f),
    ("153.39.163.191", 44251, "202.188.127.2", 1303, 0x5d1809c5, 0x10e828a2),
    ("3ffe:2501:200:1fff::7", 2794, "3ffe:2501:200:3::1", 1766, 0x2cc18cd5, 0x40207d3d),
    ("3ffe:501:8::260:97ff:fe40:efab", 14230, "ff02::1", 4739, 0x0f0c461c, 0xdde51bbf),
    ("3ffe:1900:4545:3:200:f8ff:fe21:67cf", 44251, "fe80::200:f8ff:fe21:67cf", 38024, 0x4b61e985, 0x02d1feef),
]


def toeplitz(key: bytes, data: bytes) -> int:
    """The 32-bit Toeplitz hash of DATA under KEY: for every set bit of DATA (most significant bit
    first), XOR in the 32 bits of KEY that start at that bit's position."""
    if len(key) < len(data) + 4:
        raise ValueError("a %d-byte key hashes at most %d bytes, not %d" % (len(key), len(key) - 4, len(data)))
    key_bits = int.from_bytes(key, "big")
    width = len(key) * 8
    result = 0
    for i, byte in enumerate(data):
        for bit in range(8):
            if byte & (0x80 >> bit):
                position = i * 8 + bit
                result ^= (key_bits >> (width - 32 - position)) & 0xFFFFFFFF
    return result


def flow_input(src: str, dst: str, sport: int | None = None, dport: int | None = None,
               symmetric_xor: bool = False) -> bytes:
    """The bytes a NIC hashes for a flow: addresses, then the ports when the flow type hashes them.
    With SYMMETRIC_XOR (``ethtool -X DEV xfrm symmetric-xor``, RXH_XFRM_SYM_XOR) both copies of the
    addresses are source XOR destination, and both ports too: the two directions hash alike."""
    sa, da = ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed
    if symmetric_xor:
        sa = da = bytes(x ^ y for x, y in zip(sa, da))
    data = sa + da
    if sport is not None and dport is not None:
        if symmetric_xor:
            sport = dport = sport ^ dport
        data += struct.pack("!HH", sport, dport)
    return data


def flow_hash(key: bytes, src: str, dst: str, sport: int | None = None, dport: int | None = None,
              symmetric_xor: bool = False) -> int:
    return toeplitz(key, flow_input(src, dst, sport, dport, symmetric_xor))
