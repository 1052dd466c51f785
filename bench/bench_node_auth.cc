// Verification of SuperNode-signed Fleet calls: the C++ half of the per-call floor in
// bench/bench_superlink.py. Every Fleet call of a stock SuperNode carries a fresh timestamp
// signed with its ECDSA key, and both SuperLinks verify each call (flwr's
// NodeAuthServerInterceptor; ours: core::CheckSignedRequest -> VerifyNodeSignature).
//
//   bench_node_auth [--repeats 5] < requests.jsonl
// Reads one JSON object per line, {"public_key": PEM, "timestamp": str, "signature": hex}, as
// the stock SuperNode signs them; verifies all of them `repeats` times (each must verify) and
// prints one JSON line: {"impl": "cpp", "calls": N, "us_per_verify": [...]}.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "flwr/core/node_auth.h"
#include "nlohmann/json.hpp"

namespace {

struct Request {
  std::string public_key, timestamp, signature;
};

}  // namespace

int main(int argc, char** argv) {
  int repeats = 5;
  if (argc == 3 && std::string(argv[1]) == "--repeats") {
    repeats = std::atoi(argv[2]);
  } else if (argc != 1) {
    std::cerr << "usage: bench_node_auth [--repeats N] < requests.jsonl\n";
    return 2;
  }
  if (repeats < 1) {
    std::cerr << "bench_node_auth: --repeats must be positive\n";
    return 2;
  }
  std::vector<Request> requests;
  for (std::string line; std::getline(std::cin, line);) {
    if (line.empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j["public_key"].is_string() || !j["timestamp"].is_string() ||
        !j["signature"].is_string() || j["signature"].get<std::string>().empty()) {
      std::cerr << "bench_node_auth: bad request line " << requests.size() + 1 << "\n";
      return 2;
    }
    requests.push_back({j["public_key"], j["timestamp"],
                        absl::HexStringToBytes(j["signature"].get<std::string>())});
  }
  if (requests.empty()) {
    std::cerr << "bench_node_auth: no requests on stdin\n";
    return 2;
  }
  std::vector<std::string> us;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (const Request& q : requests) {
      absl::Status s = flwr::core::VerifyNodeSignature(q.public_key, q.timestamp, q.signature);
      if (!s.ok()) {
        std::cerr << "bench_node_auth: a signature did not verify: " << s << "\n";
        return 1;
      }
    }
    const std::chrono::duration<double, std::micro> took = std::chrono::steady_clock::now() - start;
    us.push_back(absl::StrCat(took.count() / requests.size()));
  }
  std::cout << "{\"impl\": \"cpp\", \"calls\": " << requests.size() << ", \"us_per_verify\": ["
            << absl::StrJoin(us, ", ") << "]}\n";
  return 0;
}
