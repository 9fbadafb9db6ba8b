#!/usr/bin/env python3
"""Print a deploy report (docs/report.schema.json) as Markdown for $GITHUB_STEP_SUMMARY."""

from __future__ import annotations

import json
import sys

STEPS = ("pull", "start", "gate", "switch", "confirm", "total")


def markdown(report: dict) -> str:
    lines = [f"### berth {report['kind']} `{report['release_id']}`: **{report['result']}**", ""]
    if report.get("message"):
        lines += [f"> {' '.join(report['message'].split())}", ""]
    lines += ["| target | app | result | colour | image digests | " + " | ".join(STEPS) + " |",
              "|---|---|---|---|---|" + "---:|" * len(STEPS)]
    for t in report["targets"]:
        result = t["result"] + (f" at `{t['step']}`" if t["step"] else "")
        digests = "<br>".join(f"{name}: `{ref.rsplit('@', 1)[-1][:19]}`"
                              for name, ref in sorted(t["digests"].items()))
        seconds = " | ".join(f"{t['timings'][s]:.1f}" if s in t["timings"] else "" for s in STEPS)
        lines.append(f"| {t['name']} | {t['app']} | {result} | {t['colour'] or ''} | {digests} | {seconds} |")
    for t in report["targets"]:
        restored = t.get("restored")
        if restored:
            routes = ", ".join(restored["routes"]) or "never changed"
            lines.append(f"\n**{t['name']}**: routes put back: {routes}; taken down: "
                         f"{restored['colour_taken_down'] or 'nothing'}; traffic on "
                         f"{restored['live_colour'] or 'nothing'} ({restored['live_release'] or '-'}).")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as fh:
        sys.stdout.write(markdown(json.load(fh)))
