// Flow tokens (adaptor/sip/flow.h): when an edge node must name the way back to
// a phone, and the round trip of the token through a URI.
#include "adaptor/sip/flow.h"

#include <gtest/gtest.h>

namespace sippeer::adaptor::flow {
namespace {

Arrival udp(std::string source, std::string sent_by, bool rport) {
  Arrival a;
  a.transport = "udp";
  a.source = std::move(source);
  a.sent_by = std::move(sent_by);
  a.rport = rport;
  return a;
}

TEST(Flow, UdpPhoneBehindNatWithRportGetsAToken) {
  // X-Lite behind a home router: private Via, public source, ;rport.
  EXPECT_EQ(token(udp("203.0.113.9:40001", "192.168.1.7:5060", true)), "udp~203.0.113.9~40001");
}

TEST(Flow, UdpPhoneReachableAsWrittenGetsNone) {
  EXPECT_EQ(token(udp("192.0.2.7:5060", "192.0.2.7:5060", true)), "");
  // Without rport it asked for responses to its Via: RFC 3261 as written.
  EXPECT_EQ(token(udp("203.0.113.9:40001", "192.168.1.7:5060", false)), "");
}

TEST(Flow, TcpPhoneAskingForReuseOrNamingItsConnectionGetsAToken) {
  Arrival a;
  a.transport = "tcp";
  a.source = "192.0.2.7:40312";
  a.sent_by = "192.0.2.7:5060";
  a.contacts = {"192.0.2.7:5060"};
  EXPECT_EQ(token(a), "") << "listens where its Contact says: a new connection reaches it";
  a.alias = true;  // linphone: Via ;alias
  EXPECT_EQ(token(a), "tcp~192.0.2.7~40312");
  a.alias = false;
  a.contacts = {"192.0.2.7:40312"};  // its Contact is the connection
  EXPECT_EQ(token(a), "tcp~192.0.2.7~40312");
  a.contacts.clear();
  a.sent_by = "192.0.2.7:40312";  // so is its Via
  EXPECT_EQ(token(a), "tcp~192.0.2.7~40312");
  a.transport = "tls";
  EXPECT_EQ(token(a), "tls~192.0.2.7~40312");
  // Over TLS, always: a phone has no server certificate for a new
  // connection to reach it (baresip's listening TLS port refuses).
  a.sent_by = "192.0.2.7:5061";
  a.contacts = {"192.0.2.7:5061"};
  EXPECT_EQ(token(a), "tls~192.0.2.7~40312");
}

TEST(Flow, OtherTransportsAndBadSourcesGetNone) {
  Arrival a = udp("203.0.113.9:40001", "192.168.1.7:5060", true);
  a.transport = "sctp";
  EXPECT_EQ(token(a), "");
  EXPECT_EQ(token(udp("", "192.168.1.7:5060", true)), "");
  EXPECT_EQ(token(udp("203.0.113.9", "192.168.1.7:5060", true)), "");
}

TEST(Flow, RouteCarriesTheTokenAndATransportOnlyInRecordRoute) {
  EXPECT_EQ(route("udp~203.0.113.9~40001", "10.0.0.2:5060", false),
            "<sip:f~udp~203.0.113.9~40001@10.0.0.2:5060;lr>");
  EXPECT_EQ(route("udp~203.0.113.9~40001", "10.0.0.2:5060", true),
            "<sip:f~udp~203.0.113.9~40001@10.0.0.2:5060;lr>");
  EXPECT_EQ(route("tcp~192.0.2.7~40312", "10.0.0.2:5060", false), "<sip:f~tcp~192.0.2.7~40312@10.0.0.2:5060;lr>");
  EXPECT_EQ(route("tcp~192.0.2.7~40312", "10.0.0.2:5060", true),
            "<sip:f~tcp~192.0.2.7~40312@10.0.0.2:5060;transport=tcp;lr>");
}

TEST(Flow, TargetAndTokenRoundTrip) {
  EXPECT_EQ(target("f~tcp~192.0.2.7~40312"), "192.0.2.7:40312;transport=tcp");
  EXPECT_EQ(token_of("192.0.2.7:40312;transport=tcp"), "tcp~192.0.2.7~40312");
  EXPECT_EQ(token_of(target("f~udp~203.0.113.9~40001")), "udp~203.0.113.9~40001");
}

TEST(Flow, UsersThatAreNotTokensHaveNoTarget) {
  for (const char* user : {"", "alice", "1001", "f~", "f~udp", "f~udp~1.2.3.4", "f~~1.2.3.4~5", "f~udp~1.2.3.4~",
                           "F~udp~1.2.3.4~5"})
    EXPECT_EQ(target(user), "") << user;
  EXPECT_EQ(token_of("192.0.2.7:40312"), "");
  EXPECT_EQ(token_of("garbage"), "");
}

}  // namespace
}  // namespace sippeer::adaptor::flow
