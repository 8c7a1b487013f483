#!/usr/bin/env python3
"""Extracts the facts of Kafka's message schemas into keel's own schema files.

Reads the reference JSON (Kafka 3.8.0, Apache License 2.0) and writes one file per message
under protocol/schemas/, keeping only facts: names, types, versions, nullability, tags,
defaults, map keys, common structs. Prose ("about") is dropped. Also writes errors.tsv with
each error's code and name.

  import_schemas.py REFERENCE_DIR SCHEMA_DIR            write the schema files
  import_schemas.py REFERENCE_DIR SCHEMA_DIR --check    compare; exit 1 on any difference,
                                                        77 (skipped) if REFERENCE_DIR is absent
"""
import json
import os
import re
import sys

# ZooKeeper-era inter-broker APIs keel never speaks.
EXCLUDED = {"LeaderAndIsr", "StopReplica", "UpdateMetadata", "ControlledShutdown"}
GROUPS = ("message", "metadata", "coordinator")
MESSAGE_KEYS = ("apiKey", "type", "listeners", "name", "validVersions", "deprecatedVersions",
                "flexibleVersions", "latestVersionUnstable")
FIELD_KEYS = ("name", "type", "versions", "nullableVersions", "taggedVersions", "tag",
              "flexibleVersions", "default", "ignorable", "mapKey", "zeroCopy", "entityType")


def strip_comments(text):
    return re.sub(r"^\s*//.*$", "", text, flags=re.M)


def facts_of_fields(fields):
    out = []
    for f in fields:
        g = {k: f[k] for k in FIELD_KEYS if k in f}
        if "fields" in f:
            g["fields"] = facts_of_fields(f["fields"])
        out.append(g)
    return out


def facts_of_message(m):
    out = {k: m[k] for k in MESSAGE_KEYS if k in m}
    out["fields"] = facts_of_fields(m.get("fields", []))
    if "commonStructs" in m:
        out["commonStructs"] = [{"name": s["name"], "versions": s["versions"],
                                 "fields": facts_of_fields(s["fields"])}
                                for s in m["commonStructs"]]
    return out


def render(obj, indent=0):
    """JSON with one field per line, so diffs of schema files stay readable."""
    pad = "  " * indent
    if isinstance(obj, dict):
        scalar = {k: v for k, v in obj.items() if not isinstance(v, list) or
                  not any(isinstance(x, dict) for x in v)}
        nested = {k: v for k, v in obj.items() if k not in scalar}
        if not nested:
            return json.dumps(obj)
        lines = [pad + "{"]
        items = [f'{pad}  {json.dumps(k)}: {json.dumps(v)}' for k, v in scalar.items()]
        for k, v in nested.items():
            body = ",\n".join(render_item(x, indent + 2) for x in v)
            items.append(f'{pad}  {json.dumps(k)}: [\n{body}\n{pad}  ]')
        lines.append(",\n".join(items))
        lines.append(pad + "}")
        return "\n".join(lines)
    return json.dumps(obj)


def render_item(obj, indent):
    text = render(obj, indent)
    return text if "\n" in text else "  " * indent + text


def base_name(name):
    return re.sub(r"(Request|Response)$", "", name)


def expected_files(ref):
    files = {}
    for group in GROUPS:
        d = os.path.join(ref, group)
        for fn in sorted(os.listdir(d)):
            if not fn.endswith(".json"):
                continue
            with open(os.path.join(d, fn)) as fh:
                m = json.loads(strip_comments(fh.read()))
            if base_name(m["name"]) in EXCLUDED:
                continue
            files[os.path.join(group, fn)] = render(facts_of_message(m)) + "\n"
    rows = ["code\tname"]
    with open(os.path.join(ref, "errors.tsv")) as fh:
        for line in fh.read().splitlines()[1:]:
            code, name = line.split("\t")[:2]
            rows.append(f"{code}\t{name}")
    files["errors.tsv"] = "\n".join(rows) + "\n"
    return files


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    ref, out = sys.argv[1], sys.argv[2]
    check = "--check" in sys.argv[3:]
    if not os.path.isdir(ref):
        print(f"reference folder {ref} not found; skipping")
        return 77 if check else 1
    files = expected_files(ref)
    if check:
        problems = []
        for rel, text in files.items():
            path = os.path.join(out, rel)
            if not os.path.exists(path):
                problems.append(f"missing: {rel}")
            elif open(path).read() != text:
                problems.append(f"differs from the reference: {rel}")
        for group in GROUPS:
            for fn in sorted(os.listdir(os.path.join(out, group))):
                if os.path.join(group, fn) not in files:
                    problems.append(f"not in the reference: {group}/{fn}")
        for p in problems:
            print(p)
        print(f"{len(files)} schema files compared, {len(problems)} differences")
        return 1 if problems else 0
    for rel, text in files.items():
        path = os.path.join(out, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as fh:
            fh.write(text)
    print(f"wrote {len(files)} files under {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
