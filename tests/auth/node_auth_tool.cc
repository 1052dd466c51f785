// node_auth_tool: reads one JSON request per line on stdin and writes one JSON reply per line on
// stdout, so that a Python test can drive flwr::core's node authentication and timestamp code
// in bulk. Bytes travel as lowercase hex ("..._hex"), instants as integer microseconds since the
// Unix epoch ("us"), floats also as their IEEE-754 bits ("bits") so that nothing is lost.
//
// Requests ("op" and its fields) and replies:
//   generate                                    -> key
//   load_openssh  {text_hex}                    -> key, or {error}
//   load_pem      {text_hex}                    -> key, or {error}
//   sign          {private_key_pem, data_hex}   -> {signature_hex}
//   sign_request  {private_key_pem, us}         -> {public_key_pem, timestamp, signature_hex}
//   verify        {public_key_pem_hex, data_hex, signature_hex}            -> status
//   check         {public_key_pem_hex, timestamp_hex, signature_hex, us}   -> status
//   check_nist    {public_key_pem_hex}          -> status
//   format_iso    {us}                          -> {text}
//   parse_iso     {text_hex}                    -> {us}, or {error}
//   to_epoch      {us}                          -> {bits}
//   from_epoch    {bits}                        -> {us}, or {infinite: "past" | "future"}
// where key = {curve, public_key_pem, private_key_pem} and status = {code, message} with code
// the absl::StatusCode name ("OK", "UNAUTHENTICATED", ...). Malformed requests get {error}.
#include <cstdint>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "flwr/core/iso_time.h"
#include "flwr/core/node_auth.h"

namespace {

using flwr::core::NodeKey;
using nlohmann::json;

std::string Unhex(const json& request, const char* field) {
  return absl::HexStringToBytes(request.at(field).get<std::string>());
}

json Key(const NodeKey& key) {
  return {{"curve", key.CurveName()},
          {"public_key_pem", key.PublicKeyPem()},
          {"private_key_pem", key.PrivateKeyPem()}};
}

json KeyOrError(const absl::StatusOr<NodeKey>& key) {
  if (!key.ok()) return {{"error", key.status().ToString()}};
  return Key(*key);
}

json Status(const absl::Status& status) {
  return {{"code", absl::StatusCodeToString(status.code())},
          {"message", std::string(status.message())}};
}

absl::Time Micros(const json& request) {
  return absl::FromUnixMicros(request.at("us").get<int64_t>());
}

json Handle(const json& request) {
  const std::string op = request.at("op").get<std::string>();
  if (op == "generate") return KeyOrError(NodeKey::Generate());
  if (op == "load_openssh")
    return KeyOrError(NodeKey::FromOpenSshPrivateKey(Unhex(request, "text_hex")));
  if (op == "load_pem") return KeyOrError(NodeKey::FromPrivateKeyPem(Unhex(request, "text_hex")));
  if (op == "sign" || op == "sign_request") {
    absl::StatusOr<NodeKey> key =
        NodeKey::FromPrivateKeyPem(request.at("private_key_pem").get<std::string>());
    if (!key.ok()) return {{"error", key.status().ToString()}};
    if (op == "sign") {
      absl::StatusOr<std::string> signature = key->Sign(Unhex(request, "data_hex"));
      if (!signature.ok()) return {{"error", signature.status().ToString()}};
      return {{"signature_hex", absl::BytesToHexString(*signature)}};
    }
    absl::StatusOr<flwr::core::SignedRequestMetadata> md =
        flwr::core::SignRequest(*key, Micros(request));
    if (!md.ok()) return {{"error", md.status().ToString()}};
    return {{"public_key_pem", md->public_key_pem},
            {"timestamp", md->timestamp},
            {"signature_hex", absl::BytesToHexString(md->signature)}};
  }
  if (op == "verify") {
    return Status(flwr::core::VerifyNodeSignature(Unhex(request, "public_key_pem_hex"),
                                                  Unhex(request, "data_hex"),
                                                  Unhex(request, "signature_hex")));
  }
  if (op == "check") {
    return Status(flwr::core::CheckSignedRequest(Unhex(request, "public_key_pem_hex"),
                                                 Unhex(request, "timestamp_hex"),
                                                 Unhex(request, "signature_hex"), Micros(request)));
  }
  if (op == "check_nist") {
    return Status(flwr::core::CheckNistEcPublicKey(Unhex(request, "public_key_pem_hex")));
  }
  if (op == "format_iso") return {{"text", flwr::core::FormatIsoUtc(Micros(request))}};
  if (op == "parse_iso") {
    absl::StatusOr<absl::Time> t = flwr::core::ParseIsoTime(Unhex(request, "text_hex"));
    if (!t.ok()) return {{"error", t.status().ToString()}};
    return {{"us", absl::ToUnixMicros(*t)}};
  }
  if (op == "to_epoch") {
    const double seconds = flwr::core::ToEpochSeconds(Micros(request));
    uint64_t bits = 0;
    std::memcpy(&bits, &seconds, sizeof(bits));
    return {{"bits", bits}};
  }
  if (op == "from_epoch") {
    const uint64_t bits = request.at("bits").get<uint64_t>();
    double seconds = 0;
    std::memcpy(&seconds, &bits, sizeof(seconds));
    const absl::Time t = flwr::core::FromEpochSeconds(seconds);
    if (t == absl::InfinitePast()) return {{"infinite", "past"}};
    if (t == absl::InfiniteFuture()) return {{"infinite", "future"}};
    return {{"us", absl::ToUnixMicros(t)}};
  }
  return {{"error", "unknown op " + op}};
}

}  // namespace

int main() {
  std::string line;
  while (std::getline(std::cin, line)) {
    json reply;
    try {
      reply = Handle(json::parse(line));
    } catch (const json::exception& e) {
      reply = {{"error", std::string("bad request: ") + e.what()}};
    }
    std::cout << reply.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
  }
  return 0;
}
