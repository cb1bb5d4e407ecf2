#include "adaptor/sip/crypto.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>

namespace sippeer::adaptor {

std::string hex_of(const unsigned char* b, std::size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    s[2 * i] = d[b[i] >> 4];
    s[2 * i + 1] = d[b[i] & 15];
  }
  return s;
}

std::string sha256_hex(std::string_view text, std::size_t bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  bytes = std::min<std::size_t>(bytes, 32);
  if (EVP_Digest(text.data(), text.size(), md, &n, EVP_sha256(), nullptr) != 1 || n < bytes)
    return std::string(2 * bytes, '0');
  return hex_of(md, bytes);
}

struct HmacSha256::State {
  EVP_MAC* mac = nullptr;
  EVP_MAC_CTX* ctx = nullptr;
  bool keyed = false;
};

HmacSha256::HmacSha256(const std::string& key) : s_(std::make_unique<State>()) {
  s_->mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  s_->ctx = s_->mac ? EVP_MAC_CTX_new(s_->mac) : nullptr;
  if (!s_->ctx) return;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  s_->keyed = EVP_MAC_init(s_->ctx, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params) == 1;
}

HmacSha256::~HmacSha256() {
  if (s_->ctx) EVP_MAC_CTX_free(s_->ctx);
  if (s_->mac) EVP_MAC_free(s_->mac);
}

std::string HmacSha256::hex(std::string_view data, std::size_t bytes) {
  // EVP_MAC_init without a key starts again with the key it was given.
  if (!s_->keyed || EVP_MAC_init(s_->ctx, nullptr, 0, nullptr) != 1) return {};
  unsigned char out[EVP_MAX_MD_SIZE];
  std::size_t len = 0;
  if (EVP_MAC_update(s_->ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1 ||
      EVP_MAC_final(s_->ctx, out, &len, sizeof out) != 1)
    return {};
  return hex_of(out, std::min(len, bytes));
}

}  // namespace sippeer::adaptor
