// The C++ side of the codec benchmark: protobuf's generated code for the contract, parsing and
// serializing the exact bytes the Swift benchmark wrote.
#include <dlfcn.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <string>

#include "entitlement/v1/access_requests.pb.h"

using AllocCounter = unsigned long long (*)();

static AllocCounter counter() {
    return reinterpret_cast<AllocCounter>(dlsym(RTLD_DEFAULT, "bench_alloc_count"));
}

template <typename F>
static void measure(const char *name, int iterations, F body) {
    AllocCounter allocs = counter();
    size_t sink = 0;
    for (int i = 0; i < iterations / 10 + 1; i++) sink += body();
    double best = std::numeric_limits<double>::infinity();
    double allocsPerOp = -1;
    for (int round = 0; round < 7; round++) {
        unsigned long long before = allocs ? allocs() : 0;
        auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < iterations; i++) sink += body();
        auto end = std::chrono::steady_clock::now();
        double ns = std::chrono::duration<double, std::nano>(end - start).count() / iterations;
        if (allocs) allocsPerOp = double(allocs() - before) / iterations;
        if (ns < best) best = ns;
    }
    if (sink == 42) std::puts("");
    std::printf("%s_ns %.0f\n", name, best);
    if (allocsPerOp >= 0) {
        std::printf("%s_allocs %.1f\n", name, allocsPerOp);
    } else {
        std::printf("%s_allocs n/a\n", name);
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s MESSAGE_FILE [ITERATIONS [encode|decode]]\n", argv[0]);
        return 2;
    }
    int iterations = argc > 2 ? std::atoi(argv[2]) : 2000;
    std::string only = argc > 3 ? argv[3] : "";  // for profiling one side
    std::ifstream in(argv[1], std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

    entitlement::v1::ListRequestsResponse message;
    if (!message.ParseFromString(bytes) || message.requests_size() != 50) {
        std::fprintf(stderr, "input does not parse as a 50-request ListRequestsResponse\n");
        return 1;
    }
    if (message.SerializeAsString() != bytes) {
        std::fprintf(stderr, "C++ re-serialization differs from the Swift bytes\n");
        return 1;
    }
    std::printf("message_bytes %zu\n", bytes.size());

    if (only != "decode") measure("encode", iterations, [&] { return message.SerializeAsString().size(); });
    if (only != "encode") measure("decode", iterations, [&] {
        entitlement::v1::ListRequestsResponse decoded;
        if (!decoded.ParseFromString(bytes)) std::abort();
        return size_t(decoded.requests_size());
    });
    return 0;
}
