#pragma once
// Model files: TOML, read once, validated at the boundary. Every value remembers the file and line
// it came from (or the --set option that supplied it), so that any error names file, line and key.
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plexus/core/error.hpp"

namespace plexus::model {

class Node;

// A parsed model file with command-line overrides applied.
class Config {
 public:
  // Reads `file` and applies overrides of the form "dotted.key=value" (value in TOML syntax; a bare
  // word is taken as a string). Throws ConfigError (exit code 2) on any problem.
  static Config load(const std::filesystem::path& file, const std::vector<std::string>& overrides = {});
  // Same, from text; `name` stands for the file name in messages.
  static Config parse(const std::string& text, const std::string& name,
                      const std::vector<std::string>& overrides = {});

  Node root() const;
  // The model file's text and the overrides as given: parsing them again gives the same network
  // (the resolved TOML sorts tables by name, which would renumber projections and inputs).
  const std::string& source_text() const;
  const std::vector<std::string>& overrides() const;
  // The resolved configuration (file plus overrides) as TOML text, keys sorted.
  std::string to_toml() const;
  // Directory that relative file names in the model are resolved against.
  const std::filesystem::path& base_dir() const { return base_dir_; }
  // A config read back from text (a checkpoint) keeps resolving names against its file's directory.
  void set_base_dir(std::filesystem::path dir) { base_dir_ = std::move(dir); }
  const std::string& source_name() const { return source_name_; }
  std::filesystem::path resolve_path(const std::string& p) const;

  // Sets a value (used to record derived facts in the resolved config, e.g. population order).
  void set_string_array(const std::string& dotted_key, const std::vector<std::string>& values);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
  std::filesystem::path base_dir_;
  std::string source_name_;
};

// Allowed range of a number, checked where it is read.
struct Range {
  std::optional<double> min, max;
  bool min_inclusive = true, max_inclusive = true;
  static Range any() { return {}; }
  static Range positive() { return {0.0, std::nullopt, false, true}; }
  static Range non_negative() { return {0.0, std::nullopt, true, true}; }
  static Range closed(double lo, double hi) { return {lo, hi, true, true}; }
  static Range probability() { return {0.0, 1.0, true, true}; }
  bool contains(double v) const;
  std::string describe() const;
};

// A view of one value in the configuration, with its dotted path.
class Node {
 public:
  Node() = default;  // an empty node; only for default-constructed specs that are filled later
  const std::string& path() const { return path_; }
  std::string file() const;
  int line() const;
  bool from_override() const;  // set by a command-line override (--set), not by the file

  bool is_table() const;
  bool is_array() const;
  bool is_string() const;
  bool is_number() const;
  bool is_integer() const;
  bool is_bool() const;
  std::string type_name() const;

  // Conversions; wrong types are ConfigErrors naming this node.
  double as_number(Range r = Range::any()) const;
  std::int64_t as_integer(Range r = Range::any()) const;
  std::string as_string() const;
  bool as_bool() const;
  std::vector<Node> items() const;  // array elements
  std::vector<double> as_number_array(Range r = Range::any()) const;
  std::vector<std::int64_t> as_integer_array(Range r = Range::any()) const;
  std::vector<std::string> as_string_array() const;

  // Table access.
  bool has(std::string_view key) const;
  Node at(std::string_view key) const;  // required key
  std::optional<Node> find(std::string_view key) const;
  std::vector<std::string> keys() const;  // in order of appearance in the file
  // Unknown keys are errors: lists the allowed ones and suggests the nearest.
  void allow_only(std::initializer_list<std::string_view> allowed) const;
  void allow_only(const std::vector<std::string>& allowed) const;

  // Shorthands for table members.
  double number(std::string_view key, Range r = Range::any()) const { return at(key).as_number(r); }
  double number_or(std::string_view key, double def, Range r = Range::any()) const;
  std::int64_t integer(std::string_view key, Range r = Range::any()) const { return at(key).as_integer(r); }
  std::int64_t integer_or(std::string_view key, std::int64_t def, Range r = Range::any()) const;
  std::string string(std::string_view key) const { return at(key).as_string(); }
  std::string string_or(std::string_view key, const std::string& def) const;
  // A string that must be one of `choices`.
  std::string choice(std::string_view key, std::initializer_list<std::string_view> choices,
                     std::optional<std::string> def = std::nullopt) const;
  std::string choice(std::string_view key, const std::vector<std::string>& choices,
                     std::optional<std::string> def = std::nullopt) const;
  bool boolean_or(std::string_view key, bool def) const;

  [[noreturn]] void fail(const std::string& message) const;

  const Config& config() const { return *config_; }

 private:
  friend class Config;
  Node(std::shared_ptr<const Config> cfg, const void* value, std::string path)
      : config_(std::move(cfg)), value_(value), path_(std::move(path)) {}
  std::shared_ptr<const Config> config_;
  const void* value_ = nullptr;  // toml value inside config_
  std::string path_;
};

}  // namespace plexus::model
