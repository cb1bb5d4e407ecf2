// GET /users and `sippeer ctl user list`: the credentials a node stores,
// never their hashes, rendered from UserViews (node_snapshot.h).
#include "adaptor/admin/json.h"
#include "adaptor/admin/node_snapshot.h"

namespace sippeer::adaptor {

std::string render_users_json(const std::vector<UserView>& users) {
  Json all = Json::array();
  for (const auto& u : users)
    all.push_back({{"aor", u.aor},
                   {"user", u.user},
                   {"realm", u.realm},
                   {"role", u.primary ? "primary" : "replica"},
                   {"version", u.version},
                   {"expires_in_s", u.expires_in_s}});
  return json_text(all);
}

std::string render_users_text(const std::vector<UserView>& users) {
  std::string out;
  for (const auto& u : users)
    out += u.aor + "  (" + (u.primary ? "primary" : "replica") + ", realm " + (u.realm.empty() ? "?" : u.realm) +
           ", expires in " + std::to_string(u.expires_in_s / 86400) + " days)\n";
  return out;
}

}  // namespace sippeer::adaptor
