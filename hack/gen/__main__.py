"""python -m hack.gen manifests [--check]         RBAC roles and docs/configuration.md
python -m hack.gen bundle [--check] [--version V] [--image IMG]   bundle/ and bundle.Dockerfile
python -m hack.gen helm [--check]                charts/nimbusguard-operator (Helm chart)
python -m hack.gen catalog --opm OPM [--bundle-image IMG] [--out DIR]   the OLM catalog
python -m hack.gen verify                         every --check (make verify)
python -m hack.gen render DIR [--image IMG]       kubectl kustomize DIR with the manager image
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from hack.gen import bundle, catalog, helm, kustomize, outputs


def _manifests(root: Path, check: bool) -> bool:
    files = {path: render() for path, render in outputs.manifests(root).items()}
    if check:
        return outputs.check(files, root)
    outputs.write(files, root)
    return True


def _tree(root: Path, files: dict[Path, str], directory: Path, check: bool, target: str) -> bool:
    """Write (or check) a generated directory: `files`, and nothing else in `directory`."""
    stray = sorted(p for p in directory.rglob("*") if p.is_file() and p not in files)
    if check:
        fresh = outputs.check(files, root)
        for path in stray:
            sys.stderr.write(f"{path.relative_to(root)} is not generated: run `make {target}`.\n")
        return fresh and not stray
    for path in stray:
        path.unlink()
        print(f"removed {path.relative_to(root)}")
    outputs.write(files, root)
    return True


def _bundle(root: Path, check: bool, options: outputs.BundleOptions) -> bool:
    files = outputs.bundle_files(root, options)
    return _tree(root, files, root / "bundle", check, "bundle")


def _helm(root: Path, check: bool) -> bool:
    files = {root / rel: text for rel, text in helm.render(root).items()}
    return _tree(root, files, root / helm.CHART_DIR, check, "helm-chart")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.gen", description=__doc__)
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root")
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("manifests", help="RBAC roles and docs/configuration.md")
    m.add_argument("--check", action="store_true", help="fail if a file is stale")
    b = sub.add_parser("bundle", help="the OLM bundle")
    b.add_argument("--check", action="store_true", help="fail if a file is stale")
    b.add_argument("--version", help="bundle version (default: pyproject.toml's)")
    b.add_argument("--image", help="operator image (default: what config/manager renders)")
    hc = sub.add_parser("helm", help="the Helm chart")
    hc.add_argument("--check", action="store_true", help="fail if a file is stale")
    c = sub.add_parser("catalog", help="the OLM File-Based Catalog, validated with opm")
    c.add_argument("--opm", required=True, help="the opm binary (hack/go-tool.sh opm)")
    c.add_argument("--bundle-image", help="bundle image (default: the version's on ghcr.io)")
    c.add_argument("--out", type=Path, default=Path("dist/catalog"), help="output directory")
    sub.add_parser("verify", help="check every generated file")
    r = sub.add_parser("render", help="kubectl kustomize DIR, with the manager image replaced")
    r.add_argument("directory", type=Path)
    r.add_argument("--image", help="operator image (default: keep the rendered one)")
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()

    try:
        if args.command == "manifests":
            ok = _manifests(root, args.check)
        elif args.command == "bundle":
            ok = _bundle(root, args.check, outputs.BundleOptions(args.version, args.image))
        elif args.command == "helm":
            ok = _helm(root, args.check)
        elif args.command == "catalog":
            image = args.bundle_image or (
                "ghcr.io/nimbusguard/nimbusguard-operator-bundle:v" + bundle.project_version(root)
            )
            written = catalog.build(root, args.opm, image, root / args.out)
            print(f"wrote {written.relative_to(root)}; opm validate passed, a broken copy failed")
            ok = True
        elif args.command == "verify":
            ok = _manifests(root, check=True)
            ok = _bundle(root, True, outputs.BundleOptions()) and ok
            ok = _helm(root, check=True) and ok
        else:
            objects = kustomize.build(args.directory)
            if args.image:
                kustomize.set_image(objects, args.image)
            sys.stdout.write(kustomize.dump(objects))
            ok = True
    except (
        kustomize.KustomizeError,
        bundle.BundleError,
        helm.HelmChartError,
        catalog.CatalogError,
    ) as exc:
        print(f"hack.gen: {exc}", file=sys.stderr)
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
