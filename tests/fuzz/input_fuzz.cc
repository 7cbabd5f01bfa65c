// libFuzzer target for corral's text input surfaces other than DNS: app
// definitions (POST /v2/apps bodies), partial updates, Mesos resource and
// attribute flags, the SSE parser and scheduler events as the registry reads
// them. Each must return a value or a precise error, never crash or hang.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/http_client.h"
#include "base/http_message.h"
#include "base/json.h"
#include "base/sse.h"
#include "conf/app_definition.h"
#include "conf/resources.h"
#include "registry/catalog_state.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks the surface so one corpus exercises all of them.
  uint8_t which = data[0] % 5;
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  using namespace corral;
  switch (which) {
    case 0: {
      auto j = parseJson(text);
      if (!j.ok()) break;
      auto app = conf::parseAppDefinition(*j);
      if (app.ok()) {
        // Whatever parses must render and parse back.
        auto again = conf::parseAppDefinition(conf::toMarathonJson(*app));
        if (!again.ok()) __builtin_trap();
        (void)conf::applyAppPatch(*app, *j);
      }
      break;
    }
    case 1:
      (void)conf::parseResources(text);
      (void)conf::parseAttributes(text);
      break;
    case 2: {
      sse::Parser p([](const sse::Event&) {}, nullptr, 1 << 16);
      (void)p.feed(text);
      break;
    }
    case 3: {
      registry::CatalogState state;
      auto nl = text.find('\n');
      std::string_view type = text.substr(0, nl);
      std::string_view body = nl == std::string_view::npos ? "" : text.substr(nl + 1);
      (void)state.applyEvent(type, body);
      (void)state.build(0);
      // The status update reader accepts only what is a JSON object.
      auto update = registry::readStatusUpdateEvent(body);
      if (update.ok()) {
        auto tree = parseJson(body);
        if (!tree.ok() || !tree->is_object()) __builtin_trap();
      }
      // The same text as a whole /v2/apps answer (read one app at a time).
      (void)state.loadApps(text);
      (void)state.build(1);
      break;
    }
    case 4: {
      http::Request req;
      http::splitTarget(text, &req.path, &req.query);
      (void)req.queryParams("embed");
      (void)http::percentDecode(text);
      std::string host;
      int port;
      (void)http::splitHostPort(text, 80, &host, &port);
      break;
    }
  }
  return 0;
}
