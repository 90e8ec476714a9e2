# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab tests' Toeplitz hash against the RSS verification suite: every published hash, exactly."""

from __future__ import annotations

from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path

import pytest

_loader = SourceFileLoader("lab_toeplitz", str(Path(__file__).resolve().parents[2] / "integration/lab/lab_toeplitz.py"))
toeplitz = module_from_spec(spec_from_loader(_loader.name, _loader))
_loader.exec_module(toeplitz)


@pytest.mark.parametrize("src,sport,dst,dport,addresses,with_ports", toeplitz.VERIFICATION_FLOWS)
def test_the_suites_hashes(src, sport, dst, dport, addresses, with_ports):
    assert toeplitz.flow_hash(toeplitz.VERIFICATION_KEY, src, dst) == addresses
    assert toeplitz.flow_hash(toeplitz.VERIFICATION_KEY, src, dst, sport, dport) == with_ports


def test_the_suite_covers_both_families():
    families = [":" in flow[0] for flow in toeplitz.VERIFICATION_FLOWS]
    assert families.count(False) == 5 and families.count(True) == 3


def test_a_key_too_short_for_the_input_is_refused():
    with pytest.raises(ValueError, match="a 12-byte key hashes at most 8 bytes, not 12"):
        toeplitz.toeplitz(bytes(12), bytes(12))


def test_the_hash_is_linear_in_the_input():
    # Toeplitz is a linear map over GF(2): the hash of a XOR b is the XOR of the hashes
    a, b = bytes(range(1, 13)), bytes(range(40, 52))
    key = toeplitz.VERIFICATION_KEY
    both = bytes(x ^ y for x, y in zip(a, b))
    assert toeplitz.toeplitz(key, both) == toeplitz.toeplitz(key, a) ^ toeplitz.toeplitz(key, b)


@pytest.mark.parametrize("src,sport,dst,dport,addresses,with_ports", toeplitz.VERIFICATION_FLOWS)
def test_symmetric_xor_hashes_both_directions_alike(src, sport, dst, dport, addresses, with_ports):
    key = toeplitz.VERIFICATION_KEY
    for ports in ((), (sport, dport)):
        forward = toeplitz.flow_hash(key, src, dst, *ports, symmetric_xor=True)
        assert forward == toeplitz.flow_hash(key, dst, src, *reversed(ports), symmetric_xor=True)
        # and differs from the plain hash, which the suite gives (the XOR folds the two halves)
        assert forward != (with_ports if ports else addresses)


def test_symmetric_xor_input_is_the_xor_twice():
    data = toeplitz.flow_input("10.0.0.1", "10.0.0.3", 1, 7, symmetric_xor=True)
    assert data == bytes([0, 0, 0, 2] * 2) + bytes([0, 6, 0, 6])
