// The text form of overlay messages: SIP REGISTER requests and their
// responses, as in the SIPPEER report's appendix A. The simulator encodes
// and decodes every message with this codec (so it counts real bytes and
// exercises the parser), and the SIP adaptor uses the header-value helpers
// to build and read the same headers through Sofia-SIP.
//
// Node or user? A URI names a node when it carries the `node` URI
// parameter (sip:7@10.0.0.1:5060;node); it names a bare ring key when its
// host is the overlay domain (sip:11@sippeer.net); anything else is a user
// AOR. So `sip:1001@192.168.1.5;user=phone` is a user, although its user part
// is all digits. See docs/PROTOCOL.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "dht/message.h"
#include "dht/ring.h"

namespace sippeer::dht {

// Why a message could not be decoded (libre-style named errors).
enum class DecodeError {
  Truncated,         // no blank line ending the header block
  BadStartLine,      // not "REGISTER <uri> SIP/2.0" / "SIP/2.0 <code> <reason>"
  NotRegister,       // a request with another method
  MissingHeader,     // To, From, Call-ID, CSeq or Via absent
  BadUri,            // a To/From/Contact URI we cannot read
  BadId,             // an id that is not a number on this ring
  BadHeaderValue,    // Expires, Max-Forwards, q, CSeq ... not a number
  BadContentLength,  // Content-Length disagrees with the body
};
const char* decode_error_name(DecodeError e);

// The SIP transaction fields that dht/ does not model but that every SIP
// message must carry. The simulator fills them in so byte counts are real.
struct Envelope {
  Address via_address;           // top Via sent-by host:port
  std::string branch;            // top Via branch (z9hG4bK...)
  std::vector<std::string> more_vias;  // further Via values, for proxied requests
  std::string call_id;
  std::uint32_t cseq = 1;
  std::string from_tag;
  std::string to_tag;            // responses only
};

template <typename T>
struct Decoded {
  T message;
  Envelope envelope;
  Address request_address;       // requests: host:port of the Request-URI
};

class Codec {
 public:
  explicit Codec(const Ring& ring, std::string overlay_domain = "sippeer.net");

  const std::string& overlay_domain() const { return domain_; }
  const Ring& ring() const { return ring_; }

  // ---- header values, shared with the SIP adaptor ----
  // sip:<id>@<address>;node
  std::string node_uri(const NodeRef& n) const;
  // Node: node_uri; Key: sip:<id>@<overlay domain>; User: the AOR as given.
  std::string target_uri(const Target& t) const;
  // Reads a URI (with or without <>) back into a Target. User AORs are
  // canonicalised (scheme, user, host; parameters dropped; host lowercased)
  // and hashed with the ring.
  std::optional<Target> parse_target(std::string_view uri) const;
  std::optional<NodeRef> parse_node_uri(std::string_view uri) const;
  // The canonical form of a user AOR: "sip:user@host" (host lowercased,
  // port kept, URI parameters and headers dropped).
  static std::optional<std::string> canonical_aor(std::string_view uri);

  // One Contact header value: <node-uri>;q=Q[;predecessor="<node-uri>"]
  // with Q = 1 - index/count, written with at most three decimals.
  std::string contact_value(const Contact& c, std::size_t index, std::size_t count) const;
  // Contact header values back into Contacts, highest q first (stable).
  std::optional<std::vector<Contact>> parse_contacts(const std::vector<std::string>& values) const;
  // Records as a batched Transfer or a List answer carries them: the body,
  // of type kRecordsContentType.
  static constexpr std::string_view kRecordsContentType = "application/p2p-records";
  static std::string records_body(const std::vector<CarriedRecord>& records);
  // One record's header lines as a Store, a Transfer or an answer carries
  // them (values by kind, Expires, P2P-Record-Version), each ending CRLF.
  static std::string record_headers(const Record& rec, Duration ttl);

  // ---- whole messages, for the simulator and the tests ----
  // `address` is where the request is sent: it becomes the Request-URI
  // (sip:<address>).
  std::string encode(const Request& req, std::string_view address, const Envelope& env) const;
  std::string encode(const Response& resp, const Request& answered, const Envelope& env) const;
  // The same into `out`, which is cleared first and keeps its capacity: a
  // caller that encodes message after message into one buffer (the
  // simulator does, ~45 million messages at 100,000 nodes) allocates only
  // when a message outgrows it.
  void encode_into(std::string& out, const Request& req, std::string_view address, const Envelope& env) const;
  void encode_into(std::string& out, const Response& resp, const Request& answered, const Envelope& env) const;
  std::variant<Decoded<Request>, DecodeError> decode_request(std::string_view text) const;
  std::variant<Decoded<Response>, DecodeError> decode_response(std::string_view text) const;

 private:
  const Ring& ring_;
  std::string domain_;
};

}  // namespace sippeer::dht
