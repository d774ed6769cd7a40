// The grpc-go peer of scripts/bench (Step 10): the entitlement.v1 contract for ListRequests and
// Reprocess, served from memory, plus grpc.health.v1 from grpc-go. Same data set, same bearer
// check (a string compare), same page-token shape (HMAC-SHA256, base64url) and Reprocess rules
// as entitlement-server; nothing is written anywhere.
package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/golang/protobuf/jsonpb"
	"github.com/golang/protobuf/ptypes/timestamp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "benchpeer/entitlementpb"
)

const window = 7 * 24 * time.Hour

type store struct {
	byID      map[string]*pb.AccessPackageRequest
	byPackage map[string][]*pb.AccessPackageRequest // listing order: created_at desc, id asc
	key       []byte
	bearer    string
}

func before(a, b *pb.AccessPackageRequest) bool {
	ca, cb := a.GetCreatedAt(), b.GetCreatedAt()
	if ca.GetSeconds() != cb.GetSeconds() {
		return ca.GetSeconds() > cb.GetSeconds()
	}
	if ca.GetNanos() != cb.GetNanos() {
		return ca.GetNanos() > cb.GetNanos()
	}
	return a.Id < b.Id
}

func load(path string) (*store, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var fixture struct {
		AccessPackages []struct {
			ID        string `json:"id"`
			CatalogID string `json:"catalogId"`
		} `json:"accessPackages"`
		Requests []json.RawMessage `json:"requests"`
	}
	if err := json.Unmarshal(raw, &fixture); err != nil {
		return nil, err
	}
	catalogs := map[string]string{}
	s := &store{byID: map[string]*pb.AccessPackageRequest{}, byPackage: map[string][]*pb.AccessPackageRequest{}}
	for _, p := range fixture.AccessPackages {
		catalogs[p.ID] = p.CatalogID
		s.byPackage[p.ID] = nil
	}
	for _, r := range fixture.Requests {
		req := &pb.AccessPackageRequest{}
		if err := jsonpb.UnmarshalString(string(r), req); err != nil {
			return nil, err
		}
		req.CatalogId = catalogs[req.AccessPackageId]
		s.byID[req.Id] = req
		s.byPackage[req.AccessPackageId] = append(s.byPackage[req.AccessPackageId], req)
	}
	for _, list := range s.byPackage {
		sort.Slice(list, func(i, j int) bool { return before(list[i], list[j]) })
	}
	return s, nil
}

func (s *store) authorize(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	if values := md.Get("authorization"); len(values) == 1 && values[0] == s.bearer {
		return nil
	}
	return status.Error(codes.Unauthenticated, "missing or unknown bearer token")
}

func (s *store) token(last *pb.AccessPackageRequest, pkg string) string {
	body := make([]byte, 0, 64)
	body = append(body, 1)
	body = append(body, pkg...)
	body = binary.BigEndian.AppendUint64(body, uint64(last.GetCreatedAt().GetSeconds()))
	body = binary.BigEndian.AppendUint32(body, uint32(last.GetCreatedAt().GetNanos()))
	body = append(body, last.Id...)
	mac := hmac.New(sha256.New, s.key)
	mac.Write(body)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(body))
}

type service struct{ s *store }

func (v service) ListRequests(ctx context.Context, in *pb.ListRequestsRequest) (*pb.ListRequestsResponse, error) {
	if err := v.s.authorize(ctx); err != nil {
		return nil, err
	}
	list, ok := v.s.byPackage[in.AccessPackageId]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "access package %q does not exist", in.AccessPackageId)
	}
	size := int(in.PageSize)
	if size == 0 {
		size = 50
	} else if size > 1000 {
		size = 1000
	}
	if in.PageToken != "" {
		return nil, status.Error(codes.Unimplemented, "the benchmark peer serves first pages only")
	}
	out := &pb.ListRequestsResponse{}
	for _, r := range list {
		if len(in.States) > 0 && !contains(in.States, r.State) {
			continue
		}
		if len(out.Requests) == size {
			out.NextPageToken = v.s.token(out.Requests[size-1], in.AccessPackageId)
			break
		}
		out.Requests = append(out.Requests, r)
	}
	return out, nil
}

func contains(states []pb.RequestState, s pb.RequestState) bool {
	for _, x := range states {
		if x == s {
			return true
		}
	}
	return false
}

func (v service) Reprocess(ctx context.Context, in *pb.ReprocessRequest) (*pb.ReprocessResponse, error) {
	if err := v.s.authorize(ctx); err != nil {
		return nil, err
	}
	if _, ok := v.s.byPackage[in.AccessPackageId]; !ok {
		return nil, status.Errorf(codes.NotFound, "access package %q does not exist", in.AccessPackageId)
	}
	if len(in.RequestIds) == 0 || len(in.RequestIds) > 100 {
		return nil, status.Errorf(codes.InvalidArgument, "request_ids must name 1 to 100 requests; got %d", len(in.RequestIds))
	}
	now := time.Now()
	out := &pb.ReprocessResponse{}
	for _, id := range in.RequestIds {
		r, ok := v.s.byID[id]
		result := &pb.ReprocessResult{RequestId: id}
		switch {
		case !ok || r.AccessPackageId != in.AccessPackageId:
			result.Outcome = pb.ReprocessOutcome_REPROCESS_OUTCOME_NOT_FOUND
			result.Detail = fmt.Sprintf("no request %q in access package %q", id, in.AccessPackageId)
		case r.State == pb.RequestState_REQUEST_STATE_DELIVERING:
			result.Outcome, result.Detail, result.Request = pb.ReprocessOutcome_REPROCESS_OUTCOME_ALREADY_IN_PROGRESS, "the request is being delivered already", r
		case r.State != pb.RequestState_REQUEST_STATE_DELIVERED && r.State != pb.RequestState_REQUEST_STATE_PARTIALLY_DELIVERED &&
			r.State != pb.RequestState_REQUEST_STATE_DELIVERY_FAILED:
			result.Outcome, result.Request = pb.ReprocessOutcome_REPROCESS_OUTCOME_NOT_ELIGIBLE, r
			result.Detail = "only delivered, partially delivered or failed requests can be reprocessed; this one is " + r.State.String()
		case r.CompletedAt == nil || now.Sub(asTime(r.CompletedAt)) > window:
			result.Outcome, result.Request = pb.ReprocessOutcome_REPROCESS_OUTCOME_WINDOW_EXPIRED, r
			result.Detail = "the request completed more than 7 days ago (completed_at " + asTime(r.CompletedAt).UTC().Format(time.RFC3339) + "); the reprocess window has passed"
		default:
			// The data set has no request inside the window: Reprocess changes nothing here.
			result.Outcome, result.Request = pb.ReprocessOutcome_REPROCESS_OUTCOME_ACCEPTED, r
			result.Detail = "accepted: every resource will be delivered again"
		}
		out.Results = append(out.Results, result)
	}
	return out, nil
}

func asTime(t *timestamp.Timestamp) time.Time { return time.Unix(t.GetSeconds(), int64(t.GetNanos())) }

func (v service) WatchRequests(*pb.WatchRequestsRequest, pb.AccessPackageRequests_WatchRequestsServer) error {
	return status.Error(codes.Unimplemented, "not benchmarked")
}

func main() {
	port := flag.Int("port", 50261, "port on 127.0.0.1")
	data := flag.String("data", "", "the data set (Benchmarks/data/make-dataset.py)")
	token := flag.String("token", "", "the bearer token every call must carry")
	flag.Parse()
	s, err := load(*data)
	if err != nil {
		log.Fatalf("cannot load %s: %v", *data, err)
	}
	s.key = []byte(strings.Repeat("k", 32))
	s.bearer = "Bearer " + *token
	lis, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		log.Fatal(err)
	}
	server := grpc.NewServer()
	pb.RegisterAccessPackageRequestsServer(server, service{s})
	healthpb.RegisterHealthServer(server, health.NewServer())
	log.Printf("grpc-go peer serving %d requests on %s", len(s.byID), lis.Addr())
	log.Fatal(server.Serve(lis))
}
