"""Write or check simulation/tracks/manifest.json: facts about the public track files, not the files.

    # from a checkout of aws-deepracer-community/deepracer-analysis at the pinned commit:
    python scripts/track_manifest.py write UPSTREAM/tracks --commit <sha> --core-from ../shared/tracks
    # check that a folder holds exactly what the manifest says (every file of the folder it knows):
    python scripts/track_manifest.py check ../shared/tracks [--core]

``--core-from`` names a folder whose file names are the core set (the 61 that `tracks --download`
fetches); every other file of the upstream folder is listed as a variant.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulation.track_sources import MANIFEST_PATH, file_facts, manifest  # noqa: E402

REPOSITORY = "aws-deepracer-community/deepracer-analysis"


def write(folder: Path, commit: str, core_from: Path, out: Path) -> int:
    core = {p.stem for p in core_from.glob("*.npy")}
    files = sorted(folder.glob("*.npy"), key=lambda p: p.stem.lower())
    missing = core - {p.stem for p in files}
    if missing:
        print(f"error: core tracks missing upstream: {', '.join(sorted(missing))}", file=sys.stderr)
        return 1
    doc = {
        "source": {"repository": REPOSITORY, "commit": commit, "folder": "tracks", "licence": "MIT-0",
                   "url": f"https://raw.githubusercontent.com/{REPOSITORY}/{commit}/tracks/"},
        "tracks": [dict(file_facts(p), core=p.stem in core) for p in files],
    }
    rows = ",\n".join("  " + json.dumps(t) for t in doc["tracks"])   # a line per track: readable diffs
    out.write_text(f'{{"source": {json.dumps(doc["source"], indent=1)},\n "tracks": [\n{rows}\n ]}}\n')
    print(f"wrote {out}: {len(files)} tracks, {len(core)} core")
    return 0


def check(folder: Path, core_only: bool) -> int:
    m = manifest()
    names = m.core_names() if core_only else sorted(m.tracks)
    bad = []
    for name in names:
        path = folder / f"{name}.npy"
        if not path.is_file():
            if core_only:
                bad.append(f"{name}: missing")
            continue
        facts = file_facts(path)
        want = m.tracks[name]
        if (facts["sha256"], facts["size_bytes"], facts["points"]) != (want.sha256, want.size_bytes, want.points) \
                or abs(facts["length_m"] - want.length_m) > 1e-3:
            bad.append(f"{name}: {facts} differs from the manifest")
    for line in bad:
        print(line, file=sys.stderr)
    print(f"{folder}: {len(names) - len(bad)} of {len(names)} {'core ' if core_only else ''}tracks match the manifest")
    return 1 if bad else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("folder", type=Path)
    w.add_argument("--commit", required=True)
    w.add_argument("--core-from", type=Path, required=True)
    w.add_argument("--out", type=Path, default=MANIFEST_PATH)
    c = sub.add_parser("check")
    c.add_argument("folder", type=Path)
    c.add_argument("--core", action="store_true", help="every core track must be there")
    args = p.parse_args()
    if args.cmd == "write":
        return write(args.folder, args.commit, args.core_from, args.out)
    return check(args.folder, args.core)


if __name__ == "__main__":
    raise SystemExit(main())
