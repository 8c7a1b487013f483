#include "handlers/forward.h"

#include <spdlog/spdlog.h>

#include "core/context.h"
#include "metadata/controller.h"
#include "net/controller_channel.h"

namespace keel::broker {

bool forward_to_controller(Request& request, Reply& reply, ForwardFailed answer_failure) {
  auto& context = *request.broker;
  if (request.listener == ListenerRole::controller || context.controller_channel == nullptr)
    return false;
  if (context.controller != nullptr && context.controller->is_active()) return false;
  protocol::Bytes body(request.body.begin(), request.body.end());
  context.controller_channel->send(
      request.api_key, request.version, std::move(body),
      [reply = std::move(reply), request, answer_failure](Result<protocol::Bytes> answer) mutable {
        if (!answer.ok() && answer_failure != nullptr) {
          answer_failure(request, std::move(reply), protocol::ErrorCode::request_timed_out,
                         "could not forward to the active controller: " + answer.error().message);
          return;
        }
        ResponseBody out;
        if (answer.ok()) {
          out.writer.write_raw(*answer);
        } else {
          // The client sees a disconnect, which every client retries after a metadata
          // refresh, as it would a controller that went away.
          out.close_connection = true;
          out.close_reason =
              "could not forward to the active controller: " + answer.error().message;
        }
        reply.send(std::move(out));
      },
      std::string(request.client_id()));
  return true;
}

}  // namespace keel::broker
