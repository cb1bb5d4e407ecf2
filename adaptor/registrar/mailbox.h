// Offline messages (issue 17; the SIPPEER report's abstract): a MESSAGE to
// a user of a ring domain who has no binding is kept at the user's
// registrar, in a mailbox record stored under the user's key
// (dht::RecordKind::Mailbox), so it is replicated, handed over and taken
// over like the user's bindings. It is delivered, oldest first, when the
// user next registers.
//
// This file is the pure part: what one kept message is, how it is written
// as one record value, and which messages a mailbox may keep. No Sofia, no
// clock (every call takes the caller's reading), no I/O; the proxy's
// offline_flow.cpp does the SIP.
//
// One value per message:
//
//   id=<16 hex>;t=<unix seconds>;sender=<b64>;from=<b64>;type=<b64>;body=<b64>
//
// `sender` is the From AOR (what the per-sender bound counts), `from` the
// From header as sent minus its tag, `type` the Content-Type; <b64> is
// RFC 4648 base64, so a value never holds CR, LF, ',' or ';' of its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sippeer::adaptor {

struct StoredMessage {
  std::string id;            // 16 lower-case hex: what a delivery's 2xx removes
  std::int64_t stored_at = 0;  // unix seconds
  std::string sender;        // canonical From AOR, "sip:alice@example.com"
  std::string from;          // From header value without its tag
  std::string content_type;  // "" when the MESSAGE had none
  std::string body;

  friend bool operator==(const StoredMessage&, const StoredMessage&) = default;
};

std::string encode_stored_message(const StoredMessage& m);
// nullopt unless every field is present and well formed.
std::optional<StoredMessage> decode_stored_message(std::string_view value);

// The value of `name=` among a record value's ';'-separated fields (empty
// when written "name="), or nullopt when there is no such field. Shared
// with parked_subscription.h, whose values are written the same way.
std::optional<std::string_view> record_field(std::string_view value, std::string_view name);

std::string base64_encode(std::string_view data);
std::optional<std::string> base64_decode(std::string_view text);

struct MailboxLimits {
  std::size_t per_user = 20;
  std::size_t per_sender = 5;
  std::size_t max_body = 2048;
  std::int64_t max_age_s = 7 * 86400;
};

enum class KeepVerdict { Kept, MailboxFull, SenderFull, TooLarge };
const char* keep_verdict_text(KeepVerdict v);  // for the 480's log line

// The mailbox's values after dropping messages older than the limit (and
// values that do not decode), in their order.
std::vector<std::string> fresh_values(const std::vector<std::string>& values, const MailboxLimits& limits,
                                      std::int64_t now_unix);

// Appends `m` to `values` (after dropping stale ones) when the limits let
// it in; otherwise `values` is left as fresh_values made it.
KeepVerdict keep_message(std::vector<std::string>& values, const StoredMessage& m, const MailboxLimits& limits,
                         std::int64_t now_unix);

// `values` without the message whose id is `id`; false if none had it.
bool remove_message(std::vector<std::string>& values, std::string_view id);

}  // namespace sippeer::adaptor
