// The KRaft RPCs on a controller listener (Vote, BeginQuorumEpoch, EndQuorumEpoch, Fetch
// and FetchSnapshot of __cluster_metadata): one handler for all, as each is handed,
// undecoded, to this node's quorum driver, which answers when the Raft core does (a Fetch
// after its long poll).

#include "core/context.h"
#include "handlers/registry.h"

namespace keel::broker {

void handle_raft_rpc(Request& request, Reply reply) {
  const auto& quorum = request.broker->raft_rpc;
  if (!quorum) {
    ResponseBody body;
    body.close_connection = true;
    body.close_reason = "a KRaft request reached a node that is not in a quorum";
    reply.send(std::move(body));
    return;
  }
  quorum(static_cast<std::int16_t>(request.api_key), request.version, request.body,
         [reply = std::move(reply)](Result<protocol::Bytes> answer) mutable {
           ResponseBody body;
           if (answer.ok()) {
             body.writer.write_raw(*answer);
           } else {
             body.close_connection = true;
             body.close_reason = answer.error().message;
           }
           reply.send(std::move(body));
         });
}

}  // namespace keel::broker
