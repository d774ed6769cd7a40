// The gRPC C++ peer of scripts/bench (Step 10): ListRequests and Reprocess of entitlement.v1 on
// the callback API, served from memory, plus grpc.health.v1 (the library's default health
// service). Same data set, same bearer check (a string compare), HMAC-SHA256 page tokens, same
// Reprocess rules as entitlement-server; nothing is written anywhere.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <openssl/hmac.h>

#include "entitlement/v1/access_requests.grpc.pb.h"
#include "fixture.pb.h"

using entitlement::v1::AccessPackageRequest;
using entitlement::v1::AccessPackageRequests;
using entitlement::v1::ListRequestsRequest;
using entitlement::v1::ListRequestsResponse;
using entitlement::v1::ReprocessRequest;
using entitlement::v1::ReprocessResponse;

namespace {

constexpr int64_t kWindowSeconds = 7 * 86400;

struct Store {
  std::unordered_map<std::string, const AccessPackageRequest*> by_id;
  std::map<std::string, std::vector<const AccessPackageRequest*>> by_package;
  benchpeer::Fixture fixture;
  std::string bearer;
  std::string key = std::string(32, 'k');
};

bool Before(const AccessPackageRequest* a, const AccessPackageRequest* b) {
  if (a->created_at().seconds() != b->created_at().seconds()) return a->created_at().seconds() > b->created_at().seconds();
  if (a->created_at().nanos() != b->created_at().nanos()) return a->created_at().nanos() > b->created_at().nanos();
  return a->id() < b->id();
}

std::string Base64Url(const unsigned char* data, size_t n) {
  static const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((n * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = data[i] << 16 | data[i + 1] << 8 | data[i + 2];
    out += abc[v >> 18 & 63]; out += abc[v >> 12 & 63]; out += abc[v >> 6 & 63]; out += abc[v & 63];
  }
  if (n - i == 1) { uint32_t v = data[i] << 16; out += abc[v >> 18 & 63]; out += abc[v >> 12 & 63]; }
  if (n - i == 2) { uint32_t v = data[i] << 16 | data[i + 1] << 8; out += abc[v >> 18 & 63]; out += abc[v >> 12 & 63]; out += abc[v >> 6 & 63]; }
  return out;
}

std::string Token(const Store& s, const AccessPackageRequest& last, const std::string& pkg) {
  std::string body(1, '\x01');
  body += pkg;
  uint64_t seconds = last.created_at().seconds();
  for (int shift = 56; shift >= 0; shift -= 8) body += static_cast<char>(seconds >> shift);
  uint32_t nanos = last.created_at().nanos();
  for (int shift = 24; shift >= 0; shift -= 8) body += static_cast<char>(nanos >> shift);
  body += last.id();
  unsigned char mac[32];
  unsigned int len = 32;
  HMAC(EVP_sha256(), s.key.data(), s.key.size(), reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &len);
  body.append(reinterpret_cast<char*>(mac), len);
  return Base64Url(reinterpret_cast<const unsigned char*>(body.data()), body.size());
}

class Service final : public AccessPackageRequests::CallbackService {
 public:
  explicit Service(const Store* store) : s_(store) {}

  grpc::ServerUnaryReactor* ListRequests(grpc::CallbackServerContext* ctx, const ListRequestsRequest* in,
                                         ListRequestsResponse* out) override {
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(List(ctx, *in, out));
    return reactor;
  }

  grpc::ServerUnaryReactor* Reprocess(grpc::CallbackServerContext* ctx, const ReprocessRequest* in,
                                      ReprocessResponse* out) override {
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(Process(ctx, *in, out));
    return reactor;
  }

 private:
  grpc::Status Authorize(grpc::CallbackServerContext* ctx) const {
    auto range = ctx->client_metadata().equal_range("authorization");
    if (range.first != range.second && std::next(range.first) == range.second &&
        std::string(range.first->second.data(), range.first->second.size()) == s_->bearer)
      return grpc::Status::OK;
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing or unknown bearer token");
  }

  grpc::Status List(grpc::CallbackServerContext* ctx, const ListRequestsRequest& in, ListRequestsResponse* out) const {
    if (auto st = Authorize(ctx); !st.ok()) return st;
    auto it = s_->by_package.find(in.access_package_id());
    if (it == s_->by_package.end()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "access package does not exist");
    if (!in.page_token().empty()) return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "first pages only");
    int size = in.page_size() == 0 ? 50 : std::min(in.page_size(), 1000);
    for (const auto* r : it->second) {
      if (in.states_size() > 0 && std::find(in.states().begin(), in.states().end(), r->state()) == in.states().end()) continue;
      if (out->requests_size() == size) {
        out->set_next_page_token(Token(*s_, out->requests(size - 1), in.access_package_id()));
        break;
      }
      *out->add_requests() = *r;
    }
    return grpc::Status::OK;
  }

  grpc::Status Process(grpc::CallbackServerContext* ctx, const ReprocessRequest& in, ReprocessResponse* out) const {
    if (auto st = Authorize(ctx); !st.ok()) return st;
    if (s_->by_package.find(in.access_package_id()) == s_->by_package.end())
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "access package does not exist");
    if (in.request_ids_size() < 1 || in.request_ids_size() > 100)
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "request_ids must name 1 to 100 requests");
    int64_t now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    for (const auto& id : in.request_ids()) {
      auto* result = out->add_results();
      result->set_request_id(id);
      auto found = s_->by_id.find(id);
      if (found == s_->by_id.end() || found->second->access_package_id() != in.access_package_id()) {
        result->set_outcome(entitlement::v1::REPROCESS_OUTCOME_NOT_FOUND);
        result->set_detail("no request \"" + id + "\" in access package \"" + in.access_package_id() + "\"");
        continue;
      }
      const auto& r = *found->second;
      *result->mutable_request() = r;
      using entitlement::v1::RequestState;
      if (r.state() == entitlement::v1::REQUEST_STATE_DELIVERING) {
        result->set_outcome(entitlement::v1::REPROCESS_OUTCOME_ALREADY_IN_PROGRESS);
        result->set_detail("the request is being delivered already");
      } else if (r.state() != entitlement::v1::REQUEST_STATE_DELIVERED &&
                 r.state() != entitlement::v1::REQUEST_STATE_PARTIALLY_DELIVERED &&
                 r.state() != entitlement::v1::REQUEST_STATE_DELIVERY_FAILED) {
        result->set_outcome(entitlement::v1::REPROCESS_OUTCOME_NOT_ELIGIBLE);
        result->set_detail("only delivered, partially delivered or failed requests can be reprocessed; this one is " +
                           entitlement::v1::RequestState_Name(r.state()));
      } else if (!r.has_completed_at() || now - r.completed_at().seconds() > kWindowSeconds) {
        result->set_outcome(entitlement::v1::REPROCESS_OUTCOME_WINDOW_EXPIRED);
        result->set_detail("the request completed more than 7 days ago; the reprocess window has passed");
      } else {
        // The data set has no request inside the window: Reprocess changes nothing here.
        result->set_outcome(entitlement::v1::REPROCESS_OUTCOME_ACCEPTED);
        result->set_detail("accepted: every resource will be delivered again");
      }
    }
    return grpc::Status::OK;
  }

  const Store* s_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string port = "50271", data, token;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--port") port = argv[i + 1];
    else if (flag == "--data") data = argv[i + 1];
    else if (flag == "--token") token = argv[i + 1];
  }
  Store store;
  store.bearer = "Bearer " + token;
  std::ifstream file(data);
  std::stringstream text;
  text << file.rdbuf();
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  auto parsed = google::protobuf::util::JsonStringToMessage(text.str(), &store.fixture, options);
  if (!parsed.ok()) {
    std::fprintf(stderr, "cannot parse %s: %s\n", data.c_str(), parsed.ToString().c_str());
    return 1;
  }
  std::unordered_map<std::string, std::string> catalogs;
  for (const auto& p : store.fixture.access_packages()) {
    catalogs[p.id()] = p.catalog_id();
    store.by_package[p.id()];
  }
  for (auto& r : *store.fixture.mutable_requests()) {
    r.set_catalog_id(catalogs[r.access_package_id()]);
    store.by_id[r.id()] = &r;
    store.by_package[r.access_package_id()].push_back(&r);
  }
  for (auto& [_, list] : store.by_package) std::sort(list.begin(), list.end(), Before);

  grpc::EnableDefaultHealthCheckService(true);
  Service service(&store);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:" + port, grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  std::fprintf(stderr, "gRPC C++ peer serving %zu requests on 127.0.0.1:%s\n", store.by_id.size(), port.c_str());
  server->Wait();
}
