"""The one command-line shape of the bundle report modules (``python -m ledger.bundle_deadlines`` and
``python -m ledger.bundle_evidence``): verify the bundle against the trusted keys, then print a report.

Standard library and the ledger's pure modules only, like the standalone verifier beside it.
Exit codes: 0 the bundle verifies (and the report says so), 1 the bundle fails or the report
disagrees with it, 2 the files cannot be read or the trust file is malformed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Protocol

from ledger.bundle import VerifiedBundle, load_verified_bundle
from ledger.errors import UsageError, VerificationError
from ledger.limits import DEFAULT_LIMITS
from ledger.trust import parse_policy


class Report(Protocol):
    """A report: from a verified bundle (and ``--json``), the text to print and the exit code."""

    def __call__(self, vb: VerifiedBundle, *, as_json: bool) -> tuple[str, int]: ...  # noqa: D102


def run_report(prog: str, description: str, report: Report, argv: Sequence[str] | None = None) -> int:
    """Parse ``FILE --trust KEYFILE [--json]``, verify the bundle, print ``report``'s text."""
    p = argparse.ArgumentParser(prog=f"python -m ledger.{prog}", description=description)
    p.add_argument("file", help="the bundle file")
    p.add_argument("--trust", required=True,
                   help="trust file: the log key, or a policy with witness keys and a quorum (spec 04)")
    p.add_argument("--json", action="store_true", help="print JSON")
    args = p.parse_args(argv)
    try:
        with open(args.file, "rb") as f:  # noqa: PTH123 - read no more than the limit allows
            data = f.read(DEFAULT_LIMITS.max_bundle_bytes + 1)
        with open(args.trust, encoding="utf-8") as f:  # noqa: PTH123
            vb = load_verified_bundle(data, parse_policy(f.read()))
    except (OSError, UnicodeDecodeError, UsageError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    except VerificationError as e:
        print(f"{prog}: the bundle does not verify (step {e.step}): {e.message}", file=sys.stderr)
        return 1
    out, code = report(vb, as_json=args.json)
    print(out)
    return code
