#pragma once
// Random ids of the cluster: topic ids, incarnation ids, directory ids, cluster ids.

#include <string>

#include <keel/protocol/wire.h>

namespace keel::broker {

/// A random version-4 Uuid that is not zero and whose base64 form does not start with '-'
/// (Kafka avoids those: command-line tools would read them as options).
protocol::Uuid random_uuid();

/// A new cluster id: the 22-character base64 form of a random Uuid, as Kafka generates.
std::string new_cluster_id();

}  // namespace keel::broker
