#!/usr/bin/env python3
"""deploy/Dockerfile and /.dockerignore against what `cargo build` reads.

    dockerfile.py REPO_ROOT

There is no Docker daemon to build with, so what a build would trip over is
checked statically:

- the build context (/.dockerignore: everything out, then named paths back
  in) holds Cargo.toml, Cargo.lock, every target's source folder the build
  compiles, and every file src/ pulls in with include_str!/include_bytes!;
- the Dockerfile's stand-ins for the benches and integration tests (left
  out of the context) are exactly Cargo.toml's [[bench]] and [[test]]
  targets: cargo refuses a manifest with a missing bench file, even for
  `--bin geolat`;
- the build stage is the pinned rust:X.Y-bookworm (not older than the
  crate's rust-version), the final stage distroless cc on bookworm
  (glibc match), numeric non-root USER, exec-form ENTRYPOINT.
"""

import os
import re
import sys
import tomllib

BUILDER = re.compile(r"^FROM\s+rust:(\d+)\.(\d+)-bookworm\s+AS\s+build\s*$", re.I | re.M)
RUNTIME = re.compile(r"^FROM\s+gcr\.io/distroless/cc-debian12:nonroot\s*$", re.M)


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = argv[1]
    failures = []
    fail = failures.append
    dockerfile = open(os.path.join(root, "deploy", "Dockerfile")).read()
    ignore = [line.strip() for line in open(os.path.join(root, ".dockerignore")) if line.strip() and not line.startswith("#")]
    with open(os.path.join(root, "Cargo.toml"), "rb") as f:
        cargo = tomllib.load(f)

    # The context: `*` first, then the paths let back in.
    if not ignore or ignore[0] != "*":
        fail(".dockerignore: must start with `*` (everything out, needed paths back in)")
    kept = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    in_context = lambda path: path.split("/")[0] in kept or path in kept

    for needed in ("Cargo.toml", "Cargo.lock", "src"):
        if not in_context(needed):
            fail(f".dockerignore: `{needed}` is not in the build context")
    for target in [cargo.get("lib", {})] + cargo.get("bin", []):
        path = target.get("path")
        if path and not in_context(path):
            fail(f".dockerignore: {path} (a target cargo builds) is not in the build context")

    # Files compiled in from outside src/ (include_str!, include_bytes!).
    for folder, _, names in os.walk(os.path.join(root, "src")):
        for name in names:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(folder, name)
            for m in re.finditer(r'include_(?:str|bytes)!\(\s*"([^"]+)"\s*\)', open(path).read()):
                target = os.path.relpath(os.path.normpath(os.path.join(folder, m.group(1))), root)
                if not in_context(target):
                    fail(f".dockerignore: {target} (included by {os.path.relpath(path, root)}) is not in the build context")
                elif not os.path.exists(os.path.join(root, target)):
                    fail(f"{target} (included by {os.path.relpath(path, root)}) does not exist")

    # Every COPY from the context copies something the context has.
    for m in re.finditer(r"^COPY\s+(?!--from)(.+?)\s+\S+\s*$", dockerfile, re.M):
        for src in m.group(1).split():
            if not in_context(src.rstrip("/")):
                fail(f"deploy/Dockerfile: COPY {src}: not in the build context (.dockerignore)")

    # Stand-ins for the targets left out of the context.
    stubs = set()
    for instruction in re.split(r"(?<!\\)\n", dockerfile):
        if instruction.startswith("RUN mkdir -p "):
            stubs |= set(re.findall(r"(?:benches|tests)/[\w/.-]+\.rs", instruction))
    wanted = set()
    for bench in cargo.get("bench", []):
        wanted.add(bench.get("path", f"benches/{bench['name']}.rs"))
    for test in cargo.get("test", []):
        wanted.add(test.get("path", f"tests/{test['name']}.rs"))
    wanted = {w for w in wanted if not in_context(w)}
    if stubs != wanted:
        fail(f"deploy/Dockerfile: stand-ins {sorted(stubs)} differ from Cargo.toml's bench/test targets {sorted(wanted)}")

    # Stages, user, entrypoint.
    builder = BUILDER.search(dockerfile)
    if not builder:
        fail("deploy/Dockerfile: the build stage must be `FROM rust:X.Y-bookworm AS build` (pinned, bookworm like the runtime)")
    else:
        have = (int(builder.group(1)), int(builder.group(2)))
        need = tuple(int(x) for x in cargo["package"].get("rust-version", "1.0").split(".")[:2])
        if have < need:
            fail(f"deploy/Dockerfile: rust:{have[0]}.{have[1]} is older than Cargo.toml's rust-version {need[0]}.{need[1]}")
    if "cargo build --release --locked --bin geolat" not in dockerfile:
        fail("deploy/Dockerfile: must run `cargo build --release --locked --bin geolat`")
    froms = re.findall(r"^FROM\s+.*$", dockerfile, re.M)
    if not froms or not RUNTIME.match(froms[-1]):
        fail("deploy/Dockerfile: the final stage must be gcr.io/distroless/cc-debian12:nonroot")
    users = re.findall(r"^USER\s+(\S+)\s*$", dockerfile, re.M)
    if users != ["65532:65532"]:
        fail(f"deploy/Dockerfile: USER must be the numeric 65532:65532 in the final stage, found {users}")
    if not re.search(r'^ENTRYPOINT \["/usr/local/bin/geolat"\]\s*$', dockerfile, re.M):
        fail('deploy/Dockerfile: ENTRYPOINT must be ["/usr/local/bin/geolat"] (exec form: no shell in the image)')

    for f in failures:
        print(f"FAIL {f}", file=sys.stderr)
    print("dockerfile.py: context, stand-ins, stages and user agree with Cargo.toml"
          if not failures else f"dockerfile.py: {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
