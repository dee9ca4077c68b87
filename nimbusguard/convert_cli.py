"""`nimbusguard convert`: HPAs and KEDA ScaledObjects in, ScalingPolicies out.

Reads manifests from files, directories, stdin (`-f -`, or piped input), or the cluster of a
kubeconfig context (`--from-cluster`), converts each HPA (autoscaling/v2) and ScaledObject
(keda.sh/v1alpha1) with `nimbusguard.migration`, and writes the ScalingPolicies as YAML, each
preceded by comments listing what was not carried over and why. A summary goes to stderr.

Exit codes: 0 when at least one object was converted (notes or not), 1 when nothing could be
converted, 2 for unreadable input or a usage error.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast

JSON = dict[str, Any]


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "convert",
        help="turn HPAs and KEDA ScaledObjects into ScalingPolicies",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-f",
        "--filename",
        action="append",
        default=[],
        metavar="PATH",
        help="a YAML/JSON file, a directory of them, or - for stdin (repeatable)",
    )
    parser.add_argument(
        "--from-cluster",
        action="store_true",
        help="read the HPAs and ScaledObjects of the kubeconfig's cluster",
    )
    parser.add_argument("-n", "--namespace", help="with --from-cluster: only this namespace")
    parser.add_argument("--kubeconfig", help="with --from-cluster (default: $KUBECONFIG)")
    parser.add_argument("--context", help="with --from-cluster (default: the current context)")
    parser.add_argument(
        "-o", "--output", type=Path, help="write the ScalingPolicies here (default: stdout)"
    )
    parser.set_defaults(func=_run)


class InputError(Exception):
    """Input that cannot be read; the message is one line."""


def _documents(text: str, where: str) -> Iterator[JSON]:
    import yaml

    try:
        for doc in yaml.safe_load_all(text):
            if doc is None:
                continue
            if not isinstance(doc, dict):
                raise InputError(f"{where}: a document is not a mapping")
            if doc.get("kind", "").endswith("List") and isinstance(doc.get("items"), list):
                # `kubectl get hpa -o yaml` prints a List.
                yield from (item for item in doc["items"] if isinstance(item, dict))
            else:
                yield doc
    except yaml.YAMLError as exc:
        raise InputError(f"{where}: not YAML: {str(exc).splitlines()[0]}") from None


def _from_path(name: str, stdin: IO[str]) -> Iterator[JSON]:
    if name == "-":
        yield from _documents(stdin.read(), "stdin")
        return
    path = Path(name)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
    elif path.exists():
        files = [path]
    else:
        raise InputError(f"{name}: no such file or directory")
    for file in files:
        try:
            text = file.read_text()
        except OSError as exc:
            raise InputError(f"{file}: {exc.strerror}") from None
        yield from _documents(text, str(file))


def _from_cluster(args: argparse.Namespace) -> Iterator[JSON]:
    """HPAs (those KEDA made are left out: convert their ScaledObject) and ScaledObjects."""
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException

    try:
        # NB: a sync client of its own, not nimbusguard.clients: the operator never lists
        # HPAs cluster-wide or ScaledObjects, and its RBAC is checked against those modules.
        api = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=args.kubeconfig, context=args.context
        )
    except (ConfigException, OSError) as exc:
        raise InputError(f"--from-cluster: no usable kubeconfig ({exc})") from None
    custom = client.CustomObjectsApi(api)
    kinds = (
        ("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler"),
        ("keda.sh", "v1alpha1", "scaledobjects", "ScaledObject"),
    )
    try:
        for group, version, plural, kind in kinds:
            listed: JSON
            try:
                if args.namespace:
                    listed = cast(
                        JSON,
                        custom.list_namespaced_custom_object(
                            group, version, args.namespace, plural, _request_timeout=30
                        ),
                    )
                else:
                    listed = cast(
                        JSON,
                        custom.list_cluster_custom_object(
                            group, version, plural, _request_timeout=30
                        ),
                    )
            except ApiException as exc:
                if exc.status == 404 and group == "keda.sh":
                    continue  # KEDA is not installed
                raise InputError(
                    f"--from-cluster: listing {plural} failed: {exc.status} {exc.reason}"
                ) from None
            items: list[JSON] = listed.get("items", [])
            for item in items:
                meta: JSON = item.get("metadata") or {}
                owners: list[JSON] = meta.get("ownerReferences") or []
                if any(o.get("kind") == "ScaledObject" for o in owners):
                    continue
                yield {"apiVersion": f"{group}/{version}", "kind": kind, **item}
    except OSError as exc:  # urllib3 errors are OSErrors: the cluster did not answer
        raise InputError(f"--from-cluster: the API server did not answer ({exc})") from None
    finally:
        api.close()


def _comment(text: str) -> str:
    return "\n".join(f"# {line}".rstrip() for line in text.splitlines())


def render(conversion: Any) -> str:
    """One ScalingPolicy as YAML, preceded by what did not fit and how to switch over."""
    import yaml

    from nimbusguard import migration

    lines = [f"Converted from {conversion.source} by `nimbusguard convert`."]
    dropped = [n for n in conversion.notes if n.dropped]
    approx = [n for n in conversion.notes if not n.dropped]
    if dropped:
        lines.append("Not carried over:")
        lines += [f"  {n.field}: {n.message}" for n in dropped]
    if approx:
        lines.append("Carried over with different semantics:")
        lines += [f"  {n.field}: {n.message}" for n in approx]
    kind, _, name = conversion.source.partition(" ")
    ns, _, short = name.rpartition("/")
    where = f" -n {ns}" if ns else ""
    if kind in {k for _, k in migration.HPA_KINDS}:
        lines.append(
            "Delete the HPA when applying this; while it exists the policy reports Conflict "
            "and does not act:"
        )
        lines.append(f"$ kubectl delete hpa {short}{where}")
    else:
        lines.append(
            "Delete the ScaledObject when applying this (its HPA goes with it); until then the "
            "policy reports Conflict and does not act:"
        )
        lines.append(f"$ kubectl delete scaledobject {short}{where}")
    body = yaml.safe_dump(conversion.policy, sort_keys=False, default_flow_style=False)
    wrapped = [
        wrap
        for line in lines
        for wrap in (
            [line]  # a command stays on one line, to copy
            if line.startswith("$ ")
            else textwrap.wrap(
                line, width=98, subsequent_indent=" " * (len(line) - len(line.lstrip()) + 2)
            )
        )
    ]
    return _comment("\n".join(wrapped)) + "\n" + body


def _run(args: argparse.Namespace, stdin: IO[str] | None = None) -> int:
    from nimbusguard import migration

    stdin = stdin or sys.stdin
    sources = list(args.filename)
    if not sources and not args.from_cluster:
        if stdin.isatty():
            print(
                "nimbusguard convert: give -f FILE (or -f - for stdin) or --from-cluster",
                file=sys.stderr,
            )
            return 2
        sources = ["-"]
    objects: list[JSON] = []
    try:
        for name in sources:
            objects.extend(_from_path(name, stdin))
        if args.from_cluster:
            objects.extend(_from_cluster(args))
    except InputError as exc:
        print(f"nimbusguard convert: {exc}", file=sys.stderr)
        return 2

    documents: list[str] = []
    considered = 0
    for obj in objects:
        if obj.get("kind") not in ("HorizontalPodAutoscaler", "ScaledObject"):
            print(
                f"skipped {migration.describe(obj)}: not an HPA or a ScaledObject", file=sys.stderr
            )
            continue
        considered += 1
        conversion = migration.convert(obj)
        if conversion.policy is None:
            why = "; ".join(str(n) for n in conversion.notes) or "nothing usable"
            print(f"could not convert {conversion.source}: {why}", file=sys.stderr)
            continue
        documents.append(render(conversion))
        count = len(conversion.notes)
        print(
            f"converted {conversion.source}"
            + (f" ({count} field{'s' * (count != 1)} noted in the output)" if count else ""),
            file=sys.stderr,
        )
    text = "---\n".join(documents)
    if args.output is not None:
        try:
            args.output.write_text(text)
        except OSError as exc:
            print(f"nimbusguard convert: {args.output}: {exc.strerror}", file=sys.stderr)
            return 2
    else:
        sys.stdout.write(text)
    total = f"{len(documents)} of {considered} HPAs/ScaledObjects converted"
    print(total, file=sys.stderr)
    return 0 if documents else 1
