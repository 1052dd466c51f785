// HTTP adapters of the Control and Fleet services: the routes Flower 1.42 serves on the
// SuperLink's one HTTP port next to the Runtime API (`/v1/control/*` for the `flwr` CLI,
// `/v1/fleet/*` for SuperNodes; flwr/superlink/routers/{control,fleet}). Decode, authenticate,
// call, encode — no logic lives here. Errors travel as core::ToHttpError encodes them.
#ifndef FLWR_SUPERLINK_HTTP_API_H_
#define FLWR_SUPERLINK_HTTP_API_H_

#include "flwr/core/http_proto_server.h"
#include "flwr/superlink/control_service.h"
#include "flwr/superlink/fleet_service.h"

namespace flwr::superlink {

inline constexpr absl::string_view kControlPathPrefix = "/v1/control/";
inline constexpr absl::string_view kFleetPathPrefix = "/v1/fleet/";

// Every failed Fleet authentication: 401 with this `detail` and no WWW-Authenticate.
inline constexpr absl::string_view kInvalidNodeAuthMessage = "Invalid SuperNode authentication";

// The Control API routes the stock `flwr` CLI calls (run, ls, log, stop, supernode list,
// federation list, login). A caller's Flower line (its version headers; none: the newest
// pinned line, as only 1.37+ CLIs speak HTTP) selects line-dependent behaviour.
void AddControlRoutes(core::HttpProtoServer& server, ControlService* service);

// The 12 Fleet routes. Every request is authenticated first, as flwr's NodeAuthMiddleware: a
// fresh timestamp signed by the key in the headers; for RegisterNode/ActivateNode the body's
// public key must be the header's, for the others the body's node must be the key's node.
void AddFleetRoutes(core::HttpProtoServer& server, FleetService* service);

}  // namespace flwr::superlink

#endif  // FLWR_SUPERLINK_HTTP_API_H_
