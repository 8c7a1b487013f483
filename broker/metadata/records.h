#pragma once
// Kafka's framing of a __cluster_metadata record value (MetadataRecordSerde):
//   uvarint frame version (1) | uvarint record type (T::record_type) | uvarint record version
//   | the record encoded at that version (flexible: it ends with its tagged fields)
// Nothing may follow the record.

#include <cstdint>
#include <span>
#include <vector>

#include <keel/protocol/messages/metadata_records.h>
#include <keel/protocol/wire.h>
#include <keel/result.h>

namespace keel::broker {

inline constexpr std::uint32_t kMetadataFrameVersion = 1;

/// The frame of one record value; `body` points into the value.
struct MetadataRecordFrame {
  std::int16_t type = 0;
  std::int16_t version = 0;
  protocol::ByteView body;
};

/// Reads the frame header. Fails on a frame version other than 1, on varints that do not
/// fit an int16 (as Kafka does) and on truncation; the body is not decoded here.
keel::Result<MetadataRecordFrame> parse_metadata_frame(std::span<const std::uint8_t> value);

/// The framed value of `record` at `version`. Defined for the record types the controller
/// writes: TopicRecord, PartitionRecord, PartitionChangeRecord, ConfigRecord,
/// RemoveTopicRecord, RegisterBrokerRecord, UnregisterBrokerRecord, FenceBrokerRecord,
/// UnfenceBrokerRecord, BrokerRegistrationChangeRecord, FeatureLevelRecord, ClientQuotaRecord,
/// ProducerIdsRecord, NoOpRecord.
/// Empty when the record cannot be encoded at `version` (a field set that the version
/// lacks, or a version out of range): a bug in the caller, which must check.
template <class T>
std::vector<std::uint8_t> encode_metadata_record(const T& record, std::int16_t version);

}  // namespace keel::broker
