#include "flwr/core/node_auth.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "flwr/core/iso_time.h"
#include "openssh_internal.h"

namespace flwr::core {
namespace {

using openssh_internal::DecodeBase64Lenient;
using openssh_internal::SshReader;

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using BnCtxPtr = std::unique_ptr<BN_CTX, Deleter<BN_CTX, BN_CTX_free>>;
using EcGroupPtr = std::unique_ptr<EC_GROUP, Deleter<EC_GROUP, EC_GROUP_free>>;
using EcPointPtr = std::unique_ptr<EC_POINT, Deleter<EC_POINT, EC_POINT_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using ParamsPtr = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM, OSSL_PARAM_free>>;
using Pkcs8Ptr =
    std::unique_ptr<PKCS8_PRIV_KEY_INFO, Deleter<PKCS8_PRIV_KEY_INFO, PKCS8_PRIV_KEY_INFO_free>>;

std::shared_ptr<EVP_PKEY> Share(EVP_PKEY* pkey) {
  return std::shared_ptr<EVP_PKEY>(pkey, EVP_PKEY_free);
}

// OpenSSL reports failures on a thread-local queue; drop what a failed call left there so that
// it cannot surface in an unrelated later call.
absl::Status Fail(absl::Status status) {
  ERR_clear_error();
  return status;
}

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

// The curves `cryptography` can load (`ec._CURVE_TYPES`), by OpenSSL short name: those of the
// version the primary line installs (50; the binary sect* curves went in 47).
constexpr std::array<absl::string_view, 10> kSupportedCurves = {
    "prime192v1", "secp224r1",       "prime256v1",      "secp384r1",       "secp521r1",
    "secp256k1",  "brainpoolP256r1", "brainpoolP384r1", "brainpoolP512r1", "secp192r1"};

// `uses_nist_ec_curve()`: SECP192R1, SECP224R1, SECP256R1, SECP384R1, SECP521R1.
constexpr std::array<absl::string_view, 5> kNistCurves = {"prime192v1", "secp224r1", "prime256v1",
                                                          "secp384r1", "secp521r1"};

template <size_t N>
bool Contains(const std::array<absl::string_view, N>& names, absl::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// The curve of an EC key that `cryptography` would load: a named curve it supports, not given
// by explicit parameters ("ECDSA keys with explicit parameters are unsupported at this time").
absl::StatusOr<std::string> SupportedCurveName(EVP_PKEY* pkey) {
  if (!EVP_PKEY_is_a(pkey, "EC")) return Fail(absl::InvalidArgumentError("not an EC key"));
  char name[80] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name), &len) !=
      1) {
    return Fail(absl::InvalidArgumentError("EC key without a named curve"));
  }
  char encoding[32] = {0};
  if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_ENCODING, encoding, sizeof(encoding),
                                     nullptr) == 1 &&
      absl::string_view(encoding) != OSSL_PKEY_EC_ENCODING_GROUP) {
    return Fail(absl::InvalidArgumentError("EC key with explicit curve parameters"));
  }
  const std::string curve(name, len);
  if (!Contains(kSupportedCurves, curve)) {
    return Fail(absl::InvalidArgumentError(absl::StrCat("unsupported curve ", curve)));
  }
  return curve;
}

// ---------------------------------------------------------------------------------------------
// PEM framing as `cryptography` reads it (the Rust `pem` crate, then a check of the label): the
// first "-----BEGIN L-----" ... "-----END L-----" block of the input, optional RFC 1421 headers
// separated from the body by a blank line, and strict base64 with all whitespace removed.

// `read_until` of the pem crate, including its way of restarting a partial match.
bool ReadUntil(absl::string_view* input, absl::string_view marker, absl::string_view* matched) {
  size_t index = 0, found = 0;
  while (input->size() - index >= marker.size() - found) {
    found = (*input)[index] == marker[found] ? found + 1 : 0;
    ++index;
    if (found == marker.size()) {
      *matched = input->substr(0, index - found);
      input->remove_prefix(index);
      return true;
    }
  }
  return false;
}

bool IsPemWhitespace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

void SkipPemWhitespace(absl::string_view* input) {
  while (!input->empty() && IsPemWhitespace(input->front())) input->remove_prefix(1);
}

// Standard base64 with canonical padding and zero trailing bits (base64's STANDARD engine).
bool DecodeBase64Strict(absl::string_view text, std::string* out) {
  if (text.size() % 4 != 0) return false;
  out->clear();
  uint32_t acc = 0;
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int pads = 0;
    acc = 0;
    for (size_t j = 0; j < 4; ++j) {
      const char c = text[i + j];
      int v;
      if (c >= 'A' && c <= 'Z') {
        v = c - 'A';
      } else if (c >= 'a' && c <= 'z') {
        v = c - 'a' + 26;
      } else if (c >= '0' && c <= '9') {
        v = c - '0' + 52;
      } else if (c == '+') {
        v = 62;
      } else if (c == '/') {
        v = 63;
      } else if (c == '=' && last && j >= 2) {
        ++pads;
        continue;
      } else {
        return false;
      }
      if (pads > 0) return false;  // data after padding
      acc = (acc << 6) | static_cast<uint32_t>(v);
    }
    if (pads == 0) {
      out->push_back(static_cast<char>(acc >> 16));
      out->push_back(static_cast<char>(acc >> 8));
      out->push_back(static_cast<char>(acc));
    } else if (pads == 1) {  // 18 bits: 2 bytes and 2 trailing bits
      if ((acc & 0x3) != 0) return false;
      out->push_back(static_cast<char>(acc >> 10));
      out->push_back(static_cast<char>(acc >> 2));
    } else {  // 12 bits: 1 byte and 4 trailing bits
      if ((acc & 0xF) != 0) return false;
      out->push_back(static_cast<char>(acc >> 4));
    }
  }
  return true;
}

struct PemBlock {
  std::string label;
  bool has_headers = false;
  std::string der;
};

absl::StatusOr<PemBlock> ParseFirstPemBlock(absl::string_view input) {
  const absl::Status malformed = absl::InvalidArgumentError("Unable to load PEM file");
  absl::string_view skipped, begin, payload, end;
  if (!ReadUntil(&input, "-----BEGIN ", &skipped) || !ReadUntil(&input, "-----", &begin)) {
    return malformed;
  }
  SkipPemWhitespace(&input);
  if (!ReadUntil(&input, "-----END ", &payload) || !ReadUntil(&input, "-----", &end)) {
    return malformed;
  }
  if (begin.empty() || end.empty() || begin != end) return malformed;
  absl::string_view headers, data = payload;
  for (absl::string_view separator : {absl::string_view("\n\n"), absl::string_view("\r\n\r\n")}) {
    absl::string_view rest = payload, before;
    if (ReadUntil(&rest, separator, &before)) {
      headers = before;
      data = rest;
      break;
    }
  }
  // Every header line must be "key: value".
  for (absl::string_view rest = headers; !rest.empty();) {
    const size_t newline = rest.find('\n');
    const absl::string_view line = rest.substr(0, newline);
    if (line.find(':') == absl::string_view::npos) return malformed;
    rest = newline == absl::string_view::npos ? absl::string_view() : rest.substr(newline + 1);
  }
  std::string base64;
  for (char c : data) {
    if (!IsPemWhitespace(c)) base64.push_back(c);
  }
  PemBlock block;
  block.label = std::string(begin);
  block.has_headers = !headers.empty();
  if (!DecodeBase64Strict(base64, &block.der)) return malformed;
  return block;
}

// `bytes_to_public_key()`: `load_pem_public_key`, then the EC key checks.
absl::StatusOr<std::shared_ptr<EVP_PKEY>> LoadEcPublicKey(absl::string_view pem) {
  absl::StatusOr<PemBlock> block = ParseFirstPemBlock(pem);
  if (!block.ok()) return block.status();
  if (block->label != "PUBLIC KEY") {
    return absl::InvalidArgumentError("not a PEM SubjectPublicKeyInfo public key");
  }
  const auto* p = reinterpret_cast<const unsigned char*>(block->der.data());
  std::shared_ptr<EVP_PKEY> pkey =
      Share(d2i_PUBKEY(nullptr, &p, static_cast<long>(block->der.size())));
  if (pkey == nullptr ||
      p != reinterpret_cast<const unsigned char*>(block->der.data()) + block->der.size()) {
    return Fail(absl::InvalidArgumentError("Could not deserialize key data"));
  }
  // `cryptography` parses strict DER: the key must re-encode to the very same bytes. (One known
  // difference: it also takes a subjectPublicKey BIT STRING that declares unused, zero bits,
  // which no encoder writes; this rejects it.)
  unsigned char* reencoded = nullptr;
  const int len = i2d_PUBKEY(pkey.get(), &reencoded);
  const bool canonical = len > 0 && absl::string_view(reinterpret_cast<const char*>(reencoded),
                                                      static_cast<size_t>(len)) == block->der;
  OPENSSL_free(reencoded);
  if (!canonical) return Fail(absl::InvalidArgumentError("Could not deserialize key data"));
  absl::StatusOr<std::string> curve = SupportedCurveName(pkey.get());
  if (!curve.ok()) return curve.status();
  return pkey;
}

// ---------------------------------------------------------------------------------------------
// OpenSSH private keys, as `cryptography`'s `load_ssh_private_key(data, password=None)` reads
// them (cryptography/hazmat/primitives/serialization/ssh.py), restricted to ECDSA keys.

struct SshEcdsaFormat {
  absl::string_view key_type;
  absl::string_view ssh_curve;
  const char* group_name;
  int nid;
};
constexpr SshEcdsaFormat kSshEcdsaFormats[] = {
    {"ecdsa-sha2-nistp256", "nistp256", "prime256v1", NID_X9_62_prime256v1},
    {"ecdsa-sha2-nistp384", "nistp384", "secp384r1", NID_secp384r1},
    {"ecdsa-sha2-nistp521", "nistp521", "secp521r1", NID_secp521r1},
};

// _SSHFormatECDSA.get_public: the curve name and an uncompressed point.
bool SshEcdsaPublic(SshReader* r, const SshEcdsaFormat& format, absl::string_view* curve,
                    absl::string_view* point) {
  return r->String(curve) && r->String(point) && *curve == format.ssh_curve && !point->empty() &&
         (*point)[0] == 4;
}

// `ec.derive_private_key(secret, curve)`: the key pair of the big-endian scalar `secret`, which
// must lie in [1, order).
absl::StatusOr<std::shared_ptr<EVP_PKEY>> EcKeyFromScalar(const SshEcdsaFormat& format,
                                                          absl::string_view secret) {
  const absl::Status invalid = absl::InvalidArgumentError("invalid EC private scalar");
  EcGroupPtr group(EC_GROUP_new_by_curve_name(format.nid));
  BnPtr priv(BN_bin2bn(reinterpret_cast<const unsigned char*>(secret.data()),
                       static_cast<int>(secret.size()), nullptr));
  BnCtxPtr bn_ctx(BN_CTX_new());
  if (group == nullptr || priv == nullptr || bn_ctx == nullptr) {
    return Fail(absl::InternalError("OpenSSL allocation failed"));
  }
  if (BN_is_zero(priv.get()) || BN_cmp(priv.get(), EC_GROUP_get0_order(group.get())) >= 0) {
    return invalid;
  }
  EcPointPtr pub(EC_POINT_new(group.get()));
  if (pub == nullptr ||
      EC_POINT_mul(group.get(), pub.get(), priv.get(), nullptr, nullptr, bn_ctx.get()) != 1) {
    return Fail(absl::InternalError("EC point multiplication failed"));
  }
  std::array<unsigned char, 1 + 2 * 66> pub_bytes{};
  const size_t pub_len = EC_POINT_point2oct(group.get(), pub.get(), POINT_CONVERSION_UNCOMPRESSED,
                                            pub_bytes.data(), pub_bytes.size(), bn_ctx.get());
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (pub_len == 0 || bld == nullptr ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, format.group_name,
                                      0) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, priv.get()) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, pub_bytes.data(),
                                       pub_len) != 1) {
    return Fail(absl::InternalError("building EC key parameters failed"));
  }
  ParamsPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* pkey = nullptr;
  if (params == nullptr || ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_KEYPAIR, params.get()) != 1) {
    return Fail(absl::InternalError("creating the EC key failed"));
  }
  return Share(pkey);
}

absl::StatusOr<std::shared_ptr<EVP_PKEY>> LoadOpenSshEcKey(absl::string_view text) {
  const absl::Status not_openssh = absl::InvalidArgumentError("Not OpenSSH private key format");
  const absl::Status corrupt = absl::InvalidArgumentError("Corrupt OpenSSH private key");
  constexpr absl::string_view kBegin = "-----BEGIN OPENSSH PRIVATE KEY-----";
  constexpr absl::string_view kEnd = "-----END OPENSSH PRIVATE KEY-----";
  constexpr absl::string_view kMagic("openssh-key-v1\0", 15);
  const size_t begin = text.find(kBegin);
  if (begin == absl::string_view::npos) return not_openssh;
  const size_t body = begin + kBegin.size();
  const size_t end = text.find(kEnd, body);
  if (end == absl::string_view::npos) return not_openssh;
  std::string blob;
  if (!DecodeBase64Lenient(text.substr(body, end - body), &blob)) return corrupt;
  if (absl::string_view(blob).substr(0, kMagic.size()) != kMagic) return not_openssh;
  SshReader r(absl::string_view(blob).substr(kMagic.size()));

  absl::string_view cipher, kdf, kdf_options, pub_data, pub_key_type;
  uint32_t nkeys = 0;
  if (!r.String(&cipher) || !r.String(&kdf) || !r.String(&kdf_options) || !r.U32(&nkeys)) {
    return corrupt;
  }
  if (nkeys != 1) return absl::InvalidArgumentError("Only one key supported");
  if (!r.String(&pub_data)) return corrupt;
  SshReader pub(pub_data);
  if (!pub.String(&pub_key_type)) return corrupt;
  const SshEcdsaFormat* format = nullptr;
  for (const SshEcdsaFormat& f : kSshEcdsaFormats) {
    if (f.key_type == pub_key_type) format = &f;
  }
  if (format == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an ECDSA key (key type '", absl::CHexEscape(pub_key_type), "')"));
  }
  absl::string_view pub_curve, pub_point;
  if (!SshEcdsaPublic(&pub, *format, &pub_curve, &pub_point) || !pub.rest().empty()) {
    return corrupt;
  }
  if (cipher != "none" || kdf != "none") {
    return absl::InvalidArgumentError("Key is password-protected, but password was not provided.");
  }
  absl::string_view secret_data;
  if (!r.String(&secret_data) || !r.rest().empty() || secret_data.empty() ||
      secret_data.size() % 8 != 0) {
    return corrupt;
  }
  SshReader sec(secret_data);
  uint32_t check1 = 0, check2 = 0;
  absl::string_view key_type, curve, point, secret, comment;
  if (!sec.U32(&check1) || !sec.U32(&check2) || check1 != check2) return corrupt;
  if (!sec.String(&key_type) || key_type != pub_key_type) return corrupt;
  if (!SshEcdsaPublic(&sec, *format, &curve, &point) || !sec.String(&secret)) return corrupt;
  if (!secret.empty() && static_cast<unsigned char>(secret[0]) > 0x7f) return corrupt;  // < 0
  if (curve != pub_curve || point != pub_point) return corrupt;
  if (!sec.String(&comment)) return corrupt;
  // OpenSSH pads the private section with the bytes 1, 2, 3, ... (at most one cipher block).
  const absl::string_view padding = sec.rest();
  static constexpr char kPadding[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  if (padding.size() > sizeof(kPadding) || padding != absl::string_view(kPadding, padding.size())) {
    return corrupt;
  }
  // Like `cryptography`, the key pair is derived from the scalar; the stored point is not used.
  return EcKeyFromScalar(*format, secret);
}

// `load_pem_private_key(data, password=None)` for EC keys.
absl::StatusOr<std::shared_ptr<EVP_PKEY>> LoadPemEcPrivateKey(absl::string_view pem) {
  absl::StatusOr<PemBlock> block = ParseFirstPemBlock(pem);
  if (!block.ok()) return block.status();
  const auto* begin = reinterpret_cast<const unsigned char*>(block->der.data());
  const auto* end = begin + block->der.size();
  const unsigned char* p = begin;
  const long len = static_cast<long>(block->der.size());
  EVP_PKEY* pkey = nullptr;
  if (block->label == "PRIVATE KEY" && !block->has_headers) {
    Pkcs8Ptr info(d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, len));
    if (info != nullptr && p == end) pkey = EVP_PKCS82PKEY(info.get());
  } else if (block->label == "EC PRIVATE KEY" && !block->has_headers) {
    pkey = d2i_PrivateKey(EVP_PKEY_EC, nullptr, &p, len);
    if (pkey != nullptr && p != end) {
      EVP_PKEY_free(pkey);
      pkey = nullptr;
    }
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("not an unencrypted PKCS#8 or SEC1 EC private key (PEM label '",
                     absl::CHexEscape(block->label), "')"));
  }
  if (pkey == nullptr) return Fail(absl::InvalidArgumentError("Could not deserialize key data"));
  return Share(pkey);
}

}  // namespace

NodeKey::NodeKey(std::shared_ptr<EVP_PKEY> pkey, std::string curve_name, std::string public_key_pem)
    : pkey_(std::move(pkey)),
      curve_name_(std::move(curve_name)),
      public_key_pem_(std::move(public_key_pem)) {}

absl::StatusOr<NodeKey> NodeKey::FromPkey(std::shared_ptr<EVP_PKEY> pkey) {
  absl::StatusOr<std::string> curve = SupportedCurveName(pkey.get());
  if (!curve.ok()) return curve.status();
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (check == nullptr || EVP_PKEY_check(check.get()) != 1) {
    return Fail(absl::InvalidArgumentError("Invalid EC key"));
  }
  // Serialize points uncompressed whatever form the input used, as `cryptography` does.
  if (EVP_PKEY_set_utf8_string_param(pkey.get(), OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                     OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED) != 1) {
    return Fail(absl::InternalError("setting the EC point format failed"));
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_PUBKEY(bio.get(), pkey.get()) != 1) {
    return Fail(absl::InternalError("writing the public key failed"));
  }
  return NodeKey(std::move(pkey), *std::move(curve), BioContents(bio.get()));
}

absl::StatusOr<NodeKey> NodeKey::Generate() {
  EVP_PKEY* pkey = EVP_EC_gen("secp384r1");
  if (pkey == nullptr) return Fail(absl::InternalError("EC key generation failed"));
  return FromPkey(Share(pkey));
}

absl::StatusOr<NodeKey> NodeKey::FromPrivateKeyPem(absl::string_view pem) {
  absl::StatusOr<std::shared_ptr<EVP_PKEY>> pkey = LoadPemEcPrivateKey(pem);
  if (!pkey.ok()) return pkey.status();
  return FromPkey(*std::move(pkey));
}

absl::StatusOr<NodeKey> NodeKey::FromOpenSshPrivateKey(absl::string_view text) {
  absl::StatusOr<std::shared_ptr<EVP_PKEY>> pkey = LoadOpenSshEcKey(text);
  if (!pkey.ok()) return pkey.status();
  return FromPkey(*std::move(pkey));
}

std::string NodeKey::PrivateKeyPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  // Writing an in-memory key to a memory BIO fails only on allocation failure.
  if (bio == nullptr || PEM_write_bio_PrivateKey(bio.get(), pkey_.get(), nullptr, nullptr, 0,
                                                 nullptr, nullptr) != 1) {
    ERR_clear_error();
    return std::string();
  }
  return BioContents(bio.get());
}

absl::StatusOr<std::string> NodeKey::Sign(absl::string_view data) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  size_t len = 0;
  if (ctx == nullptr ||
      EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, pkey_.get(), nullptr) !=
          1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                     data.size()) != 1) {
    return Fail(absl::InternalError("ECDSA signing failed"));
  }
  std::string signature(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    return Fail(absl::InternalError("ECDSA signing failed"));
  }
  signature.resize(len);  // DER signatures vary in length
  return signature;
}

namespace {

// Every Fleet call of a node carries the same public key: parsing it (PEM, DER through OpenSSL's
// decoders, the re-encoding check) cost ~100 us per call, a sixth of the whole verification.
// Keys that parsed are kept, keyed by their PEM bytes (parsing is a pure function of them); the
// table is emptied when it reaches kMaxCachedKeys, so junk keys cannot grow it without bound.
// Keys that fail to parse are not kept: they are answered with the same error every time.
constexpr size_t kMaxCachedKeys = 4096;

class PublicKeyCache {
 public:
  absl::StatusOr<std::shared_ptr<EVP_PKEY>> Load(absl::string_view pem) {
    {
      absl::ReaderMutexLock lock(&mu_);
      auto it = keys_.find(pem);
      if (it != keys_.end()) return it->second;
    }
    absl::StatusOr<std::shared_ptr<EVP_PKEY>> pkey = LoadEcPublicKey(pem);
    if (!pkey.ok()) return pkey;
    absl::MutexLock lock(&mu_);
    if (keys_.size() >= kMaxCachedKeys) keys_.clear();
    keys_.emplace(pem, *pkey);
    return pkey;
  }

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<EVP_PKEY>> keys_ ABSL_GUARDED_BY(mu_);
};

PublicKeyCache& VerifyingKeys() {
  static auto* cache = new PublicKeyCache();
  return *cache;
}

}  // namespace

absl::Status VerifyNodeSignature(absl::string_view public_key_pem, absl::string_view data,
                                 absl::string_view signature_der) {
  absl::StatusOr<std::shared_ptr<EVP_PKEY>> pkey = VerifyingKeys().Load(public_key_pem);
  if (!pkey.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("The provided public key is not valid: ", pkey.status().message()));
  }
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr || EVP_DigestVerifyInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr,
                                                pkey->get(), nullptr) != 1) {
    return Fail(absl::InternalError("ECDSA verification setup failed"));
  }
  // 1: valid; 0: wrong signature; < 0: not a DER signature. `cryptography` maps every failure
  // to InvalidSignature.
  if (EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature_der.data()),
                       signature_der.size(), reinterpret_cast<const unsigned char*>(data.data()),
                       data.size()) != 1) {
    return Fail(absl::UnauthenticatedError(kInvalidSignatureMessage));
  }
  return absl::OkStatus();
}

absl::Status CheckSignedRequest(absl::string_view public_key_pem, absl::string_view timestamp,
                                absl::string_view signature_der, absl::Time now) {
  if (public_key_pem.empty() || timestamp.empty() || signature_der.empty()) {
    return absl::UnauthenticatedError(kMissingAuthMetadataMessage);
  }
  const bool ascii = std::all_of(timestamp.begin(), timestamp.end(),
                                 [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  if (!ascii) return absl::UnknownError(kServiceHandlerErrorMessage);
  absl::Status verified = VerifyNodeSignature(public_key_pem, timestamp, signature_der);
  if (absl::IsInvalidArgument(verified)) return absl::UnknownError(kServiceHandlerErrorMessage);
  if (!verified.ok()) return verified;
  absl::StatusOr<absl::Time> sent = ParseIsoTime(timestamp);
  if (!sent.ok()) return absl::UnknownError(kServiceHandlerErrorMessage);
  // `(now() - fromisoformat(ts)).total_seconds()`: exact microseconds on both sides.
  const absl::Duration diff = FloorToMicros(now) - *sent;
  if (!(kMinTimestampDiff < diff && diff < kMaxTimestampDiff)) {
    return absl::UnauthenticatedError(kInvalidTimestampMessage);
  }
  return absl::OkStatus();
}

absl::StatusOr<SignedRequestMetadata> SignRequest(const NodeKey& key, absl::Time now) {
  SignedRequestMetadata metadata;
  metadata.public_key_pem = key.PublicKeyPem();
  metadata.timestamp = FormatIsoUtc(now);
  absl::StatusOr<std::string> signature = key.Sign(metadata.timestamp);
  if (!signature.ok()) return signature.status();
  metadata.signature = *std::move(signature);
  return metadata;
}

absl::Status CheckNistEcPublicKey(absl::string_view public_key_pem) {
  absl::StatusOr<std::shared_ptr<EVP_PKEY>> pkey = LoadEcPublicKey(public_key_pem);
  if (!pkey.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Invalid public key in RegisterNode request: ", pkey.status().message()));
  }
  absl::StatusOr<std::string> curve = SupportedCurveName(pkey->get());
  if (!curve.ok() || !Contains(kNistCurves, *curve)) {
    return absl::InvalidArgumentError(
        "Invalid public key in RegisterNode request: The provided public key is not a NIST EC "
        "curve public key.");
  }
  return absl::OkStatus();
}

}  // namespace flwr::core
