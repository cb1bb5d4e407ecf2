// Who may use the admin API (adaptor/admin/admin_guard.h).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "adaptor/admin/admin_guard.h"

namespace sippeer::adaptor {
namespace {

const std::string kToken(64, 'a');

AdminRequest post(std::string_view auth) {
  AdminRequest r;
  r.post = true;
  r.authorization = auth;
  r.host = "127.0.0.1:8060";
  return r;
}

TEST(AdminGuard, PostNeedsTheToken) {
  const std::string good = "Bearer " + kToken;
  EXPECT_EQ(check_admin_request(post(good), kToken).status, 200);
  EXPECT_EQ(check_admin_request(post(""), kToken).status, 401);
  EXPECT_EQ(check_admin_request(post("Basic " + kToken), kToken).status, 401);
  EXPECT_EQ(check_admin_request(post("Bearer " + std::string(64, 'b')), kToken).status, 403);
  EXPECT_EQ(check_admin_request(post("Bearer " + kToken.substr(1)), kToken).status, 403);
  // No token configured or generated: nothing may change the node.
  EXPECT_EQ(check_admin_request(post("Bearer "), "").status, 403);
  // Reading needs none.
  AdminRequest get;
  get.host = "127.0.0.1:8060";
  EXPECT_EQ(check_admin_request(get, kToken).status, 200);
}

TEST(AdminGuard, OtherOriginsAndRebindingNamesAreRefused) {
  const std::string good = "Bearer " + kToken;
  AdminRequest r = post(good);
  r.origin = "http://evil.example";
  EXPECT_EQ(check_admin_request(r, kToken).status, 403);
  r.origin = "http://127.0.0.1:8060";  // the API's own page
  EXPECT_EQ(check_admin_request(r, kToken).status, 200);
  r.origin = "null";  // a sandboxed frame or a file: page
  EXPECT_EQ(check_admin_request(r, kToken).status, 403);
  r.origin = {};
  r.sec_fetch_site = "cross-site";
  EXPECT_EQ(check_admin_request(r, kToken).status, 403);
  r.sec_fetch_site = "same-origin";
  EXPECT_EQ(check_admin_request(r, kToken).status, 200);
  AdminRequest get;
  get.host = "attacker.example:8060";  // a name rebound to 127.0.0.1
  EXPECT_EQ(check_admin_request(get, kToken).status, 403);
  get.host = "localhost:8060";
  EXPECT_EQ(check_admin_request(get, kToken).status, 200);
  get.host = "[::1]:8060";
  EXPECT_EQ(check_admin_request(get, kToken).status, 200);
}

TEST(AdminGuard, TokenIsGeneratedOnceIntoStateDirReadableByTheOwnerOnly) {
  const auto dir = std::filesystem::temp_directory_path() / ("sippeer-token-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::string err;
  const std::string t = admin_token("", dir.string(), &err);
  ASSERT_EQ(t.size(), 64u) << err;
  struct stat st {};
  ASSERT_EQ(::stat((dir / "admin.token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(admin_token("", dir.string(), &err), t);  // kept across restarts
  EXPECT_EQ(read_admin_token("", dir.string()), t);   // what ctl sends
  EXPECT_EQ(admin_token("configured", dir.string(), &err), "configured");
  EXPECT_EQ(read_admin_token("configured", dir.string()), "configured");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sippeer::adaptor
