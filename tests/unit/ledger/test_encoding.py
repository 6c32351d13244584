"""Canonical msgpack: spec vectors (docs/spec/vectors/encoding.json) and round-trip properties."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.encoding import decode, encode
from ledger.errors import EncodingError

VECTORS = json.loads((Path(__file__).parents[3] / "docs/spec/vectors/encoding.json").read_text())["vectors"]


def from_json(v: Any) -> Any:
    if isinstance(v, dict) and set(v) == {"$bin"}:
        return bytes.fromhex(v["$bin"])
    if isinstance(v, dict):
        return {k: from_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [from_json(x) for x in v]
    return v


@pytest.mark.parametrize("vec", [v for v in VECTORS if v["valid"]], ids=lambda v: v["name"])
def test_valid_vector_decodes_and_reencodes_identically(vec: dict[str, Any]) -> None:
    data = bytes.fromhex(vec["hex"])
    assert decode(data) == from_json(vec["value"])
    assert encode(from_json(vec["value"])) == data


@pytest.mark.parametrize("vec", [v for v in VECTORS if not v["valid"]], ids=lambda v: v["name"])
def test_invalid_vector_is_refused_with_its_code(vec: dict[str, Any]) -> None:
    with pytest.raises(EncodingError) as ei:
        decode(bytes.fromhex(vec["hex"]))
    assert ei.value.code == vec["error"]


def test_encode_refuses_floats_and_foreign_types() -> None:
    for bad, code in ((1.5, "E_ENCODING_FLOAT"), ({1: 2}, "E_ENCODING_KEY"), (object(), "E_ENCODING_TYPE"),
                      (2**64, "E_ENCODING_INT"), (-(2**63) - 1, "E_ENCODING_INT")):
        with pytest.raises(EncodingError) as ei:
            encode(bad)
        assert ei.value.code == code


def test_oversized_input_is_refused_before_parsing() -> None:
    with pytest.raises(EncodingError) as ei:
        decode(b"\xc0" * 10, max_bytes=5)
    assert ei.value.code == "E_ENCODING_SIZE"


def test_excessive_nesting_is_refused() -> None:
    deep: Any = 1
    for _ in range(40):
        deep = [deep]
    with pytest.raises(EncodingError) as ei:
        encode(deep)
    assert ei.value.code == "E_ENCODING_DEPTH"


values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1) | st.text() | st.binary(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=20,
)


@given(values)
def test_every_encodable_value_round_trips(v: Any) -> None:
    data = encode(v)
    assert decode(data) == v
    assert encode(decode(data)) == data


@given(st.dictionaries(st.text(max_size=6), st.integers(min_value=-(2**63), max_value=2**63), min_size=2, max_size=6))
def test_map_encoding_does_not_depend_on_insertion_order(d: dict[str, int]) -> None:
    assert encode(dict(reversed(list(d.items())))) == encode(d)


@given(st.binary(max_size=64))
def test_decode_never_accepts_bytes_that_do_not_reencode_identically(data: bytes) -> None:
    try:
        v = decode(data)
    except EncodingError:
        return
    assert encode(v) == data
