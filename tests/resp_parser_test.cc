// The Redis protocol library: request parsing (whole, split at every byte,
// pipelined, malformed), reply encodings in RESP2 and RESP3, key slots and
// the command table.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "resp/command_table.h"
#include "resp/glob.h"
#include "resp/key_slot.h"
#include "resp/reply_writer.h"
#include "resp/request_parser.h"

namespace cv::resp {
namespace {

class ParserTest : public ::testing::Test {
 protected:
  // Parses every command of `in`; the result of the last call is kept.
  std::vector<std::vector<std::string>> ParseAll(std::string_view in) {
    std::vector<std::vector<std::string>> out;
    std::vector<std::string_view> args;
    while (true) {
      size_t used = 0;
      last_ = parser_.parse(in, &used, &args);
      if (last_ == ParseResult::kOk) out.emplace_back(args.begin(), args.end());
      if (last_ != ParseResult::kOk && last_ != ParseResult::kEmpty) return out;
      in.remove_prefix(used);
    }
  }
  // Feeds `in` one byte at a time, as a slow peer would send it.
  std::vector<std::vector<std::string>> ParseByteByByte(std::string_view in) {
    std::vector<std::vector<std::string>> out;
    std::string buf;
    std::vector<std::string_view> args;
    for (char c : in) {
      buf.push_back(c);
      while (true) {
        size_t used = 0;
        last_ = parser_.parse(buf, &used, &args);
        if (last_ == ParseResult::kOk) out.emplace_back(args.begin(), args.end());
        if (last_ != ParseResult::kOk && last_ != ParseResult::kEmpty) break;
        buf.erase(0, used);
      }
    }
    return out;
  }
  ParserLimits limits_;
  RequestParser parser_{limits_};
  ParseResult last_ = ParseResult::kPending;
};

using Cmds = std::vector<std::vector<std::string>>;

TEST_F(ParserTest, MultibulkCommand) {
  EXPECT_EQ(ParseAll("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n"), (Cmds{{"SET", "k", "hello"}}));
  EXPECT_EQ(last_, ParseResult::kPending);
}

TEST_F(ParserTest, BinaryValuesWithZeroBytesAndLineBreaks) {
  const std::string v("a\0\r\nb", 5);
  EXPECT_EQ(ParseAll("*2\r\n$4\r\nECHO\r\n$5\r\n" + v + "\r\n"), (Cmds{{"ECHO", v}}));
}

TEST_F(ParserTest, PipelinedCommandsSplitAtEveryByte) {
  const std::string in = "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$0\r\n\r\nPING x\r\n*0\r\n*1\r\n$4\r\nTIME\r\n";
  const Cmds want{{"PING"}, {"GET", ""}, {"PING", "x"}, {"TIME"}};
  EXPECT_EQ(ParseAll(in), want);
  EXPECT_EQ(ParseByteByByte(in), want);
}

TEST_F(ParserTest, InlineCommandsWithQuotes) {
  EXPECT_EQ(ParseAll("set k \"a b\\x41\\n\"\r\n"), (Cmds{{"set", "k", "a bA\n"}}));
  EXPECT_EQ(ParseAll("echo 'it\\'s'\n"), (Cmds{{"echo", "it's"}}));
  EXPECT_EQ(ParseAll("\r\n\n"), Cmds{});
  EXPECT_EQ(last_, ParseResult::kPending);
}

TEST_F(ParserTest, UnbalancedQuotesIsAnError) {
  ParseAll("set k \"abc\r\n");
  EXPECT_EQ(last_, ParseResult::kUnbalancedQuotes);
  EXPECT_EQ(parser_.error_text(last_, ""), "ERR Protocol error: unbalanced quotes in request");
}

TEST_F(ParserTest, PendingReportsTheBytesTheBulkNeeds) {
  std::vector<std::string_view> args;
  size_t used = 0;
  const std::string head = "*2\r\n$3\r\nSET\r\n$100\r\nabc";
  EXPECT_EQ(parser_.parse(head, &used, &args), ParseResult::kPending);
  EXPECT_EQ(used, 0u);
  EXPECT_EQ(parser_.wanted(), std::string("*2\r\n$3\r\nSET\r\n$100\r\n").size() + 102);
}

TEST_F(ParserTest, MalformedHeadersGetRedisErrors) {
  struct Case {
    std::string in;
    ParseResult want;
    std::string text;
  };
  const std::vector<Case> cases{
      {"*x\r\n", ParseResult::kBadArrayLen, "ERR Protocol error: invalid multibulk length"},
      {"*99999999999\r\n", ParseResult::kBadArrayLen, "ERR Protocol error: invalid multibulk length"},
      {"*1\r\n$-3\r\n", ParseResult::kBadBulkLen, "ERR Protocol error: invalid bulk length"},
      {"*1\r\n$abc\r\n", ParseResult::kBadBulkLen, "ERR Protocol error: invalid bulk length"},
      {"*1\r\n:3\r\n", ParseResult::kExpectedBulk, "ERR Protocol error: expected '$', got ':'"},
  };
  for (const auto& c : cases) {
    ParseAll(c.in);
    EXPECT_EQ(last_, c.want) << c.in;
    EXPECT_EQ(parser_.error_text(last_, c.in), c.text) << c.in;
  }
}

TEST(ParserLimitsTest, DeclaredSizesAboveTheLimitsFailAtTheHeader) {
  ParserLimits l;
  l.max_array_len = 4;
  l.max_bulk_len = 10;
  l.max_request_bytes = 40;
  l.max_inline_len = 16;
  RequestParser p(l);
  std::vector<std::string_view> args;
  size_t used = 0;
  EXPECT_EQ(p.parse("*5\r\n", &used, &args), ParseResult::kBadArrayLen);
  EXPECT_EQ(p.parse("*1\r\n$11\r\n", &used, &args), ParseResult::kBadBulkLen);
  EXPECT_EQ(p.parse("*4\r\n$10\r\n0123456789\r\n$10\r\n0123456789\r\n$10\r\n", &used, &args),
            ParseResult::kTooBigRequest);
  // A header or inline line that never ends is refused once past the limit.
  EXPECT_EQ(p.parse("*11111111111111111111111", &used, &args), ParseResult::kTooBigCount);
  EXPECT_EQ(p.parse(std::string(17, 'a'), &used, &args), ParseResult::kTooBigInline);
  EXPECT_EQ(p.parse(std::string(16, 'a'), &used, &args), ParseResult::kPending);
}

TEST(ReplyWriterTest, Resp2Encodings) {
  std::string out;
  ReplyWriter w(&out, 2);
  w.ok();
  w.error("ERR bad\r\nthing");
  w.integer(-7);
  w.bulk("hi");
  w.null();
  w.null_array();
  w.map(1);
  w.bulk("k");
  w.dbl(1.5);
  w.boolean(true);
  EXPECT_EQ(out, "+OK\r\n-ERR bad  thing\r\n:-7\r\n$2\r\nhi\r\n$-1\r\n*-1\r\n*2\r\n$1\r\nk\r\n$3\r\n1.5\r\n:1\r\n");
}

TEST(ReplyWriterTest, Resp3Encodings) {
  std::string out;
  ReplyWriter w(&out, 3);
  w.null();
  w.map(1);
  w.set(0);
  w.dbl(2.25);
  w.boolean(false);
  w.verbatim("ab");
  EXPECT_EQ(out, "_\r\n%1\r\n~0\r\n,2.25\r\n#f\r\n=6\r\ntxt:ab\r\n");
}

TEST(KeySlotTest, MatchesRedisClusterSpecification) {
  // The specification's check value, and slots Redis's CLUSTER KEYSLOT gives.
  EXPECT_EQ(crc16("123456789"), 0x31C3);
  EXPECT_EQ(key_slot("foo"), 12182u);
  EXPECT_EQ(key_slot("bar"), 5061u);
  EXPECT_EQ(key_slot(""), 0u);
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
  EXPECT_EQ(key_slot("foo{}{bar}"), key_slot("foo{}{bar}"));
  EXPECT_NE(key_slot("foo{}{bar}"), key_slot("bar"));  // an empty tag hashes the whole key
  EXPECT_EQ(key_slot("foo{{bar}}zap"), key_slot("{bar"));
  EXPECT_EQ(key_slot("foo{bar}{zap}"), key_slot("bar"));
}

// The keys of `keys` that `pattern` matches, in order.
std::vector<std::string> Matching(std::string_view pattern, const std::vector<std::string>& keys) {
  std::vector<std::string> out;
  for (const auto& k : keys)
    if (glob_match(pattern, k)) out.push_back(k);
  return out;
}

TEST(GlobTest, AnswersAsRedisKeysDoes) {
  // Each expectation is what redis-server 7.0's KEYS answered for them.
  const std::vector<std::string> keys{"a", "^", "]", "-", "b", "ab", "a*", "A", "\\"};
  using V = std::vector<std::string>;
  EXPECT_EQ(Matching("[a-]", keys), (V{"a", "^", "]"}));  // a range from ']' to 'a'
  EXPECT_EQ(Matching("[]-a]", keys), V{});
  EXPECT_EQ(Matching("[\\]]", keys), V{"]"});
  EXPECT_EQ(Matching("[a", keys), V{"a"});  // an open class runs to the end
  EXPECT_EQ(Matching("[^a]", keys), (V{"^", "]", "-", "b", "A", "\\"}));
  EXPECT_EQ(Matching("a\\*", keys), V{"a*"});
  EXPECT_EQ(Matching("\\", keys), V{"\\"});
  EXPECT_EQ(Matching("a\\", keys), V{});
  EXPECT_EQ(Matching("[A-a]", keys), (V{"a", "^", "]", "A", "\\"}));
  EXPECT_EQ(Matching("[-]", keys), V{"-"});
  EXPECT_EQ(Matching("[b-a]", keys), (V{"a", "b"}));
  EXPECT_EQ(Matching("[\\a-z]", keys), (V{"a", "-"}));
  EXPECT_EQ(Matching("??", keys), (V{"ab", "a*"}));
  EXPECT_EQ(Matching("a[", keys), V{});
  EXPECT_EQ(Matching("*[", keys), V{});
  EXPECT_EQ(Matching("a*", keys), (V{"a", "ab", "a*"}));
  EXPECT_TRUE(glob_match("x*a*y", "xaaaaaaaaaaaaaaay"));
  EXPECT_TRUE(glob_match("SAVE", "save", true));
}

TEST(GlobTest, ManyStarsThatCannotMatchGiveUpAtOnce) {
  // Without Redis's cut-off this takes exponential time (minutes at 20
  // stars); with it, each star tries each position once.
  std::string pattern;
  for (int i = 0; i < 40; ++i) pattern += "*a";
  pattern += "*b";
  EXPECT_FALSE(glob_match(pattern, std::string(200, 'a')));
  EXPECT_TRUE(glob_match(pattern, std::string(200, 'a') + "b"));
  // A pattern of more stars than the recursion allows is refused, not a crash.
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "*a";
  EXPECT_FALSE(glob_match(deep, std::string(2000, 'a')));
}

TEST(CommandTableTest, LooksUpAnyCaseAndChecksArity) {
  const CommandSpec* get = find_command("GeT");
  ASSERT_NE(get, nullptr);
  EXPECT_EQ(get->cmd, Cmd::kGet);
  EXPECT_TRUE(arity_ok(*get, 2));
  EXPECT_FALSE(arity_ok(*get, 3));
  EXPECT_EQ(find_command("nosuch"), nullptr);
  const CommandSpec* set = find_command("set");
  EXPECT_TRUE(arity_ok(*set, 5));
  EXPECT_FALSE(arity_ok(*set, 2));
}

TEST(CommandTableTest, KeyPositionsFollowFirstLastStep) {
  EXPECT_EQ(key_positions(*find_command("mset"), 7), (std::vector<size_t>{1, 3, 5}));
  EXPECT_EQ(key_positions(*find_command("mget"), 4), (std::vector<size_t>{1, 2, 3}));
  EXPECT_EQ(key_positions(*find_command("set"), 5), (std::vector<size_t>{1}));
  EXPECT_TRUE(key_positions(*find_command("ping"), 2).empty());
}

TEST(CommandTableTest, EveryNameIsUniqueAndLowerCase) {
  for (const auto& c : all_commands()) {
    EXPECT_EQ(find_command(c.name), &c);
    for (char ch : c.name) EXPECT_TRUE(ch >= 'a' && ch <= 'z') << c.name;
  }
}

}  // namespace
}  // namespace cv::resp
