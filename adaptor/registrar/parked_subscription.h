// Presence and events for users who are not registered (issue 17, report
// 6.1, procedures 6.1 and 6.2). A SUBSCRIBE for a user with no binding is
// parked at the user's registrar: answered 202, then NOTIFY
// Subscription-State: pending (with an offline PIDF document for the
// presence package). When the user registers, each parked subscription is
// ended with NOTIFY Subscription-State: terminated;reason=deactivated,
// and the watcher subscribes again, this time to the user's own device.
//
// The parked subscriptions of one user are one record under the user's
// key (dht::RecordKind::Subscriptions), one value per subscription, so the
// registrar's successors hold replicas and a new registrar can still end
// them. This file is the pure part: the dialog state a NOTIFY needs, as
// one record value. No Sofia, no clock, no I/O; presence_flow.cpp does
// the SIP.
//
//   id=<16 hex>;event=<b64>;exp=<unix>;cseq=<n>;state=pending|refused;ruri=<b64>;
//   to=<b64>;from=<b64>;callid=<b64>;route=<b64>
//
// ruri: the watcher's Contact (the NOTIFY's Request-URI); to: the
// watcher's From with its tag; from: the user's AOR with our tag (the To
// of our 202); route: the route set (the SUBSCRIBE's Record-Route values,
// ", "-joined); cseq: the last NOTIFY's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sippeer::adaptor {

struct ParkedSubscription {
  std::string id;         // 16 hex: our To tag, from the SUBSCRIBE's Call-ID and From tag
  std::string event;      // the Event header value, e.g. "presence"
  std::int64_t expires_at = 0;  // unix seconds
  std::uint32_t cseq = 0;       // of the last NOTIFY sent
  std::string request_uri;  // the watcher's Contact URI
  std::string to;           // the watcher's From, tag included
  std::string from;         // <user AOR>;tag=<id>
  std::string call_id;
  std::string route;        // route set, ", "-joined Record-Route values; "" for none
  // Parked because the user's phones refused it (405, 489, ...), not
  // because the user had no binding: a REGISTER does not end it (the same
  // phones would refuse again); it lasts until it expires.
  bool refused = false;

  friend bool operator==(const ParkedSubscription&, const ParkedSubscription&) = default;
};

std::string encode_parked(const ParkedSubscription& s);
std::optional<ParkedSubscription> decode_parked(std::string_view value);

// The values whose subscriptions have not expired at `now_unix`.
std::vector<ParkedSubscription> live_parked(const std::vector<std::string>& values, std::int64_t now_unix);

// `values` with `s` put in place of the one with its id, or appended;
// expired ones dropped. False (and `values` unchanged) when it would be a
// new one beyond `max_per_user`.
bool put_parked(std::vector<std::string>& values, const ParkedSubscription& s, std::size_t max_per_user,
                std::int64_t now_unix);
// `values` without the subscription `id`; false if none had it.
bool remove_parked(std::vector<std::string>& values, std::string_view id);

// The package name of an Event header value ("presence;id=7" -> "presence").
std::string event_package(std::string_view event);

// RFC 3863 PIDF for a user who is offline: one tuple, basic status closed.
std::string offline_pidf(std::string_view aor);

}  // namespace sippeer::adaptor
