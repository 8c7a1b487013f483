#pragma once
// The coordinator's view of __consumer_offsets on this broker: created through the
// controller, its partitions from the PartitionRegistry.

#include <memory>

#include <keel/broker/config.h>

#include "coordinator/group_coordinator.h"

namespace keel::broker {

class BrokerContext;

/// `context` must outlive the result (it needs its controller and partitions).
std::unique_ptr<OffsetsTopic> make_offsets_topic(BrokerContext& context);

/// The coordinator settings from the broker configuration.
CoordinatorConfig coordinator_config(const BrokerConfig& config);

}  // namespace keel::broker
