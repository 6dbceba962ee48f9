#pragma once
// Errors that reach the user. A UserError is the user's to fix (bad model file, missing input file,
// bad command line) and ends the program with exit code 2; anything else is a failure of the run.
#include <stdexcept>
#include <string>

namespace plexus {

class UserError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A problem in a model file or a --set override, located by file, line and dotted key.
class ConfigError : public UserError {
 public:
  ConfigError(std::string file, int line, std::string key, const std::string& message)
      : UserError(format(file, line, key, message)),
        file_(std::move(file)),
        line_(line),
        key_(std::move(key)),
        message_(message) {}
  const std::string& file() const { return file_; }
  int line() const { return line_; }
  const std::string& key() const { return key_; }
  const std::string& message() const { return message_; }  // without the location

 private:
  static std::string format(const std::string& file, int line, const std::string& key,
                            const std::string& message) {
    // Appends only: GCC 12 reports a false -Wrestrict for "'" + key + "': " once this is inlined.
    std::string out = file;
    if (line > 0) {
      out += ':';
      out += std::to_string(line);
    }
    out += ": ";
    if (!key.empty()) {
      out += '\'';
      out += key;
      out += "': ";
    }
    out += message;
    return out;
  }
  std::string file_;
  int line_;
  std::string key_;
  std::string message_;
};

}  // namespace plexus
