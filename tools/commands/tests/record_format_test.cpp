#include <gtest/gtest.h>

#include "commands/record_format.h"

namespace keel::cli {
namespace {

std::string format(std::string_view spec, const FormattedRecord& r) {
  auto f = RecordFormat::parse(spec);
  EXPECT_TRUE(f.ok()) << (f.ok() ? "" : f.error().message);
  std::string out;
  if (f.ok()) f->append(out, r);
  return out;
}

TEST(RecordFormat, EveryDirective) {
  storage::RecordHeader headers[] = {{"a", storage::as_bytes("1")}, {"b", std::nullopt}};
  FormattedRecord r{
      "topic", 3, 42, 1700000000000, storage::as_bytes("key"), storage::as_bytes("value"), headers};
  EXPECT_EQ(format("%k %v %o %p %t %h %T", r), "key value 42 3 1700000000000 a=1,b= topic\n");
  EXPECT_EQ(format("%v", r), "value\n");
  EXPECT_EQ(format("100%%\\t%k\\\\", r), "100%\tkey\\\n");
}

TEST(RecordFormat, NullKeyAndValuePrintNothing) {
  FormattedRecord r{"t", 0, 0, 0, std::nullopt, std::nullopt, {}};
  EXPECT_EQ(format("[%k][%v][%h]", r), "[][][]\n");
}

TEST(RecordFormat, UnknownDirectiveIsAnError) {
  auto f = RecordFormat::parse("%v %x");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message.find("%x"), std::string::npos);
  EXPECT_FALSE(RecordFormat::parse("%v %").ok());
}

}  // namespace
}  // namespace keel::cli
