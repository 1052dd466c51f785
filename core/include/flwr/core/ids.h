// Random identifiers as flwr makes them: run/node/task/series IDs, task tokens, session UUIDs.
#ifndef FLWR_CORE_IDS_H_
#define FLWR_CORE_IDS_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace flwr::core {

// A uniformly random uint64 (run, node, task and series IDs), from OpenSSL's CSPRNG.
uint64_t RandomId();
// `n` random bytes as 2n lowercase hex digits, as Python's secrets.token_hex(n).
std::string RandomHex(size_t n);
// 128 random bytes as 256 lowercase hex digits, as flwr's secrets.token_hex(128).
std::string NewTaskToken();
// A random RFC 4122 version-4 UUID in its canonical text form.
std::string NewUuid4();

}  // namespace flwr::core

#endif  // FLWR_CORE_IDS_H_
