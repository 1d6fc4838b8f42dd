#!/usr/bin/env python3
"""Gate an Autobahn/kosoku report directory (DIR/index.json).

index.json: {agent: {case_id: {behavior, behaviorClose, remoteCloseCode, duration, reportfile}}}

A case fails the gate when
  - behavior is FAILED, ERROR or anything unknown,
  - behaviorClose is FAILED, UNCLEAN or anything unknown,
  - behavior is UNIMPLEMENTED and the case id matches no --allow-unimplemented glob.
NON-STRICT and INFORMATIONAL pass; so does behavior OK with close WRONG CODE /
FAILED BY CLIENT (counted as non-strict).

Prints one line
  autobahn LABEL: N ok, N non-strict, N informational, N unimplemented, N failed of N
("failed" = every case failing the gate, disallowed UNIMPLEMENTED included),
then one line per failing case with its reason.
Exit: 0 pass, 1 some case failed, 2 no (usable) report.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from pathlib import Path

PASS_BEHAVIOR = {"OK": "ok", "NON-STRICT": "non-strict", "INFORMATIONAL": "informational",
                 "UNIMPLEMENTED": "unimplemented"}
PASS_CLOSE = {"OK", "INFORMATIONAL", "WRONG CODE", "FAILED BY CLIENT"}
BUCKETS = ("ok", "non-strict", "informational", "unimplemented", "failed")


def case_key(case_id: str) -> list[int]:
    return [int(p) if p.isdigit() else 0 for p in case_id.split(".")]


def classify(case_id: str, e: dict, allow: list[str]) -> tuple[str, str]:
    """(bucket, why-it-failed or '')."""
    behavior, close = e.get("behavior"), e.get("behaviorClose")
    if behavior not in PASS_BEHAVIOR:
        return "failed", f"behavior {behavior}"
    if close not in PASS_CLOSE:
        return "failed", f"close {close}"
    if behavior == "UNIMPLEMENTED" and not any(fnmatch.fnmatchcase(case_id, g) for g in allow):
        return "failed", "UNIMPLEMENTED (not in allowed globs)"
    if behavior == "OK" and close != "OK":
        return "non-strict", ""
    return PASS_BEHAVIOR[behavior], ""


def reason(outdir: Path, e: dict) -> str:
    """Autobahn's own one-line explanation from the per-case report, if any."""
    try:
        with open(outdir / e["reportfile"]) as f:
            case = json.load(f)
    except (OSError, KeyError, TypeError, ValueError):
        return ""
    parts = [case.get("result") or "", case.get("resultClose") or ""]
    return " / ".join(p for p in parts if p)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir", type=Path, help="kosoku -o directory")
    ap.add_argument("--label", default="", help="name printed in the summary line, e.g. /m")
    ap.add_argument("--allow-unimplemented", action="append", default=[], metavar="GLOB",
                    help="case-id glob allowed to be UNIMPLEMENTED, e.g. '12.*' (repeatable)")
    ap.add_argument("--max-list", type=int, default=60, help="list at most this many failing cases")
    args = ap.parse_args()
    label = f"autobahn {args.label}".rstrip()

    index = args.outdir / "index.json"
    try:
        with open(index) as f:
            data = json.load(f)
        if not isinstance(data, dict) or not data or not any(data.values()):
            raise ValueError("empty report")
    except (OSError, ValueError) as err:
        print(f"{label}: no usable report at {index}: {err}")
        return 2

    counts = dict.fromkeys(BUCKETS, 0)
    failing = []
    for agent in sorted(data):
        for case_id in sorted(data[agent], key=case_key):
            e = data[agent][case_id]
            bucket, why = classify(case_id, e, args.allow_unimplemented)
            counts[bucket] += 1
            if bucket == "failed":
                failing.append((case_id, why, e))
    total = sum(counts.values())
    print(f"{label}: " + ", ".join(f"{counts[b]} {b}" for b in BUCKETS) + f" of {total}")

    for case_id, why, e in failing[: args.max_list]:
        print(f"  FAIL {case_id}: {why}; behavior={e.get('behavior')} close={e.get('behaviorClose')} "
              f"code={e.get('remoteCloseCode')} {e.get('duration')}ms; {reason(args.outdir, e)}")
    if len(failing) > args.max_list:
        print(f"  ... and {len(failing) - args.max_list} more failing cases")
    if failing:
        print(f"  report: {args.outdir / 'index.html'}")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
