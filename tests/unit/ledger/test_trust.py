"""ledger.trust: trust files in the plain and the policy form, and k-of-n witness quorums."""

from __future__ import annotations

import hashlib

import pytest
from nacl.signing import SigningKey

from ledger import checkpoint as cp
from ledger import merkle
from ledger.errors import CheckpointError, UsageError
from ledger.trust import TrustPolicy, as_policy, parse_policy, witness_endpoints

LOG = SigningKey(bytes([41]) * 32)
WITNESS_KEYS = [SigningKey(bytes([42 + i]) * 32) for i in range(3)]
ORIGIN = "fj.example/ledger"
LOG_V = cp.NoteVerifier.from_signing_key(ORIGIN, LOG)
WS = [cp.NoteVerifier.from_signing_key(f"w{i}.example", k, cp.ALG_COSIGNATURE_V1) for i, k in enumerate(WITNESS_KEYS)]
POLICY = f"""# fj ledger, two of three witnesses
log {LOG_V.to_vkey()}
witness {WS[0].to_vkey()} http://127.0.0.1:8090/
witness {WS[1].to_vkey()}
witness {WS[2].to_vkey()} https://w2.example
quorum 2
"""


def cosigned(*which: int) -> str:
    note = cp.sign_checkpoint(ORIGIN, 3, merkle.root_of([hashlib.sha256(b"%d" % i).digest() for i in range(3)]),
                              ORIGIN, LOG)
    for i in which:
        note = cp.add_cosignature(note, f"w{i}.example", WITNESS_KEYS[i], timestamp=1_700_000_000 + i)
    return note


def test_policy_form_parses_with_urls_and_quorum() -> None:
    p = parse_policy(POLICY)
    assert (p.log_keys, p.witnesses, p.quorum) == ((LOG_V,), tuple(WS), 2)
    assert p.urls == {"w0.example": "http://127.0.0.1:8090", "w2.example": "https://w2.example"}
    assert "2 of 3 witnesses" in p.describe()


def test_plain_form_is_a_policy_without_witnesses() -> None:
    p = parse_policy(f"# old trust file\n{LOG_V.to_vkey()}\n")
    assert (p.log_keys, p.witnesses, p.quorum) == ((LOG_V,), (), 0)
    assert as_policy([LOG_V.to_vkey()]) == p


def test_k_of_n_quorum_is_enforced() -> None:
    p = parse_policy(POLICY)
    assert p.verify(cosigned(0, 2)).witnesses == ("w0.example", "w2.example")
    assert p.verify(cosigned(0, 1, 2)).witnesses == ("w0.example", "w1.example", "w2.example")
    with pytest.raises(CheckpointError) as e:
        p.verify(cosigned(1))
    assert (e.value.step, e.value.code) == ("4.7", "E_CHECKPOINT_QUORUM")
    assert parse_policy(POLICY.replace("quorum 2", "quorum 0")).verify(cosigned()).size == 3


@pytest.mark.parametrize(("text", "match"), [
    ("", "at least one log key"),
    (f"witness {WS[0].to_vkey()}\nquorum 1\n", "at least one log key"),
    (f"log {WS[0].to_vkey()}\n", "type-0x01"),
    (f"{WS[0].to_vkey()}\n", "bare key"),
    (f"log {LOG_V.to_vkey()}\nwitness {LOG_V.to_vkey()}\nquorum 1\n", "type-0x04"),
    (f"log {LOG_V.to_vkey()}\nwitness {WS[0].to_vkey()}\n", "no `quorum"),
    (f"log {LOG_V.to_vkey()}\nwitness {WS[0].to_vkey()}\nquorum 2\n", "cannot be met"),
    (f"log {LOG_V.to_vkey()}\nquorum 1\nquorum 1\n", "line 3"),
    (f"log {LOG_V.to_vkey()}\nquorum -1\n", "line 2"),
    (f"log {LOG_V.to_vkey()}\nwitness {WS[0].to_vkey()}\nwitness {WS[0].to_vkey()}\nquorum 1\n", "twice"),
    (f"log {LOG_V.to_vkey()}\ntrust everyone\n", "line 2"),
    (f"log {LOG_V.to_vkey()[:-2]}xx\n", "line 1"),
])
def test_bad_trust_files_are_refused_naming_the_problem(text: str, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        parse_policy(text)


def test_witness_endpoints_are_the_witness_lines_with_urls() -> None:
    text = POLICY.replace(f"witness {WS[1].to_vkey()}\n", "")
    assert witness_endpoints(text) == [(WS[0], "http://127.0.0.1:8090"), (WS[2], "https://w2.example")]
    with pytest.raises(UsageError, match="line 4"):
        witness_endpoints(POLICY)  # w1 has no URL
    with pytest.raises(UsageError, match="type-0x04"):
        witness_endpoints(f"witness {LOG_V.to_vkey()} http://x\n")


def test_a_policy_cannot_be_built_unmeetable() -> None:
    with pytest.raises(UsageError):
        TrustPolicy((LOG_V,), (WS[0],), 2)
    with pytest.raises(UsageError):
        TrustPolicy((WS[0],))
