// The registration event package (RFC 3680), served by the user's
// registrar (issue 17, report 6.1: "SIPPEER implements the registration
// event package since it acts as registrar for some users"). This file is
// the pure part: what changed between two views of a user's bindings, and
// the application/reginfo+xml documents that say so. No Sofia, no clock,
// no I/O; presence_flow.cpp keeps the subscriptions and sends the NOTIFYs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sippeer::adaptor {

// One binding as the reg package sees it.
struct RegContact {
  std::string uri;
  std::int64_t expires_at = 0;  // unix seconds
  friend bool operator==(const RegContact&, const RegContact&) = default;
};

// One <contact> of a document: its state (active, terminated) and the
// event that led there (RFC 3680 5.3: registered, created, refreshed,
// shortened, expired, deactivated, probation, unregistered, rejected).
struct RegContactEvent {
  RegContact contact;
  std::string state;
  std::string event;
};

// What happened between `before` and `after` (each a user's live bindings).
// A binding gone from `after` is "unregistered" when a REGISTER removed
// it (`by_register`), else "expired".
std::vector<RegContactEvent> reg_changes(const std::vector<RegContact>& before, const std::vector<RegContact>& after,
                                         bool by_register, std::int64_t now_unix);

// Every binding of `now` as a full-state list (event "registered").
std::vector<RegContactEvent> reg_full(const std::vector<RegContact>& now);

// The reginfo document. `full`: state="full" (every contact), else
// "partial" (the changed ones). The registration is "active" while
// `active_contacts` > 0, else "terminated" (RFC 3680 5.2: a registration
// with no active contacts; "init" is for one that never had any).
std::string reginfo_xml(std::string_view aor, std::uint32_t version, bool full, std::size_t active_contacts,
                        bool ever_registered, const std::vector<RegContactEvent>& contacts, std::int64_t now_unix);

}  // namespace sippeer::adaptor
