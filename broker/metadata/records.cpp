#include "metadata/records.h"

#include <string>

namespace keel::broker {
namespace {

/// Kafka reads the three header varints as unsigned ints that must fit a short.
bool read_short_uvarint(protocol::Reader& reader, std::int16_t& out) {
  const std::uint32_t value = reader.read_uvarint();
  if (!reader.ok() || value > 0x7fff) return false;
  out = static_cast<std::int16_t>(value);
  return true;
}

}  // namespace

Result<MetadataRecordFrame> parse_metadata_frame(std::span<const std::uint8_t> value) {
  protocol::Reader reader(value);
  std::int16_t frame_version = 0;
  MetadataRecordFrame frame;
  if (!read_short_uvarint(reader, frame_version))
    return Fail{Error{"metadata record: cannot read the frame version"}};
  if (frame_version != static_cast<std::int16_t>(kMetadataFrameVersion))
    return Fail{Error{"metadata record: unknown frame version " + std::to_string(frame_version) +
                      " (only frame version 1 is supported)"}};
  if (!read_short_uvarint(reader, frame.type))
    return Fail{Error{"metadata record: cannot read the record type"}};
  if (!read_short_uvarint(reader, frame.version))
    return Fail{Error{"metadata record: cannot read the record version"}};
  frame.body = value.subspan(reader.position());
  return frame;
}

template <class T>
std::vector<std::uint8_t> encode_metadata_record(const T& record, std::int16_t version) {
  if (version < T::lowest_version || version > T::highest_version) return {};
  protocol::Writer writer(16 + record.encoded_size(version));
  writer.write_uvarint(kMetadataFrameVersion);
  writer.write_uvarint(static_cast<std::uint32_t>(T::record_type));
  writer.write_uvarint(static_cast<std::uint32_t>(version));
  if (!record.encode(writer, version).ok()) return {};
  return writer.take();
}

// The overload set: one instantiation per record type the controller writes, so callers
// do not compile the template against every message.
#define KEEL_METADATA_RECORD(T)                                                              \
  template std::vector<std::uint8_t> encode_metadata_record<protocol::T>(const protocol::T&, \
                                                                         std::int16_t);
KEEL_METADATA_RECORD(TopicRecord)
KEEL_METADATA_RECORD(PartitionRecord)
KEEL_METADATA_RECORD(PartitionChangeRecord)
KEEL_METADATA_RECORD(ConfigRecord)
KEEL_METADATA_RECORD(RemoveTopicRecord)
KEEL_METADATA_RECORD(RegisterBrokerRecord)
KEEL_METADATA_RECORD(UnregisterBrokerRecord)
KEEL_METADATA_RECORD(FenceBrokerRecord)
KEEL_METADATA_RECORD(UnfenceBrokerRecord)
KEEL_METADATA_RECORD(BrokerRegistrationChangeRecord)
KEEL_METADATA_RECORD(FeatureLevelRecord)
KEEL_METADATA_RECORD(ClientQuotaRecord)
KEEL_METADATA_RECORD(ProducerIdsRecord)
KEEL_METADATA_RECORD(NoOpRecord)
#undef KEEL_METADATA_RECORD

}  // namespace keel::broker
