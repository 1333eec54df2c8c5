#!/usr/bin/env python3
"""Regenerates data/attack/enterprise-attack.json, the ATT&CK catalogue casebook
ships, from MITRE's official STIX data (https://github.com/mitre/cti).

    git clone --depth 1 https://github.com/mitre/cti /tmp/cti
    scripts/attack-catalogue.py /tmp/cti 18.1 > data/attack/enterprise-attack.json

The path may also be a bare git directory (the objects are read with
`git show HEAD:...`). Keeps, per technique: id, name, tactics (by shortname,
in matrix order), and whether it is deprecated or revoked (casebook refuses
those for new use). Tactics keep id, name and shortname in matrix order.
"""

import json
import os
import subprocess
import sys


def reader(root):
    """Lists and reads the STIX object files under enterprise-attack/."""
    if os.path.isdir(os.path.join(root, "enterprise-attack")):
        def names(folder):
            path = os.path.join(root, "enterprise-attack", folder)
            return [os.path.join("enterprise-attack", folder, n) for n in sorted(os.listdir(path))]

        def read(name):
            with open(os.path.join(root, name), encoding="utf-8") as f:
                return json.load(f)
    else:
        def git(*args):
            return subprocess.run(["git", "--git-dir", root, *args], check=True, capture_output=True).stdout

        def names(folder):
            listing = git("ls-tree", "--name-only", "HEAD", f"enterprise-attack/{folder}/").decode()
            return sorted(line for line in listing.splitlines() if line.endswith(".json"))

        def read(name):
            return json.loads(git("show", f"HEAD:{name}"))
    return names, read


def objects(names, read, folder):
    for name in names(folder):
        yield from read(name)["objects"]


def attack_id(obj):
    for ref in obj.get("external_references", []):
        if ref.get("source_name") == "mitre-attack":
            return ref["external_id"]
    return None


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    root, version = sys.argv[1], sys.argv[2]
    names, read = reader(root)
    tactics = {t["id"]: t for t in objects(names, read, "x-mitre-tactic") if not t.get("x_mitre_deprecated")}
    matrix = next(objects(names, read, "x-mitre-matrix"))
    ordered = [tactics[ref] for ref in matrix["tactic_refs"] if ref in tactics]
    order = {t["x_mitre_shortname"]: i for i, t in enumerate(ordered)}
    techniques = []
    for obj in objects(names, read, "attack-pattern"):
        technique_id = attack_id(obj)
        if not technique_id or "enterprise-attack" not in obj.get("x_mitre_domains", ["enterprise-attack"]):
            continue
        phases = [p["phase_name"] for p in obj.get("kill_chain_phases", []) if p["kill_chain_name"] == "mitre-attack"]
        techniques.append({
            "id": technique_id,
            "name": obj["name"],
            "tactics": sorted(set(phases), key=lambda p: order.get(p, len(order))),
            "retired": bool(obj.get("x_mitre_deprecated") or obj.get("revoked")),
        })
    techniques.sort(key=lambda t: [int(part) for part in t["id"][1:].split(".")])
    catalogue = {
        "source": "MITRE ATT&CK Enterprise, STIX 2.1 (https://github.com/mitre/cti)",
        "version": version,
        "tactics": [{"id": attack_id(t), "name": t["name"], "shortname": t["x_mitre_shortname"]} for t in ordered],
        "techniques": techniques,
    }
    json.dump(catalogue, sys.stdout, indent=0, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
