#include "config_value.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

namespace keel::broker::detail {
namespace {

using Kind = Problem::Kind;

Result<Value, Problem> refuse(Kind kind, std::string_view value, std::string detail = {}) {
  return Fail{Problem{kind, std::string(value), std::move(detail)}};
}

/// Drops a leading '+' (Java accepts one; from_chars does not); false for "+" and "+-1".
bool strip_plus(std::string_view& s) {
  if (s.empty() || s.front() != '+') return true;
  s.remove_prefix(1);
  return !s.empty() && s.front() != '+' && s.front() != '-';
}

/// Java's Long.parseLong: an optional sign, then ASCII digits only.
std::optional<std::int64_t> parse_long(std::string_view s) {
  if (!strip_plus(s)) return std::nullopt;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

/// Double.parseDouble, minus the forms nobody writes in a config (hex, "Infinity", NaN).
std::optional<double> parse_double(std::string_view s) {
  if (!strip_plus(s)) return std::nullopt;
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) {
    return std::nullopt;
  }
  return v;
}

std::int64_t type_min(ConfigType t) {
  if (t == ConfigType::int_) return std::numeric_limits<std::int32_t>::min();
  if (t == ConfigType::short_) return std::numeric_limits<std::int16_t>::min();
  return kMinLong;
}

std::int64_t type_max(ConfigType t) {
  if (t == ConfigType::int_) return kMaxInt;
  if (t == ConfigType::short_) return std::numeric_limits<std::int16_t>::max();
  return kMaxLong;
}

Result<Value, Problem> parse_integer(const Spec& spec, Value v) {
  auto n = parse_long(v.text);
  if (!n) return refuse(Kind::not_number, v.text);
  if (*n < type_min(spec.type)) {
    return refuse(Kind::type_range, v.text, "at least " + std::to_string(type_min(spec.type)));
  }
  if (*n > type_max(spec.type)) {
    return refuse(Kind::type_range, v.text, "at most " + std::to_string(type_max(spec.type)));
  }
  if (*n < spec.min) return refuse(Kind::below_min, v.text, std::to_string(spec.min));
  if (*n > spec.max) return refuse(Kind::above_max, v.text, std::to_string(spec.max));
  v.number = *n;
  return v;
}

Result<Value, Problem> parse_real(const Spec& spec, Value v) {
  auto d = parse_double(v.text);
  if (!d) return refuse(Kind::not_number, v.text);
  if (*d < static_cast<double>(spec.min)) {
    return refuse(Kind::below_min, v.text, std::to_string(spec.min));
  }
  if (*d > static_cast<double>(spec.max)) {
    return refuse(Kind::above_max, v.text, std::to_string(spec.max));
  }
  v.real = *d;
  return v;
}

Result<Value, Problem> parse_boolean(Value v) {
  std::string lower = v.text;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower != "true" && lower != "false") return refuse(Kind::not_boolean, v.text);
  v.flag = lower == "true";
  return v;
}

bool allowed(const Spec& spec, std::string_view s) {
  return spec.one_of.empty() ||
         std::find(spec.one_of.begin(), spec.one_of.end(), s) != spec.one_of.end();
}

std::string_view kafka_type_name(ConfigType t) {
  switch (t) {
    case ConfigType::int_:
      return "INT";
    case ConfigType::short_:
      return "SHORT";
    case ConfigType::double_:
      return "DOUBLE";
    default:
      return "LONG";
  }
}

}  // namespace

Spec boolean_spec() {
  return Spec{.type = ConfigType::boolean};
}
Spec string_spec(std::vector<std::string_view> one_of) {
  return Spec{.type = ConfigType::string, .one_of = std::move(one_of)};
}
Spec list_spec(std::vector<std::string_view> one_of) {
  return Spec{.type = ConfigType::list, .one_of = std::move(one_of)};
}
Spec int_spec(std::int64_t min, std::int64_t max) {
  return Spec{.type = ConfigType::int_, .min = min, .max = max};
}
Spec short_spec(std::int64_t min) {
  return Spec{.type = ConfigType::short_, .min = min};
}
Spec long_spec(std::int64_t min) {
  return Spec{.type = ConfigType::long_, .min = min};
}
Spec double_spec(std::int64_t min, std::int64_t max) {
  return Spec{.type = ConfigType::double_, .min = min, .max = max};
}

namespace {

/// Kafka 3.8's MetadataVersion values, oldest first: the release of each ("3.0") is also a
/// valid version string (the release's latest IV).
constexpr std::string_view kMetadataVersions[] = {
    "0.8.0",      "0.8.1",      "0.8.2",      "0.9.0",      "0.10.0-IV0", "0.10.0-IV1",
    "0.10.1-IV0", "0.10.1-IV1", "0.10.1-IV2", "0.10.2-IV0", "0.11.0-IV0", "0.11.0-IV1",
    "0.11.0-IV2", "1.0-IV0",    "1.1-IV0",    "2.0-IV0",    "2.0-IV1",    "2.1-IV0",
    "2.1-IV1",    "2.1-IV2",    "2.2-IV0",    "2.2-IV1",    "2.3-IV0",    "2.3-IV1",
    "2.4-IV0",    "2.4-IV1",    "2.5-IV0",    "2.6-IV0",    "2.7-IV0",    "2.7-IV1",
    "2.7-IV2",    "2.8-IV0",    "2.8-IV1",    "3.0-IV0",    "3.0-IV1",    "3.1-IV0",
    "3.2-IV0",    "3.3-IV0",    "3.3-IV1",    "3.3-IV2",    "3.3-IV3",    "3.4-IV0",
    "3.5-IV0",    "3.5-IV1",    "3.5-IV2",    "3.6-IV0",    "3.6-IV1",    "3.6-IV2",
    "3.7-IV0",    "3.7-IV1",    "3.7-IV2",    "3.7-IV3",    "3.7-IV4",    "3.8-IV0",
};

std::string check_metadata_version(std::string_view, std::string_view text) {
  // fromVersionString: the first three dot-separated parts for 0.x, two otherwise.
  // Java's split drops trailing empty parts, so "2.8." stays whole (and invalid).
  const std::size_t parts = text.starts_with("0.") ? 3 : 2;
  std::string_view counted = text;
  while (counted.ends_with('.')) counted.remove_suffix(1);
  std::size_t cut = std::string_view::npos;
  for (std::size_t i = 0, from = 0; i < parts; ++i, from = cut + 1)
    if ((cut = counted.find('.', from)) == std::string_view::npos) break;
  const std::string_view key = cut == std::string_view::npos ? text : text.substr(0, cut);
  for (std::string_view v : kMetadataVersions)
    if (key == v || key == v.substr(0, v.find("-IV"))) return "";
  return "Version " + std::string(text) + " is not a valid version";
}

}  // namespace

Spec metadata_version_spec() {
  return Spec{.type = ConfigType::string, .check = check_metadata_version};
}

Result<Value, Problem> parse_value(const Spec& spec, std::string_view name, std::string_view text) {
  Value v;
  v.text = std::string(trim(text));
  switch (spec.type) {
    case ConfigType::int_:
    case ConfigType::short_:
    case ConfigType::long_:
      return parse_integer(spec, std::move(v));
    case ConfigType::double_:
      return parse_real(spec, std::move(v));
    case ConfigType::boolean:
      return parse_boolean(std::move(v));
    case ConfigType::list:
      v.items = split_list(v.text);
      for (const auto& item : v.items) {
        if (!allowed(spec, item)) return refuse(Kind::not_one_of, item);
      }
      break;
    default:
      if (!allowed(spec, v.text)) return refuse(Kind::not_one_of, v.text);
      break;
  }
  if (spec.check) {
    if (auto reason = spec.check(name, v.text); !reason.empty()) {
      return refuse(Kind::custom, v.text, std::move(reason));
    }
  }
  return v;
}

std::string kafka_message(std::string_view name, const Spec& spec, const Problem& p) {
  std::string reason;
  switch (p.kind) {
    case Kind::not_number:
    case Kind::type_range:
      reason = "Not a number of type " + std::string(kafka_type_name(spec.type));
      break;
    case Kind::not_boolean:
      reason = "Expected value to be either true or false";
      break;
    case Kind::below_min:
      reason = "Value must be at least " + p.detail;
      break;
    case Kind::above_max:
      reason = "Value must be no more than " + p.detail;
      break;
    case Kind::not_one_of:
      reason = "String must be one of: " + join(spec.one_of, ", ");
      break;
    case Kind::custom:
      reason = p.detail;
      break;
  }
  return "Invalid value " + p.value + " for configuration " + std::string(name) + ": " + reason;
}

std::string keel_message(std::string_view key, const Spec& spec, const Problem& p) {
  std::string what;
  const std::string quoted = "'" + p.value + "'";
  switch (p.kind) {
    case Kind::not_number:
      what =
          quoted + (spec.type == ConfigType::double_ ? " is not a number" : " is not an integer");
      break;
    case Kind::type_range:
      what = p.value + " (must be " + p.detail + ")";
      break;
    case Kind::not_boolean:
      what = quoted + " is not a boolean (true or false)";
      break;
    case Kind::below_min:
      what = p.value + " (must be at least " + p.detail + ")";
      break;
    case Kind::above_max:
      what = p.value + " (must be at most " + p.detail + ")";
      break;
    case Kind::not_one_of:
      what = quoted + " (must be one of: " + join(spec.one_of, ", ") + ")";
      break;
    case Kind::custom:
      what = quoted + " (" + p.detail + ")";
      break;
  }
  return "invalid value for " + std::string(key) + ": " + what;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && static_cast<unsigned char>(s.front()) <= ' ') s.remove_prefix(1);
  while (!s.empty() && static_cast<unsigned char>(s.back()) <= ' ') s.remove_suffix(1);
  return s;
}

std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> items;
  s = trim(s);
  if (s.empty()) return items;
  for (std::size_t start = 0;;) {
    std::size_t comma = s.find(',', start);
    items.emplace_back(trim(s.substr(start, comma - start)));
    if (comma == std::string_view::npos) return items;
    start = comma + 1;
  }
}

std::string join(const std::vector<std::string_view>& items, std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += separator;
    out += items[i];
  }
  return out;
}

}  // namespace keel::broker::detail
