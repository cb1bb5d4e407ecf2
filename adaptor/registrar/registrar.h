// The registrar's binding logic (RFC 3261 10.3 steps 5-8), apart from
// storage: it turns a parsed REGISTER plus the AOR's current record into the
// record to store and the reply to send. It does no I/O and reads no clock;
// the caller reads the wall clock once per message and passes it in, so
// every expiry in one request is computed against the same instant.
//
// A binding is stored in the ring as one Contact header value, because the
// overlay codec writes bindings verbatim as Contact lines. The value carries
// absolute state (expiry time, Call-ID, CSeq) rather than a remaining
// `expires`, since a record copied to another node must mean the same there.
//
//   <sip:1001@192.168.1.5:5060;user=phone>;q=0.5;p2p-until=1700003600;
//     p2p-callid="a84b4c76e66710";p2p-cseq=314159;+sip.instance="<urn:...>"
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adaptor/sip/reply.h"
#include "adaptor/sip/sofia.h"
#include "dht/id.h"
#include "dht/record.h"
#include "dht/time.h"

namespace sippeer::adaptor {

struct RegistrarPolicy {
  int min_expires = 60, max_expires = 7200, default_expires = 3600;
  // User-Agent prefixes (e.g. "CSCO" for the Cisco 7960, which breaks when
  // the 200 lists more than its own Contact): for them the 200 lists only
  // the contacts of this REGISTER.
  std::vector<std::string> single_contact_user_agents = {"CSCO"};
  int max_contacts = 10;  // registrar.max_contacts
  std::size_t max_records = 1'000'000;  // limits.max_records (Location::apply)
};

// One stored binding, parsed back from its Contact-value string.
struct Binding {
  std::string uri;               // as registered, e.g. "sip:1001@192.168.1.5:5060;user=phone"
  std::string q;                 // "" when absent, else as given ("0.5")
  std::int64_t expires_at = 0;   // unix seconds (wall clock: records move between nodes)
  std::string call_id;
  std::uint32_t cseq = 0;
  std::string params;            // other contact params, verbatim: ";a=b;c"
  // RFC 3327 Path: the edge node that holds this phone's flow (a NAT
  // mapping or the TCP connection it registered over), as a Route value,
  // e.g. "<sip:f~tcp~192.0.2.7~40312@10.0.0.2:5060;lr>"; "" = the contact
  // is reached directly. Stored as p2p-path="...".
  std::string path;

  // The edge node's URI from `path` ("<sip:f~...@edge;lr>" ->
  // "sip:f~...@edge;lr"), where a request to this phone is sent; "" when
  // the contact is reached directly.
  std::string path_uri() const {
    return path.size() > 6 && path.compare(0, 5, "<sip:") == 0 ? path.substr(1, path.size() - 2) : std::string();
  }

  friend bool operator==(const Binding&, const Binding&) = default;
};

// `<uri>[;q=Q];p2p-until=<unix>;p2p-callid="<call-id>";p2p-cseq=<n>[;p2p-path="<route>"]<params>`.
// The Call-ID is a quoted-string with '"', '\' and control characters
// backslash-escaped. Precondition: no CR or LF in any field (a parsed SIP
// message cannot carry them there).
std::string encode_binding(const Binding& b);
// nullopt unless `value` is exactly one Contact value with an absolute URI
// and all three p2p-* parameters.
std::optional<Binding> decode_binding(std::string_view value);
// The same through Sofia's Contact parser, which decode_binding uses for
// any value not in the shape encode_binding writes (registrar_test checks
// that the two agree).
std::optional<Binding> decode_binding_with_sofia(std::string_view value);

// Why a REGISTER failed. reg_reply() is the one table mapping these to
// replies (cf. kamailio registrar/rerrno.h).
enum class RegError {
  None,
  BadContact,              // unparseable Contact, `*` URI misuse aside, or a URI we cannot store
  BadQValue,               // q outside 0..1 or not a qvalue
  StarWithContacts,        // `Contact: *` next to other contacts
  StarWithoutExpiresZero,  // `Contact: *` without `Expires: 0`
  IntervalTooBrief,        // 0 < expires < min_expires
  BadExpires,              // an expires param or Expires header that is not delta-seconds
  MissingHeader,           // Call-ID or CSeq absent
  OutOfOrder,              // same Call-ID, CSeq not above the stored one
  TooManyContacts,         // more than max_contacts bindings would result
  RegistrarFull,           // a new AOR while max_records are stored
  Internal,
};

struct RegReply {
  int status;
  const char* phrase;
};
RegReply reg_reply(RegError e);  // the reply table's row (adaptor/sip/reply.h)
Reject reg_reject(RegError e);    // RegError::None has none: not to be asked

struct RegisterOutcome {
  RegError error = RegError::None;
  int status = 200;
  const char* phrase = "OK";
  int min_expires = 0;                      // set for 423: the reply's Min-Expires
  std::optional<dht::Record> record;        // to store (version = old + 1); absent when nothing changes or on error
  dht::Duration ttl{0};                     // latest binding expiry - now; 0 for a tombstone
  std::vector<std::string> reply_contacts;  // Contact values for the 200: "<uri>;expires=<left>[;q=Q]"
};

// Applies a REGISTER already parsed by Sofia to the AOR's existing record
// (nullptr when there is none). `aor` is the canonical AOR the caller
// computed from To (third-party registration is allowed), `key` its ring key.
RegisterOutcome apply_register(const RegistrarPolicy& policy, const sip_t* sip,
                               const std::string& aor, const dht::Id& key,
                               const dht::Record* existing, std::int64_t now_unix);

// The unexpired bindings of a record, highest q first (absent q = 1.0), for
// the proxy to fork to. Undecodable bindings are skipped.
std::vector<Binding> live_bindings(const dht::Record& record, std::int64_t now_unix);
// Every decodable binding of a record, expired or not, in live_bindings'
// order (what BindingCache keeps).
std::vector<Binding> sorted_bindings(const dht::Record& record);

// The 200's Contact values for a record, without changing it (what a
// REGISTER without Contact gets, RFC 3261 10.3 step 6), in stored order.
std::vector<std::string> reply_contacts(const dht::Record& record, std::int64_t now_unix);

}  // namespace sippeer::adaptor
