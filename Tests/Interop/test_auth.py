"""CONTRACT §3: tokens and the role matrix, through real gRPC calls."""

import time

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from helpers import (EC_KID, GLOBAL_ADMIN, GLOBAL_READER, IGA, KEYS, RSA_KID, USER_ADMIN, O, S,
                     bearer, claims, code_of, get_request, hs256_with_public_pem, mint, pb,
                     unsigned_token)

C = grpc.StatusCode


def list_code(server, md, ap="ap-1"):
    return code_of(lambda: server.stub().ListRequests(
        pb.ListRequestsRequest(access_package_id=ap, page_size=1), metadata=md, timeout=10))


def reprocess_call(server, md, ap, ids):
    return server.stub().Reprocess(pb.ReprocessRequest(access_package_id=ap, request_ids=ids),
                                   metadata=md, timeout=10)


def reprocess_code(server, md, ap, ids):
    return code_of(lambda: reprocess_call(server, md, ap, ids))


# ------------------------------------------------------------------ authentication

OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def bad_tokens():
    now = int(time.time())
    good = claims("oid-x", [GLOBAL_ADMIN])
    return {
        "malformed": "not-a-jwt",
        "three-garbage-parts": "abc.def.ghi",
        "bad-signature": mint("oid-x", [GLOBAL_ADMIN], key=OTHER_KEY, kid=RSA_KID),
        "tampered-payload": _tamper(mint("oid-x", [GLOBAL_READER])),
        "alg-none": unsigned_token({"alg": "none", "typ": "JWT"}, good),
        "alg-none-with-kid": unsigned_token({"alg": "none", "kid": RSA_KID}, good),
        "hs256-public-key-as-secret": hs256_with_public_pem("oid-x", [GLOBAL_ADMIN]),
        "unknown-kid": mint("oid-x", [GLOBAL_ADMIN], key=OTHER_KEY, kid="no-such-kid"),
        "no-kid": jwt.encode(good, KEYS.rsa, algorithm="RS256"),
        "rs256-signed-but-kid-of-ec-key": mint("oid-x", [GLOBAL_ADMIN], kid=EC_KID),
        "expired": mint("oid-x", [GLOBAL_ADMIN], exp=now - 120, iat=now - 900, nbf=now - 900),
        "nbf-ahead": mint("oid-x", [GLOBAL_ADMIN], nbf=now + 300),
        "wrong-iss": mint("oid-x", [GLOBAL_ADMIN], iss="https://evil.example/"),
        "wrong-aud": mint("oid-x", [GLOBAL_ADMIN], aud="api://other"),
        "wrong-tid": mint("oid-x", [GLOBAL_ADMIN], tid="99999999-2222-3333-4444-555555555555"),
        "missing-oid": mint("oid-x", [GLOBAL_ADMIN], drop=["oid"]),
        "missing-exp": mint("oid-x", [GLOBAL_ADMIN], exp=None),
        "missing-iss": mint("oid-x", [GLOBAL_ADMIN], iss=None),
        "missing-aud": mint("oid-x", [GLOBAL_ADMIN], aud=None),
        "missing-tid": mint("oid-x", [GLOBAL_ADMIN], tid=None),
        "empty-oid": mint("", [GLOBAL_ADMIN]),
        "exp-as-string": mint("oid-x", [GLOBAL_ADMIN], exp=str(now + 600)),
    }


def _tamper(token):
    import base64
    import json
    h, p, s = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(p + "=="))
    payload["wids"] = [GLOBAL_ADMIN]
    p2 = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"{h}.{p2}.{s}"


BAD = bad_tokens()


def test_no_token_is_unauthenticated(server):
    assert list_code(server, ()) == C.UNAUTHENTICATED


@pytest.mark.parametrize("header", ["Bearer", "Basic dXNlcjpwYXNz", "bearer-ish x", "Token abc",
                                    "Bearer a b c", "Bearer  " + "x" * 10])
def test_malformed_authorization_header_is_unauthenticated(server, header):
    assert list_code(server, (("authorization", header),)) == C.UNAUTHENTICATED


def test_authorization_with_trailing_space_is_refused(server):
    # RFC 9113 §8.2.1: a value ending in whitespace is malformed; nghttp2 resets the stream
    # (grpcio reports INTERNAL). Either that or UNAUTHENTICATED is acceptable; never OK.
    assert list_code(server, (("authorization", "Bearer "),)) in (C.UNAUTHENTICATED, C.INTERNAL)


def test_two_authorization_headers_are_refused_in_either_order(server):
    # A proxy may have checked the first and the server would use the last: neither is trusted.
    good = "Bearer " + mint("oid-x", [GLOBAL_ADMIN])
    for md in ((("authorization", "Bearer bad"), ("authorization", good)),
               (("authorization", good), ("authorization", "Bearer bad")),
               (("authorization", good), ("authorization", good))):
        with pytest.raises(grpc.RpcError) as caught:
            server.stub().ListRequests(pb.ListRequestsRequest(access_package_id="ap-1"), metadata=md, timeout=10)
        assert caught.value.code() == C.UNAUTHENTICATED
        assert "more than one authorization header" in caught.value.details()


@pytest.mark.parametrize("name", list(BAD))
def test_bad_token_is_unauthenticated(server, name):
    assert list_code(server, bearer(BAD[name])) == C.UNAUTHENTICATED, name


def test_bad_token_cannot_reprocess(server):
    assert reprocess_code(server, bearer(BAD["alg-none"]), "ap-1", ["ap1-elig-20"]) == \
        C.UNAUTHENTICATED
    assert get_request(server, "ap-1", "ap1-elig-20").reprocess_count == 0


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_signed_token_accepted(server, alg):
    assert list_code(server, bearer(mint("oid-x", [GLOBAL_ADMIN], alg=alg))) == C.OK


def test_lowercase_bearer_scheme_accepted(server):
    # RFC 6750 schemes are case-insensitive; a careful server accepts `bearer`.
    md = (("authorization", "bearer " + mint("oid-x", [GLOBAL_ADMIN])),)
    assert list_code(server, md) == C.OK


def test_clock_skew_of_60s_tolerated(server):
    now = int(time.time())
    assert list_code(server, bearer(mint("oid-x", [GLOBAL_ADMIN], exp=now - 30))) == C.OK
    assert list_code(server, bearer(mint("oid-x", [GLOBAL_ADMIN], nbf=now + 30))) == C.OK


def test_token_without_nbf_accepted(server):
    assert list_code(server, bearer(mint("oid-x", [GLOBAL_ADMIN], nbf=None))) == C.OK


# ------------------------------------------------------------------ directory roles


@pytest.mark.parametrize("wid", [GLOBAL_ADMIN, IGA, USER_ADMIN], ids=["GA", "IGA", "UA"])
def test_admin_roles_list_and_reprocess(server, wid):
    md = bearer(mint(f"oid-{wid[:4]}", [wid]))
    assert list_code(server, md, "ap-1") == C.OK
    assert list_code(server, md, "ap-2") == C.OK
    target = {GLOBAL_ADMIN: "ap1-elig-21", IGA: "ap1-elig-22", USER_ADMIN: "ap1-elig-23"}[wid]
    resp = reprocess_call(server, md, "ap-1", [target])
    assert resp.results[0].outcome == O.REPROCESS_OUTCOME_ACCEPTED


def test_global_reader_lists_but_cannot_reprocess(server):
    md = bearer(mint("oid-reader", [GLOBAL_READER]))
    assert list_code(server, md, "ap-1") == C.OK
    assert list_code(server, md, "ap-2") == C.OK
    assert reprocess_code(server, md, "ap-1", ["ap1-elig-19"]) == C.PERMISSION_DENIED


def test_no_roles_is_permission_denied(server):
    md = bearer(mint("oid-nobody"))
    assert list_code(server, md) == C.PERMISSION_DENIED
    assert reprocess_code(server, md, "ap-1", ["ap1-elig-19"]) == C.PERMISSION_DENIED


def test_unknown_wid_grants_nothing(server):
    md = bearer(mint("oid-x", ["00000000-0000-0000-0000-000000000000"]))
    assert list_code(server, md) == C.PERMISSION_DENIED


def test_reader_plus_admin_wids_can_reprocess(server):
    md = bearer(mint("oid-multi", [GLOBAL_READER, IGA]))
    resp = reprocess_call(server, md, "ap-1", ["ap1-elig-18"])
    assert resp.results[0].outcome == O.REPROCESS_OUTCOME_ACCEPTED


# ------------------------------------------------------------------ catalog roles


@pytest.mark.parametrize("user,target", [("oid-owner-a", "ap1-elig-15"),
                                         ("oid-apm-a", "ap1-elig-16"),
                                         ("oid-apam-a", "ap1-elig-17")],
                         ids=["OWNER", "ACCESS_PACKAGE_MANAGER", "ACCESS_PACKAGE_ASSIGNMENT_MANAGER"])
def test_catalog_managers_list_and_reprocess_in_their_catalog(server, user, target):
    md = bearer(mint(user))
    assert list_code(server, md, "ap-1") == C.OK
    assert list_code(server, md, "ap-3") == C.OK
    resp = reprocess_call(server, md, "ap-1", [target])
    assert resp.results[0].outcome == O.REPROCESS_OUTCOME_ACCEPTED
    # another catalog
    assert list_code(server, md, "ap-2") == C.PERMISSION_DENIED
    assert reprocess_code(server, md, "ap-2", ["ap2-elig-05"]) == C.PERMISSION_DENIED


def test_catalog_reader_lists_only(server):
    md = bearer(mint("oid-reader-a"))
    assert list_code(server, md, "ap-1") == C.OK
    assert reprocess_code(server, md, "ap-1", ["ap1-elig-14"]) == C.PERMISSION_DENIED
    assert list_code(server, md, "ap-2") == C.PERMISSION_DENIED


def test_catalog_role_comes_from_store_not_token(server):
    # A token for a user with no assignment cannot claim one by adding claims.
    md = bearer(mint("oid-stranger", roles=["CATALOG_ROLE_OWNER"], catalogId="cat-a"))
    assert list_code(server, md, "ap-1") == C.PERMISSION_DENIED


def test_owner_in_b_cannot_touch_a(server):
    md = bearer(mint("oid-owner-b"))
    assert list_code(server, md, "ap-2") == C.OK
    assert list_code(server, md, "ap-1") == C.PERMISSION_DENIED


def test_unknown_package_tenant_wide_is_not_found(server):
    for wid in (GLOBAL_ADMIN, GLOBAL_READER):
        md = bearer(mint("oid-x", [wid]))
        assert list_code(server, md, "ap-nope") == C.NOT_FOUND
    md = bearer(mint("oid-x", [IGA]))
    assert reprocess_code(server, md, "ap-nope", ["x"]) == C.NOT_FOUND


def test_unknown_package_catalog_scoped_is_permission_denied(server):
    md = bearer(mint("oid-owner-a"))
    assert list_code(server, md, "ap-nope") == C.PERMISSION_DENIED
    assert reprocess_code(server, md, "ap-nope", ["x"]) == C.PERMISSION_DENIED
    md = bearer(mint("oid-reader-a"))
    assert list_code(server, md, "ap-nope") == C.PERMISSION_DENIED


def test_unknown_package_no_roles_is_permission_denied(server):
    assert list_code(server, bearer(mint("oid-nobody")), "ap-nope") == C.PERMISSION_DENIED


def test_denied_reprocess_changes_nothing(server):
    before = get_request(server, "ap-1", "ap1-elig-13")
    for md in (bearer(mint("oid-reader", [GLOBAL_READER])), bearer(mint("oid-reader-a")),
               bearer(mint("oid-owner-b")), bearer(mint("oid-nobody"))):
        assert reprocess_code(server, md, "ap-1", ["ap1-elig-13"]) == C.PERMISSION_DENIED
    time.sleep(0.3)
    after = get_request(server, "ap-1", "ap1-elig-13")
    assert after == before


def test_reprocess_calls_are_audited(server):
    import uuid
    probe_ok = f"audit-probe-{uuid.uuid4().hex}"
    probe_denied = f"audit-denied-{uuid.uuid4().hex}"
    resp = reprocess_call(server, bearer(mint("oid-auditor", [IGA])), "ap-1", [probe_ok])
    assert resp.results[0].outcome == O.REPROCESS_OUTCOME_NOT_FOUND
    assert reprocess_code(server, bearer(mint("oid-denied-caller", [GLOBAL_READER])), "ap-1",
                          [probe_denied]) == C.PERMISSION_DENIED
    time.sleep(0.5)
    blob = b""
    for p in server.data_dir.rglob("*"):
        if p.is_file():
            blob += p.read_bytes()
    assert probe_ok.encode() in blob, "allowed Reprocess not in the data dir's audit log"
    assert probe_denied.encode() in blob, "denied Reprocess not in the data dir's audit log"
    assert b"oid-denied-caller" in blob
    log = server.log(tail=10_000_000)
    assert probe_ok in log and probe_denied in log, "Reprocess calls not in the server log"
    # The readable copy: one JSON object per call in the data dir's audit.log.
    import json
    entries = [json.loads(line) for line in (server.data_dir / "audit.log").read_text().splitlines()]
    allowed = [e for e in entries if probe_ok in e["request_ids"]]
    denied = [e for e in entries if probe_denied in e["request_ids"]]
    assert allowed and allowed[0]["decision"] == "allowed" and allowed[0]["caller"] == "oid-auditor"
    assert allowed[0]["outcomes"] == ["REPROCESS_OUTCOME_NOT_FOUND"]
    assert denied and denied[0]["decision"] == "denied" and denied[0]["caller"] == "oid-denied-caller"
