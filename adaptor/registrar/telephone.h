// Telephone numbers and prefixes (issue 17, report 6.2: PSTN
// interworking). A gateway registers the prefixes it reaches
// (`To: <tel:+1212>`, `Contact: <sip:gw.example.com;lr>;cost=USD.05/60s`);
// a call to a number is routed to the gateway of the longest registered
// prefix, the cheapest first. This file is the pure part: numbers in
// their canonical form, the keys of a number's prefixes, and costs. No
// Sofia, no clock, no I/O; pstn_flow.cpp does the SIP.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sippeer::adaptor {

// The global number a URI names, as "+" and digits, or nullopt:
//   tel:+1-212-939-7040                    -> +12129397040 (visual separators - . ( ) dropped)
//   tel:7040;phone-context=+1-212-939      -> +12129397040 (a global-number context prefixes it)
//   sip:+1-212-939-7040@gw.example.com;user=phone -> +12129397040
// A local number with a domain-name context, or a sip: URI without
// user=phone, is not a telephone number here.
std::optional<std::string> global_number(std::string_view uri);

// The ring AOR of a number or prefix: "tel:+1212".
inline std::string telephone_aor(const std::string& number) { return "tel:" + number; }

// Report 6.2.2: the keys to look up for a call to `number`, longest
// first: "tel:+12129397040", "tel:+1212939704", ..., "tel:+1".
std::vector<std::string> prefix_aors(const std::string& number);

// A contact's cost parameter (report 6.2.1: `cost=USD.05/60s`) as an
// amount per minute: "USD.05/60s" -> 0.05, "USD.10/120s" -> 0.05, "0" ->
// 0. The currency is not compared (the report leaves conversion out).
// nullopt when there is none or it does not parse: such a gateway ranks
// after every priced one.
std::optional<double> cost_per_minute(std::string_view contact_params);

}  // namespace sippeer::adaptor
