"""CONTRACT §2: ListRequests and Reprocess, rule by rule."""

import base64
import threading
import time

import grpc
import pytest

from helpers import (FIXTURE, NOW, O, R, S, admin_md, code_of, fixture_requests, get_request,
                     list_all, pb, reprocess, rpc_error, wait_state)

C = grpc.StatusCode


def lst(server, ap="ap-3", states=(), page_size=0, page_token="", md=None):
    return server.stub().ListRequests(pb.ListRequestsRequest(
        access_package_id=ap, states=list(states), page_size=page_size, page_token=page_token),
        metadata=md or admin_md(), timeout=10)


def lst_code(server, **kw):
    return code_of(lambda: lst(server, **kw))


def key(r):
    return (-(r.created_at.seconds * 10**9 + r.created_at.nanos), r.id)


# ------------------------------------------------------------------ ListRequests


def test_list_empty_package_id_is_invalid_argument(server):
    assert lst_code(server, ap="") == C.INVALID_ARGUMENT


def test_list_unknown_package_is_not_found(server):
    assert lst_code(server, ap="ap-unknown") == C.NOT_FOUND


def test_list_package_without_requests_is_empty(server):
    resp = lst(server, ap="ap-empty")
    assert list(resp.requests) == [] and resp.next_page_token == ""


def test_list_returns_every_request_of_the_package_once(server):
    got = list_all(server, "ap-3", page_size=7)
    assert sorted(r.id for r in got) == sorted(r["id"] for r in fixture_requests("ap-3"))


def test_list_only_returns_the_asked_package(server):
    assert all(r.access_package_id == "ap-2" for r in list_all(server, "ap-2"))
    assert {r.catalog_id for r in list_all(server, "ap-2")} == {"cat-b"}


def test_list_order_created_desc_then_id_asc(server):
    got = list_all(server, "ap-3", page_size=1000)
    assert [r.id for r in got] == [r.id for r in sorted(got, key=key)]
    # the fixture has ties, so the id tiebreak is really exercised
    stamps = [r.created_at.seconds for r in got]
    assert len(set(stamps)) < len(stamps)


def test_list_fields_round_trip_from_import(server):
    want = {r["id"]: r for r in fixture_requests("ap-3")}
    for r in list_all(server, "ap-3"):
        w = want[r.id]
        assert r.access_package_id == "ap-3" and r.catalog_id == "cat-a"
        assert r.requestor.id == w["requestor"]["id"]
        assert r.requestor.display_name == w["requestor"]["displayName"]
        assert r.requestor.principal_name == w["requestor"]["principalName"]
        assert S.Name(r.state) == w["state"]
        assert r.created_at.ToJsonString().replace(".000", "") == w["createdAt"]
        if "completedAt" in w:
            assert r.HasField("completed_at")
            assert r.completed_at.ToJsonString() == w["completedAt"]
        else:
            assert not r.HasField("completed_at")
        assert not r.HasField("last_reprocessed_at")
        assert [x.resource_id for x in r.resources] == [x["resourceId"] for x in w["resources"]]
        assert [x.attempts for x in r.resources] == [x["attempts"] for x in w["resources"]]
        assert [x.resource_type for x in r.resources] == [x["resourceType"] for x in w["resources"]]


def test_list_state_filter_single(server):
    got = list_all(server, "ap-3", states=[S.REQUEST_STATE_DENIED])
    want = [r["id"] for r in fixture_requests("ap-3") if r["state"] == "REQUEST_STATE_DENIED"]
    assert sorted(r.id for r in got) == sorted(want) and want


def test_list_state_filter_any_of(server):
    states = [S.REQUEST_STATE_DELIVERED, S.REQUEST_STATE_SUBMITTED]
    got = list_all(server, "ap-3", states=states)
    want = [r["id"] for r in fixture_requests("ap-3")
            if r["state"] in ("REQUEST_STATE_DELIVERED", "REQUEST_STATE_SUBMITTED")]
    assert sorted(r.id for r in got) == sorted(want)
    assert [r.id for r in got] == [r.id for r in sorted(got, key=key)]


def test_list_state_filter_with_no_match_is_empty(server):
    resp = lst(server, states=[S.REQUEST_STATE_SCHEDULED])
    assert len(resp.requests) == 0 and resp.next_page_token == ""


def test_list_page_size_negative_is_invalid_argument(server):
    assert lst_code(server, page_size=-1) == C.INVALID_ARGUMENT


def test_list_page_size_zero_means_50(server):
    resp = lst(server, ap="ap-big", page_size=0)
    assert len(resp.requests) == 50 and resp.next_page_token
    resp = lst(server, ap="ap-3", page_size=0)
    assert len(resp.requests) == 30 and resp.next_page_token == ""


def test_list_page_size_above_1000_is_clamped(server):
    for size in (1001, 5000, 2**31 - 1):
        resp = lst(server, ap="ap-big", page_size=size)
        assert len(resp.requests) == 1000 and resp.next_page_token, size
    rest = lst(server, ap="ap-big", page_size=5000, page_token=resp.next_page_token)
    assert len(rest.requests) == 10 and rest.next_page_token == ""
    resp = lst(server, page_size=5000)
    assert len(resp.requests) == 30 and resp.next_page_token == ""


def test_list_page_size_1000_exact(server):
    resp = lst(server, ap="ap-big", page_size=1000)
    assert len(resp.requests) == 1000 and resp.next_page_token


def test_list_pagination_never_repeats_or_skips(server):
    for size in (1, 2, 3, 4, 7, 29, 30, 31):
        pages, token = [], ""
        while True:
            resp = lst(server, page_size=size, page_token=token)
            assert len(resp.requests) <= size
            pages.extend(r.id for r in resp.requests)
            token = resp.next_page_token
            if not token:
                break
            assert len(resp.requests) == size
        full = [r.id for r in list_all(server, "ap-3")]
        assert pages == full, size


def test_list_last_page_has_empty_token(server):
    first = lst(server, page_size=25)
    assert first.next_page_token
    last = lst(server, page_size=25, page_token=first.next_page_token)
    assert len(last.requests) == 5 and last.next_page_token == ""


def test_list_exact_page_boundary_ends_cleanly(server):
    first = lst(server, page_size=15)
    second = lst(server, page_size=15, page_token=first.next_page_token)
    assert len(second.requests) == 15
    if second.next_page_token:
        third = lst(server, page_size=15, page_token=second.next_page_token)
        assert len(third.requests) == 0 and third.next_page_token == ""


def test_list_token_with_filter_pages_correctly(server):
    states = [S.REQUEST_STATE_DELIVERED, S.REQUEST_STATE_DENIED, S.REQUEST_STATE_CANCELED]
    full = [r.id for r in list_all(server, "ap-3", states=states)]
    got, token = [], ""
    while True:
        resp = lst(server, states=states, page_size=2, page_token=token)
        got.extend(r.id for r in resp.requests)
        token = resp.next_page_token
        if not token:
            break
    assert got == full


def test_list_page_size_may_change_between_pages(server):
    first = lst(server, page_size=4)
    resp = lst(server, page_size=10, page_token=first.next_page_token)
    full = [r.id for r in list_all(server, "ap-3")]
    assert [r.id for r in first.requests] + [r.id for r in resp.requests] == full[:14]


def _token(server):
    t = lst(server, page_size=3).next_page_token
    assert t
    return t


@pytest.mark.parametrize("mutation", ["flip-last", "flip-first", "flip-middle", "truncate",
                                      "append", "garbage", "base64-of-json", "empty-b64"])
def test_list_tampered_token_is_invalid_argument(server, mutation):
    t = _token(server)
    if mutation == "flip-last":
        bad = t[:-1] + ("A" if t[-1] != "A" else "B")
    elif mutation == "flip-first":
        bad = ("A" if t[0] != "A" else "B") + t[1:]
    elif mutation == "flip-middle":
        i = len(t) // 2
        bad = t[:i] + ("A" if t[i] != "A" else "B") + t[i + 1:]
    elif mutation == "truncate":
        bad = t[: len(t) // 2]
    elif mutation == "append":
        bad = t + "AAAA"
    elif mutation == "garbage":
        bad = "!!!not-a-token!!!"
    elif mutation == "base64-of-json":
        bad = base64.urlsafe_b64encode(b'{"created":0,"id":"ap3-01"}').decode()
    else:
        bad = "===="
    assert lst_code(server, page_size=3, page_token=bad) == C.INVALID_ARGUMENT, (t, bad)


def test_list_every_byte_of_the_token_is_checked(server):
    t = _token(server)
    raw = t.encode()
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    bad_accepted = []
    for i in range(len(raw)):
        repl = alphabet[(alphabet.index(raw[i]) + 1) % len(alphabet)] if raw[i] in alphabet else ord("A")
        mutated = (raw[:i] + bytes([repl]) + raw[i + 1:]).decode()
        if lst_code(server, page_size=3, page_token=mutated) != C.INVALID_ARGUMENT:
            bad_accepted.append(i)
    # the last base64 character may carry padding bits that decode identically
    assert [i for i in bad_accepted if i < len(raw) - 1] == [], (t, bad_accepted)


def test_list_token_reused_with_other_package_is_invalid_argument(server):
    t = _token(server)
    assert lst_code(server, ap="ap-1", page_size=3, page_token=t) == C.INVALID_ARGUMENT


def test_list_token_reused_with_other_states_is_invalid_argument(server):
    t = _token(server)
    assert lst_code(server, states=[S.REQUEST_STATE_DENIED], page_size=3, page_token=t) == \
        C.INVALID_ARGUMENT
    t2 = lst(server, states=[S.REQUEST_STATE_DENIED, S.REQUEST_STATE_DELIVERED],
             page_size=1).next_page_token
    assert t2
    assert lst_code(server, states=[S.REQUEST_STATE_DENIED], page_size=1, page_token=t2) == \
        C.INVALID_ARGUMENT
    assert lst_code(server, page_size=1, page_token=t2) == C.INVALID_ARGUMENT


def test_list_token_same_states_in_other_order_or_duplicated(server):
    # The same set of states is the same query; either answer is defensible, but never a crash.
    t = lst(server, states=[S.REQUEST_STATE_DENIED, S.REQUEST_STATE_DELIVERED],
            page_size=1).next_page_token
    code = lst_code(server, states=[S.REQUEST_STATE_DELIVERED, S.REQUEST_STATE_DENIED],
                    page_size=1, page_token=t)
    assert code in (C.OK, C.INVALID_ARGUMENT)


def test_list_token_reusable_for_the_same_query(server):
    t = _token(server)
    a = lst(server, page_size=3, page_token=t)
    b = lst(server, page_size=3, page_token=t)
    assert [r.id for r in a.requests] == [r.id for r in b.requests]


def test_list_unknown_state_value_does_not_crash(server):
    code = lst_code(server, states=[42])
    assert code in (C.OK, C.INVALID_ARGUMENT)


# ------------------------------------------------------------------ Reprocess: validation


def rp_code(server, ap, ids):
    return code_of(lambda: reprocess(server, ap, ids))


def test_reprocess_empty_package_is_invalid_argument(server):
    assert rp_code(server, "", ["ap1-elig-01"]) == C.INVALID_ARGUMENT


def test_reprocess_unknown_package_is_not_found(server):
    assert rp_code(server, "ap-unknown", ["ap1-elig-01"]) == C.NOT_FOUND


def test_reprocess_no_ids_is_invalid_argument(server):
    assert rp_code(server, "ap-1", []) == C.INVALID_ARGUMENT


def test_reprocess_101_ids_is_invalid_argument(server):
    assert rp_code(server, "ap-1", [f"x-{i}" for i in range(101)]) == C.INVALID_ARGUMENT


def test_reprocess_100_ids_is_fine(server):
    resp = reprocess(server, "ap-1", [f"nope-{i}" for i in range(100)])
    assert len(resp.results) == 100
    assert all(r.outcome == O.REPROCESS_OUTCOME_NOT_FOUND for r in resp.results)


def test_reprocess_duplicates_are_invalid_argument(server):
    assert rp_code(server, "ap-1", ["ap1-elig-01", "ap1-elig-01"]) == C.INVALID_ARGUMENT
    assert rp_code(server, "ap-1", ["nope", "x", "nope"]) == C.INVALID_ARGUMENT
    # and the first id was not reprocessed by the rejected call
    assert get_request(server, "ap-1", "ap1-elig-01").reprocess_count == 0


def test_reprocess_empty_id_does_not_crash(server):
    code = rp_code(server, "ap-1", [""])
    if code == C.OK:
        assert reprocess(server, "ap-1", [""]).results[0].outcome == O.REPROCESS_OUTCOME_NOT_FOUND
    else:
        assert code == C.INVALID_ARGUMENT


# ------------------------------------------------------------------ Reprocess: outcomes


def test_reprocess_results_in_given_order_with_each_outcome(server):
    ids = ["nope-1", "ap1-expired", "ap1-submitted", "ap1-elig-02", "ap2-elig-01",
           "ap1-denied", "ap1-expired-old", "ap1-canceled"]
    resp = reprocess(server, "ap-1", ids)
    assert [r.request_id for r in resp.results] == ids
    out = {r.request_id: r for r in resp.results}
    assert out["nope-1"].outcome == O.REPROCESS_OUTCOME_NOT_FOUND
    assert out["ap2-elig-01"].outcome == O.REPROCESS_OUTCOME_NOT_FOUND  # another package
    assert out["ap1-expired"].outcome == O.REPROCESS_OUTCOME_WINDOW_EXPIRED
    assert out["ap1-expired-old"].outcome == O.REPROCESS_OUTCOME_WINDOW_EXPIRED
    assert out["ap1-submitted"].outcome == O.REPROCESS_OUTCOME_NOT_ELIGIBLE
    # NOT_ELIGIBLE wins over WINDOW_EXPIRED (rule 3 before rule 4)
    assert out["ap1-denied"].outcome == O.REPROCESS_OUTCOME_NOT_ELIGIBLE
    assert out["ap1-canceled"].outcome == O.REPROCESS_OUTCOME_NOT_ELIGIBLE
    assert out["ap1-elig-02"].outcome == O.REPROCESS_OUTCOME_ACCEPTED


def test_reprocess_not_found_has_no_request_field(server):
    resp = reprocess(server, "ap-1", ["nope-x", "ap2-elig-02"])
    for r in resp.results:
        assert r.outcome == O.REPROCESS_OUTCOME_NOT_FOUND
        assert not r.HasField("request"), r
    # the other package's request was not touched
    assert get_request(server, "ap-2", "ap2-elig-02").reprocess_count == 0


@pytest.mark.parametrize("rid,outcome", [
    ("ap1-submitted", O.REPROCESS_OUTCOME_NOT_ELIGIBLE),
    ("ap1-pending-approval", O.REPROCESS_OUTCOME_NOT_ELIGIBLE),
    ("ap1-scheduled", O.REPROCESS_OUTCOME_NOT_ELIGIBLE),
    ("ap1-denied", O.REPROCESS_OUTCOME_NOT_ELIGIBLE),
    ("ap1-canceled", O.REPROCESS_OUTCOME_NOT_ELIGIBLE),
    ("ap1-expired", O.REPROCESS_OUTCOME_WINDOW_EXPIRED),
])
def test_refused_outcome_carries_unchanged_request(server, rid, outcome):
    before = get_request(server, "ap-1", rid)
    r = reprocess(server, "ap-1", [rid]).results[0]
    assert r.outcome == outcome
    assert r.HasField("request")
    assert r.request == before
    assert get_request(server, "ap-1", rid) == before


def test_window_edge_just_inside_is_accepted(server):
    r = reprocess(server, "ap-1", ["ap1-just-inside"]).results[0]
    assert r.outcome == O.REPROCESS_OUTCOME_ACCEPTED


def test_accepted_changes_state_resources_counters(server):
    rid = "ap1-elig-03"
    before = get_request(server, "ap-1", rid)
    t0 = time.time()
    r = reprocess(server, "ap-1", [rid]).results[0]
    t1 = time.time()
    assert r.outcome == O.REPROCESS_OUTCOME_ACCEPTED
    req = r.request
    assert req.id == rid and req.access_package_id == "ap-1"
    assert req.state == S.REQUEST_STATE_DELIVERING
    assert all(x.state == R.RESOURCE_DELIVERY_STATE_PENDING for x in req.resources)
    assert req.reprocess_count == before.reprocess_count + 1
    assert req.HasField("last_reprocessed_at")
    lr = req.last_reprocessed_at.seconds + req.last_reprocessed_at.nanos / 1e9
    assert t0 - 2 <= lr <= t1 + 2
    assert req.completed_at == before.completed_at
    assert req.created_at == before.created_at


def test_accepted_request_reaches_delivered_and_keeps_completed_at(server):
    rid = "ap1-elig-04"  # PARTIALLY_DELIVERED: one failed, two delivered resources
    before = get_request(server, "ap-1", rid)
    assert before.state == S.REQUEST_STATE_PARTIALLY_DELIVERED
    r = reprocess(server, "ap-1", [rid]).results[0]
    assert r.outcome == O.REPROCESS_OUTCOME_ACCEPTED
    done = wait_state(server, "ap-1", rid, [S.REQUEST_STATE_DELIVERED], timeout=10)
    assert done.completed_at == before.completed_at
    assert all(x.state == R.RESOURCE_DELIVERY_STATE_DELIVERED for x in done.resources)
    # every resource was attempted again, including the ones delivered before
    assert [x.attempts for x in done.resources] == [x.attempts + 1 for x in before.resources]
    assert done.reprocess_count == before.reprocess_count + 1
    assert done.last_reprocessed_at == r.request.last_reprocessed_at
    assert all(x.error == "" for x in done.resources)


def test_delivered_request_can_be_reprocessed_again_without_extending_window(server):
    rid = "ap1-elig-06"
    before = get_request(server, "ap-1", rid)
    for n in (1, 2):
        r = reprocess(server, "ap-1", [rid]).results[0]
        assert r.outcome == O.REPROCESS_OUTCOME_ACCEPTED, n
        done = wait_state(server, "ap-1", rid, [S.REQUEST_STATE_DELIVERED])
        assert done.reprocess_count == before.reprocess_count + n
        assert done.completed_at == before.completed_at


def test_multiple_ids_accepted_together(server):
    ids = ["ap1-elig-07", "ap1-elig-08", "ap1-elig-09"]
    resp = reprocess(server, "ap-1", ids)
    assert [r.outcome for r in resp.results] == [O.REPROCESS_OUTCOME_ACCEPTED] * 3
    for rid in ids:
        wait_state(server, "ap-1", rid, [S.REQUEST_STATE_DELIVERED])


def test_imported_delivering_request_is_delivered_at_start_up(server):
    r = wait_state(server, "ap-1", "ap1-imported-delivering", [S.REQUEST_STATE_DELIVERED])
    assert all(x.state == R.RESOURCE_DELIVERY_STATE_DELIVERED for x in r.resources)
    assert all(x.attempts >= 2 for x in r.resources)


@pytest.mark.parametrize("rid", ["ap1-elig-10", "ap1-elig-13", "ap1-elig-14"])
def test_concurrent_reprocess_of_one_id_accepts_exactly_once(server, rid):
    stub = server.stub()
    md = admin_md()
    barrier = threading.Barrier(50)
    results, errors, accepted = [], [], []

    def one():
        barrier.wait(timeout=10)
        try:
            resp = stub.Reprocess(pb.ReprocessRequest(access_package_id="ap-1", request_ids=[rid]),
                                  metadata=md, timeout=20)
            results.append(resp.results[0].outcome)
            if resp.results[0].outcome == O.REPROCESS_OUTCOME_ACCEPTED:
                r = resp.results[0].request
                accepted.append((r.reprocess_count, r.last_reprocessed_at.ToJsonString()))
        except grpc.RpcError as e:
            errors.append(e.code())

    threads = [threading.Thread(target=one) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert results.count(O.REPROCESS_OUTCOME_ACCEPTED) == 1, \
        ({O.Name(o): results.count(o) for o in set(results)}, "accepted as", accepted)
    assert results.count(O.REPROCESS_OUTCOME_ALREADY_IN_PROGRESS) == 49, \
        {O.Name(o): results.count(o) for o in set(results)}
    done = wait_state(server, "ap-1", rid, [S.REQUEST_STATE_DELIVERED])
    assert done.reprocess_count == 1


def test_reprocess_by_one_caller_visible_to_list(server):
    rid = "ap1-elig-11"
    r = reprocess(server, "ap-1", [rid]).results[0]
    assert r.outcome == O.REPROCESS_OUTCOME_ACCEPTED
    got = get_request(server, "ap-1", rid)
    assert got.reprocess_count == 1
    assert got.state in (S.REQUEST_STATE_DELIVERING, S.REQUEST_STATE_DELIVERED)


# ------------------------------------------------------------------ with failures injected


@pytest.fixture(scope="module")
def failing_server(workspace):
    from helpers import start_server
    s = start_server(workspace, extra=["--simulate-failure-rate", "1", "--simulate-failure-seed", "7"])
    yield s
    s.stop()


def test_already_in_progress_while_delivering(failing_server):
    s = failing_server
    rid = "ap1-elig-12"
    first = reprocess(s, "ap-1", [rid]).results[0]
    assert first.outcome == O.REPROCESS_OUTCOME_ACCEPTED
    second = reprocess(s, "ap-1", [rid]).results[0]
    assert second.outcome == O.REPROCESS_OUTCOME_ALREADY_IN_PROGRESS
    assert second.HasField("request") and second.request.state == S.REQUEST_STATE_DELIVERING
    assert second.request.reprocess_count == 1


def test_failed_delivery_ends_delivery_failed_with_attempts(failing_server):
    s = failing_server
    rid = "ap1-elig-05"
    before = get_request(s, "ap-1", rid)
    r = reprocess(s, "ap-1", [rid]).results[0]
    assert r.outcome == O.REPROCESS_OUTCOME_ACCEPTED
    done = wait_state(s, "ap-1", rid, [S.REQUEST_STATE_DELIVERY_FAILED,
                                       S.REQUEST_STATE_PARTIALLY_DELIVERED,
                                       S.REQUEST_STATE_DELIVERED], timeout=15)
    assert done.state == S.REQUEST_STATE_DELIVERY_FAILED
    assert all(x.state == R.RESOURCE_DELIVERY_STATE_FAILED for x in done.resources)
    assert all(x.error for x in done.resources)
    for b, a in zip(before.resources, done.resources):
        assert a.attempts > b.attempts
    assert done.completed_at == before.completed_at
    # and a failed request is eligible again
    again = reprocess(s, "ap-1", [rid]).results[0]
    assert again.outcome == O.REPROCESS_OUTCOME_ACCEPTED


def test_caller_text_in_grpc_message_is_escaped_once(server):
    """Whole messages are made safe again on the way out; that pass must not escape the escapes
    of the caller's values in them (a newline showed as \\\\n, a backslash as four)."""
    stub = server.stub()
    for package, shown in (("a\r\nb", r'"a\r\nb"'), ("a\\b", r'"a\\b"'), ("a\u2028b", r'"a\u{2028}b"')):
        with pytest.raises(grpc.RpcError) as e:
            stub.ListRequests(pb.ListRequestsRequest(access_package_id=package), metadata=admin_md(), timeout=5)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        assert f"access package {shown} does not exist" in e.value.details(), e.value.details()
    r = stub.Reprocess(pb.ReprocessRequest(access_package_id="ap-1", request_ids=["r\u212a"]), metadata=admin_md(),
                       timeout=5)
    assert r'(r\u{212A}) in access package' in r.results[0].detail, r.results[0].detail
    with pytest.raises(grpc.RpcError) as e:
        list(stub.WatchRequests(pb.WatchRequestsRequest(access_package_id="ap-1", request_ids=["r\u212a"]),
                                metadata=admin_md(), timeout=5))
    assert r'(r\u{212A}) is not a request' in e.value.details(), e.value.details()
