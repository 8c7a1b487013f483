// Control batches (see control_batch.h).

#include "keel/storage/control_batch.h"

#include <string>

#include "bytes.h"

namespace keel::storage {

namespace {

constexpr std::int16_t kControlRecordVersion = 0;
// Control records are tiny and never compressed by Kafka; this bounds a hostile one.
constexpr std::size_t kMaxControlRecordsBytes = 4096;

}  // namespace

std::vector<std::uint8_t> make_control_batch(const ControlMarker& marker) {
  std::vector<std::uint8_t> key;
  detail::put_be<std::int16_t>(key, kControlRecordVersion);
  detail::put_be<std::int16_t>(key, static_cast<std::int16_t>(marker.type));
  std::vector<std::uint8_t> value;
  detail::put_be<std::int16_t>(value, kControlRecordVersion);
  detail::put_be<std::int32_t>(value, marker.coordinator_epoch);
  BatchOptions options;
  options.producer_id = marker.producer_id;
  options.producer_epoch = marker.producer_epoch;
  options.transactional = true;
  options.control = true;
  BatchBuilder builder(options);
  builder.add(marker.timestamp, Bytes(key), Bytes(value));
  auto batch = builder.build();
  // Building an uncompressed batch of one small record cannot fail.
  return batch.ok() ? std::move(*batch) : std::vector<std::uint8_t>{};
}

SResult<ControlRecord> parse_control_batch(Bytes batch) {
  auto reader = RecordReader::open(batch, kMaxControlRecordsBytes);
  if (!reader.ok()) return Fail{reader.error()};
  if (!reader->header().is_control()) return fail(Errc::corrupt_message, "not a control batch");
  auto record = reader->next();
  if (!record.ok()) return Fail{record.error()};
  if (!*record || !(*record)->key || (*record)->key->size() < 4)
    return fail(Errc::corrupt_message, "control batch without a control record key");
  const auto& key = *(*record)->key;
  const auto version = detail::load_be<std::int16_t>(key.data());
  const auto type = detail::load_be<std::int16_t>(key.data() + 2);
  if (version != kControlRecordVersion || (type != 0 && type != 1))
    return fail(Errc::corrupt_message, "unknown control record version " + std::to_string(version) +
                                           " type " + std::to_string(type));
  ControlRecord out;
  out.type = static_cast<ControlType>(type);
  const auto& value = (*record)->value;
  if (value && value->size() >= 6)
    out.coordinator_epoch = detail::load_be<std::int32_t>(value->data() + 2);
  return out;
}

}  // namespace keel::storage
