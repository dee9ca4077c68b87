"""`nimbusguard member-rbac`: the RoleBindings a member cluster needs, from the tenancy grants.

The member identity (config/member) gets the `nimbusguard-member-role` ClusterRole bound in
exactly the namespaces hub policies may target in that cluster: the tenants' own namespaces
(namespace sameness) and what the grants name for it. Apply the output to the member:

    kubectl --context hub -n nimbusguard-system get configmap nimbusguard-tenancy -o yaml \\
      | nimbusguard member-rbac --cluster prod-eu --grants - --namespace team-a \\
      | kubectl --context prod-eu apply --server-side -f -
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "member-rbac",
        help="print the RoleBindings a member cluster needs for the tenancy grants",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--cluster", required=True, help="the member's context name")
    parser.add_argument(
        "--grants",
        help="the nimbusguard-tenancy ConfigMap as YAML (a file, or - for stdin); "
        "default: no grants",
    )
    parser.add_argument(
        "--namespace",
        action="append",
        default=[],
        help="a hub namespace whose policies target this member (repeatable)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import yaml

    from nimbusguard import tenancy

    data: dict[str, str] = {}
    if args.grants:
        text = sys.stdin.read() if args.grants == "-" else Path(args.grants).read_text()
        document = yaml.safe_load(text) or {}
        data = {str(k): str(v) for k, v in (document.get("data") or {}).items()}
    grants = tenancy.Grants(data)
    for problem in grants.problems():
        print(f"nimbusguard member-rbac: ignoring {problem}", file=sys.stderr)
    try:
        bindings = tenancy.member_role_bindings(args.cluster, args.namespace, grants)
    except ValueError as exc:
        print(f"nimbusguard member-rbac: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(yaml.safe_dump_all(bindings, sort_keys=False))
    return 0
