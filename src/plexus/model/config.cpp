#include "plexus/model/config.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <sstream>

#include <fmt/format.h>
#include <toml.hpp>

namespace plexus::model {

using Value = toml::basic_value<toml::discard_comments, std::map, std::vector>;

struct Config::Impl {
  Value root;
  std::string text;                    // as read, before overrides
  std::vector<std::string> overrides;  // as given
};

namespace {

constexpr std::string_view kOverridePrefix = "--set ";

const Value& val(const void* p) {
  return *static_cast<const Value*>(p);
}

std::string join_path(const std::string& base, std::string_view key) {
  return base.empty() ? std::string(key) : base + "." + std::string(key);
}

std::string describe_type(const Value& v) {
  switch (v.type()) {
    case toml::value_t::boolean:
      return "a boolean";
    case toml::value_t::integer:
      return "an integer";
    case toml::value_t::floating:
      return "a number";
    case toml::value_t::string:
      return "a string";
    case toml::value_t::array:
      return "an array";
    case toml::value_t::table:
      return "a table";
    case toml::value_t::empty:
      return "nothing";
    default:
      return "a date or time";
  }
}

// Levenshtein distance, for "did you mean" suggestions.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// toml11 reports syntax errors as a multi-line text with " --> file" and " N | line"; extract the
// first line number so that our message leads with file:line like every other config error.
int first_line_in(const std::string& msg) {
  std::istringstream in(msg);
  std::string line;
  while (std::getline(in, line)) {
    const auto bar = line.find(" | ");
    if (bar == std::string::npos) continue;
    const std::string num = line.substr(0, bar);
    const auto first = num.find_first_not_of(' ');
    if (first == std::string::npos) continue;
    try {
      return std::stoi(num.substr(first));
    } catch (...) {
      continue;
    }
  }
  return 0;
}

std::string first_message_line(std::string msg) {
  if (msg.rfind("[error] ", 0) == 0) msg = msg.substr(8);
  const auto nl = msg.find('\n');
  return nl == std::string::npos ? msg : msg.substr(0, nl);
}

// Limits a model text must keep before toml11 sees it: toml11 parses nesting by recursion (thousands
// of nested arrays overflow the stack) and dotted keys in time quadratic in their parts. Model files
// are small; data belongs in HDF5 files. Checked by a scan that knows TOML's strings and comments.
constexpr std::size_t kMaxModelBytes = 16u << 20;
constexpr int kMaxNesting = 64;
constexpr std::size_t kMaxKeyBytes = 1024;
constexpr int kMaxKeyParts = 32;

// TOML is UTF-8. Checked here with a located error, before the parser: toml11 (as Debian 12 ships it)
// reads past its buffer when it reports invalid UTF-8 inside a multi-line literal string (found by
// fuzzing, tests/fuzz).
void check_utf8(const std::string& text, const std::string& name) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  int line = 1;
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < n;) {
    const unsigned c = p[i];
    std::size_t len = 0;
    std::uint32_t cp = 0, min = 0;
    if (c < 0x80) {
      if (c == '\n') {
        ++line;
        line_start = i + 1;
      }
      ++i;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    }
    bool ok = len != 0 && i + len <= n;
    for (std::size_t k = 1; ok && k < len; ++k) {
      ok = (p[i + k] & 0xC0) == 0x80;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    ok = ok && cp >= min && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF);
    if (!ok)
      throw ConfigError(
          name, line, "",
          fmt::format("not valid UTF-8 (byte 0x{:02x} at column {}): model files are UTF-8 text", c,
                      i - line_start + 1));
    i += len;
  }
}

void check_limits(const std::string& text, const std::string& name) {
  if (text.size() > kMaxModelBytes)
    throw ConfigError(name, 0, "",
                      fmt::format("the model text is {} bytes, more than the limit of {} MiB; keep large "
                                  "data (connections, spike trains, trials) in HDF5 files the model names",
                                  text.size(), kMaxModelBytes >> 20));
  int line = 1, depth = 0;
  std::vector<char> open;  // the value brackets open: '[' or '{'
  // Key position: at the start of a line outside values, or after '{' or ',' in an inline table.
  bool key = true;
  std::size_t key_start = 0;
  int dots = 0;
  auto key_done = [&](std::size_t end) {
    if (end - key_start > kMaxKeyBytes)
      throw ConfigError(
          name, line, "",
          fmt::format("a key of {} bytes: keys are limited to {} bytes", end - key_start, kMaxKeyBytes));
    if (dots + 1 > kMaxKeyParts)
      throw ConfigError(
          name, line, "",
          fmt::format("a dotted key of {} parts: keys are limited to {} parts", dots + 1, kMaxKeyParts));
    key = false;
    dots = 0;
  };
  const std::size_t n = text.size();
  for (std::size_t i = 0; i < n; ++i) {
    const char ch = text[i];
    if (ch == '\n') {
      ++line;
      if (depth == 0) {  // the next line starts with a key (or a header)
        key = true;
        key_start = i + 1;
        dots = 0;
      }
      continue;
    }
    if (ch == '#') {  // a comment, to the end of the line
      while (i + 1 < n && text[i + 1] != '\n') ++i;
      continue;
    }
    if (ch == '"' || ch == '\'') {  // strings: basic (escapes) or literal, one line or multi-line
      const bool multi = text.compare(i, 3, std::string(3, ch)) == 0;
      i += multi ? 3 : 1;
      for (; i < n; ++i) {
        if (text[i] == '\n') ++line;
        if (ch == '"' && text[i] == '\\') {
          if (i + 1 < n && text[i + 1] == '\n') ++line;
          ++i;
          continue;
        }
        if (text[i] == ch && (!multi || text.compare(i, 3, std::string(3, ch)) == 0)) {
          if (multi) {
            while (i + 3 < n && text[i + 3] == ch) ++i;  // up to two quotes may end the content
            i += 2;
          }
          break;
        }
      }
      continue;
    }
    if (key) {
      if (depth == 0 && ch == '[' && text.find_first_not_of(" \t", key_start) == i) {
        // A table header, [a.b] or [[a.b]]: a key to its closing bracket.
        std::size_t j = i;
        while (j < n && text[j] != '\n' && text[j] != ']') dots += text[j++] == '.';
        key_start = i;
        key_done(j);
        i = j;
        while (i + 1 < n && text[i + 1] == ']') ++i;
        continue;
      }
      if (ch == '.') ++dots;
      if (ch == '=') key_done(i);
      if (ch == '}' && !open.empty()) {  // an empty inline table, or a trailing comma
        key = false;
        --i;
      }
      continue;
    }
    if (ch == '[' || ch == '{') {
      if (++depth > kMaxNesting)
        throw ConfigError(name, line, "",
                          fmt::format("arrays and inline tables nest more than {} deep", kMaxNesting));
      open.push_back(ch);
      if (ch == '{') {
        key = true;
        key_start = i + 1;
      }
    } else if ((ch == ']' || ch == '}') && depth > 0) {
      --depth;
      open.pop_back();
    } else if (ch == ',' && !open.empty() && open.back() == '{') {
      key = true;
      key_start = i + 1;
    }
  }
}

Value parse_text(const std::string& text, const std::string& name) {
  check_limits(text, name);
  check_utf8(text, name);
  std::istringstream in(text);
  try {
    return toml::parse<toml::discard_comments, std::map, std::vector>(in, name);
  } catch (const toml::syntax_error& e) {
    throw ConfigError(name, first_line_in(e.what()), "",
                      "TOML syntax error: " + first_message_line(e.what()));
  } catch (const std::exception& e) {
    throw ConfigError(name, first_line_in(e.what()), "", first_message_line(e.what()));
  }
}

void apply_override(Value& root, const std::string& item) {
  const std::string where = std::string(kOverridePrefix) + item;
  const auto eq = item.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError(where, 0, "", "expected KEY=VALUE, for example run.duration_ms=500");
  const std::string key = item.substr(0, eq);
  const std::string text = item.substr(eq + 1);
  check_limits(key + " = " + text, where);
  std::vector<std::string> parts;
  {
    std::size_t start = 0;
    for (;;) {
      const auto dot = key.find('.', start);
      parts.push_back(key.substr(start, dot - start));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
  }
  for (const auto& p : parts)
    if (p.empty()) throw ConfigError(where, 0, key, "empty component in the key");

  // The value is TOML ("500", "true", "[1, 2]", "'text'"); a bare word is taken as a string.
  check_utf8(item, where);
  Value parsed;
  try {
    std::istringstream in("value = " + text);
    auto doc = toml::parse<toml::discard_comments, std::map, std::vector>(in, where);
    parsed = doc.as_table().at("value");
  } catch (const std::exception&) {
    std::istringstream in("value = " + toml::format(Value(text)));
    auto doc = toml::parse<toml::discard_comments, std::map, std::vector>(in, where);
    parsed = doc.as_table().at("value");
  }

  Value* cur = &root;
  std::string path;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    path = join_path(path, parts[i]);
    auto& table = cur->as_table();
    auto it = table.find(parts[i]);
    if (it == table.end()) it = table.emplace(parts[i], Value(Value::table_type{})).first;
    if (!it->second.is_table())
      throw ConfigError(where, 0, path,
                        "is " + describe_type(it->second) + ", not a table, so '" + key + "' cannot be set");
    cur = &it->second;
  }
  auto& table = cur->as_table();
  auto it = table.find(parts.back());
  if (it != table.end() && it->second.is_table() && !parsed.is_table())
    throw ConfigError(where, 0, key, "is a table; set one of its keys instead");
  table[parts.back()] = parsed;
}

void check_numeric(const Node& n, double v, const Range& r) {
  if (!std::isfinite(v)) n.fail("must be a finite number");
  if (!r.contains(v)) n.fail(fmt::format("{} is out of range: must be {}", v, r.describe()));
}

}  // namespace

// ----------------------------------------------------------------------------------------------
bool Range::contains(double v) const {
  if (min && (min_inclusive ? v < *min : v <= *min)) return false;
  if (max && (max_inclusive ? v > *max : v >= *max)) return false;
  return true;
}

std::string Range::describe() const {
  if (min && max)
    return fmt::format("in {}{}, {}{}", min_inclusive ? "[" : "(", *min, *max, max_inclusive ? "]" : ")");
  if (min) return fmt::format("{} {}", min_inclusive ? ">=" : ">", *min);
  if (max) return fmt::format("{} {}", max_inclusive ? "<=" : "<", *max);
  return "finite";
}

// ----------------------------------------------------------------------------------------------
Config Config::load(const std::filesystem::path& file, const std::vector<std::string>& overrides) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError(file.string(), 0, "", "cannot open the model file (does it exist?)");
  std::ostringstream text;
  text << in.rdbuf();
  Config c = parse(text.str(), file.string(), overrides);
  c.base_dir_ = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
  return c;
}

Config Config::parse(const std::string& text, const std::string& name,
                     const std::vector<std::string>& overrides) {
  Config c;
  c.impl_ = std::make_shared<Impl>();
  c.impl_->root = parse_text(text, name);
  for (const auto& o : overrides) apply_override(c.impl_->root, o);
  c.impl_->text = text;
  c.impl_->overrides = overrides;
  c.base_dir_ = ".";
  c.source_name_ = name;
  return c;
}

Node Config::root() const {
  return Node(std::make_shared<const Config>(*this), &impl_->root, "");
}

const std::string& Config::source_text() const {
  return impl_->text;
}

const std::vector<std::string>& Config::overrides() const {
  return impl_->overrides;
}

std::string Config::to_toml() const {
  return toml::format(impl_->root);
}

std::filesystem::path Config::resolve_path(const std::string& p) const {
  std::filesystem::path path(p);
  return path.is_absolute() ? path : base_dir_ / path;
}

void Config::set_string_array(const std::string& dotted_key, const std::vector<std::string>& values) {
  std::string item = dotted_key + "=[";
  for (std::size_t i = 0; i < values.size(); ++i) item += (i ? ", " : "") + toml::format(Value(values[i]));
  item += "]";
  apply_override(impl_->root, item);
}

// ----------------------------------------------------------------------------------------------
std::string Node::file() const {
  const auto loc = val(value_).location();
  std::string f = loc.file_name();
  if (f == "unknown file") f = config_->source_name();
  return f;
}

bool Node::from_override() const {
  return val(value_).location().file_name().rfind(kOverridePrefix, 0) == 0;
}

int Node::line() const {
  const auto loc = val(value_).location();
  if (loc.file_name().rfind(kOverridePrefix, 0) == 0) return 0;
  if (loc.file_name() == "unknown file") return 0;
  return static_cast<int>(loc.line());
}

bool Node::is_table() const {
  return val(value_).is_table();
}
bool Node::is_array() const {
  return val(value_).is_array();
}
bool Node::is_string() const {
  return val(value_).is_string();
}
bool Node::is_number() const {
  return val(value_).is_integer() || val(value_).is_floating();
}
bool Node::is_integer() const {
  return val(value_).is_integer();
}
bool Node::is_bool() const {
  return val(value_).is_boolean();
}
std::string Node::type_name() const {
  return describe_type(val(value_));
}

void Node::fail(const std::string& message) const {
  throw ConfigError(file(), line(), path_, message);
}

double Node::as_number(Range r) const {
  const Value& v = val(value_);
  double x = 0;
  if (v.is_integer())
    x = static_cast<double>(v.as_integer());
  else if (v.is_floating())
    x = v.as_floating();
  else
    fail("expected a number, found " + type_name());
  check_numeric(*this, x, r);
  return x;
}

std::int64_t Node::as_integer(Range r) const {
  const Value& v = val(value_);
  std::int64_t x = 0;
  if (v.is_integer()) {
    x = v.as_integer();
  } else if (v.is_floating() && std::floor(v.as_floating()) == v.as_floating() &&
             std::fabs(v.as_floating()) < 9.0e15) {
    x = static_cast<std::int64_t>(v.as_floating());
  } else {
    fail("expected an integer, found " + type_name());
  }
  check_numeric(*this, static_cast<double>(x), r);
  return x;
}

std::string Node::as_string() const {
  if (!val(value_).is_string()) fail("expected a string, found " + type_name());
  return val(value_).as_string().str;
}

bool Node::as_bool() const {
  if (!val(value_).is_boolean()) fail("expected true or false, found " + type_name());
  return val(value_).as_boolean();
}

std::vector<Node> Node::items() const {
  if (!val(value_).is_array()) fail("expected an array, found " + type_name());
  std::vector<Node> out;
  const auto& arr = val(value_).as_array();
  for (std::size_t i = 0; i < arr.size(); ++i)
    out.push_back(Node(config_, &arr[i], fmt::format("{}[{}]", path_, i)));
  return out;
}

std::vector<double> Node::as_number_array(Range r) const {
  std::vector<double> out;
  for (const auto& n : items()) out.push_back(n.as_number(r));
  return out;
}

std::vector<std::int64_t> Node::as_integer_array(Range r) const {
  std::vector<std::int64_t> out;
  for (const auto& n : items()) out.push_back(n.as_integer(r));
  return out;
}

std::vector<std::string> Node::as_string_array() const {
  std::vector<std::string> out;
  for (const auto& n : items()) out.push_back(n.as_string());
  return out;
}

bool Node::has(std::string_view key) const {
  const Value& v = val(value_);
  return v.is_table() && v.as_table().count(std::string(key)) > 0;
}

std::optional<Node> Node::find(std::string_view key) const {
  const Value& v = val(value_);
  if (!v.is_table()) fail("expected a table, found " + type_name());
  const auto& t = v.as_table();
  auto it = t.find(std::string(key));
  if (it == t.end()) return std::nullopt;
  return Node(config_, &it->second, join_path(path_, key));
}

Node Node::at(std::string_view key) const {
  auto n = find(key);
  if (!n) throw ConfigError(file(), line(), join_path(path_, key), "required key is missing");
  return *n;
}

std::vector<std::string> Node::keys() const {
  const Value& v = val(value_);
  if (!v.is_table()) fail("expected a table, found " + type_name());
  struct Entry {
    bool from_override;
    int line;
    int column;
    std::string key;
  };
  std::vector<Entry> entries;
  for (const auto& [k, x] : v.as_table()) {
    const auto loc = x.location();
    const bool ovr = loc.file_name().rfind(kOverridePrefix, 0) == 0 || loc.file_name() == "unknown file";
    entries.push_back(
        {ovr, ovr ? 0 : static_cast<int>(loc.line()), ovr ? 0 : static_cast<int>(loc.column()), k});
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    if (a.from_override != b.from_override) return !a.from_override;
    if (a.line != b.line) return a.line < b.line;
    if (a.column != b.column) return a.column < b.column;
    return a.key < b.key;
  });
  std::vector<std::string> out;
  out.reserve(entries.size());
  for (auto& e : entries) out.push_back(std::move(e.key));
  return out;
}

void Node::allow_only(std::initializer_list<std::string_view> allowed) const {
  allow_only(std::vector<std::string>(allowed.begin(), allowed.end()));
}

void Node::allow_only(const std::vector<std::string>& allowed) const {
  for (const auto& k : keys()) {
    if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) continue;
    std::string best;
    std::size_t best_d = std::numeric_limits<std::size_t>::max();
    for (const auto& a : allowed) {
      const auto d = edit_distance(k, a);
      if (d < best_d) best_d = d, best = a;
    }
    std::string msg = "unknown key";
    if (!best.empty() && best_d <= std::max<std::size_t>(2, k.size() / 3))
      msg += fmt::format(" (did you mean '{}'?)", best);
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    msg += "; allowed here: " + (list.empty() ? std::string("none") : list);
    at(k).fail(msg);
  }
}

double Node::number_or(std::string_view key, double def, Range r) const {
  auto n = find(key);
  return n ? n->as_number(r) : def;
}

std::int64_t Node::integer_or(std::string_view key, std::int64_t def, Range r) const {
  auto n = find(key);
  return n ? n->as_integer(r) : def;
}

std::string Node::string_or(std::string_view key, const std::string& def) const {
  auto n = find(key);
  return n ? n->as_string() : def;
}

bool Node::boolean_or(std::string_view key, bool def) const {
  auto n = find(key);
  return n ? n->as_bool() : def;
}

std::string Node::choice(std::string_view key, std::initializer_list<std::string_view> choices,
                         std::optional<std::string> def) const {
  return choice(key, std::vector<std::string>(choices.begin(), choices.end()), std::move(def));
}

std::string Node::choice(std::string_view key, const std::vector<std::string>& choices,
                         std::optional<std::string> def) const {
  auto n = find(key);
  if (!n) {
    if (def) return *def;
    at(key);  // throws "required key is missing"
  }
  std::string s = n->as_string();
  for (const auto& c : choices)
    if (s == c) return s;
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
  n->fail(fmt::format("'{}' is not one of: {}", s, list));
}

}  // namespace plexus::model
