#!/usr/bin/env python3
"""The benchmark data set (Step 10), the same for this server and every peer: catalog `cat-bench`,
packages ap-0000 … ap-0009 with 2,000 requests each; request k of package p is `req-p{p}-{k:05d}`,
has 3 resources, and its state cycles DELIVERED, PARTIALLY_DELIVERED, DELIVERY_FAILED, DENIED; all
completed in January 2026, outside any reprocess window, so Reprocess changes nothing.

Writes the import fixture (CONTRACT §4) to the path given, or to stdout. A role assignment makes
`oid-bench` OWNER of the catalog (the peers' bearer check is a string compare)."""

import json
import sys

STATES = ["REQUEST_STATE_DELIVERED", "REQUEST_STATE_PARTIALLY_DELIVERED",
          "REQUEST_STATE_DELIVERY_FAILED", "REQUEST_STATE_DENIED"]
RESOURCES = {
    "REQUEST_STATE_DELIVERED": ["DELIVERED", "DELIVERED", "DELIVERED"],
    "REQUEST_STATE_PARTIALLY_DELIVERED": ["DELIVERED", "FAILED", "DELIVERED"],
    "REQUEST_STATE_DELIVERY_FAILED": ["FAILED", "FAILED", "FAILED"],
    "REQUEST_STATE_DENIED": ["PENDING", "PENDING", "PENDING"],
}
KINDS = ["group", "application", "sharepoint"]


def request(p, k):
    state = STATES[k % 4]
    # Created in January 2026, newest first by k; completed five minutes later.
    minute = (2000 - k) * 20 + p
    day, rest = divmod(minute, 24 * 60)
    hour, mins = divmod(rest, 60)
    created = f"2026-01-{1 + day % 28:02d}T{hour:02d}:{mins:02d}:00Z"
    completed = f"2026-01-{1 + day % 28:02d}T{hour:02d}:{mins:02d}:30Z"
    resources = []
    for r, res_state in enumerate(RESOURCES[state]):
        item = {"resourceId": f"res-p{p}-{k:05d}-{r}", "displayName": f"Resource {r}",
                "resourceType": KINDS[r], "state": f"RESOURCE_DELIVERY_STATE_{res_state}", "attempts": 1}
        if res_state == "FAILED":
            item["error"] = "timeout"
        resources.append(item)
    out = {"id": f"req-p{p}-{k:05d}", "accessPackageId": f"ap-{p:04d}",
           "requestor": {"id": f"user-{k}", "displayName": f"Bench User {k}",
                         "principalName": f"user{k}@contoso.example"},
           "state": state, "createdAt": created, "completedAt": completed, "resources": resources,
           "reprocessCount": 0}
    return out


def dataset():
    return {
        "catalogs": [{"id": "cat-bench", "displayName": "Benchmark"}],
        "accessPackages": [{"id": f"ap-{p:04d}", "catalogId": "cat-bench", "displayName": f"Package {p}"}
                           for p in range(10)],
        "roleAssignments": [{"principalId": "oid-bench", "role": "CATALOG_ROLE_OWNER", "catalogId": "cat-bench"}],
        "requests": [request(p, k) for p in range(10) for k in range(2000)],
    }


if __name__ == "__main__":
    text = json.dumps(dataset(), separators=(",", ":"))
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
