#pragma once
// Failing together: a step that may throw on some ranks only (reading a file, checking a config
// against the local part of the network) is run through agree(), so that every rank throws the
// same error instead of the others waiting for ever in the next collective.
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>

#include "plexus/comm/communicator.hpp"
#include "plexus/core/error.hpp"

namespace plexus::comm {

// Runs `f` on every rank; if it throws on any rank, every rank throws the first failing rank's
// error (a UserError stays a UserError, so the exit code is the same everywhere; a ConfigError keeps
// its file, line and key).
template <class F>
inline void agree(Communicator& comm, F&& f) {
  std::string message;
  int kind = 0;  // 0 ok, 1 user error, 2 other, 3 config error
  try {
    f();
  } catch (const ConfigError& e) {
    message = e.file() + '\n' + std::to_string(e.line()) + '\n' + e.key() + '\n' + e.message();
    kind = 3;
  } catch (const UserError& e) {
    message = e.what();
    kind = 1;
  } catch (const std::exception& e) {
    message = e.what();
    kind = 2;
  }
  const auto kinds = comm.allgather(static_cast<std::uint64_t>(kind));
  int first = -1;
  for (int r = 0; r < comm.size(); ++r)
    if (kinds[static_cast<std::size_t>(r)] != 0) {
      first = r;
      break;
    }
  if (first < 0) return;
  comm.broadcast(message, first);
  if (kinds[static_cast<std::size_t>(first)] == 3) {
    const auto a = message.find('\n'), b = message.find('\n', a + 1), c = message.find('\n', b + 1);
    throw ConfigError(message.substr(0, a), std::stoi(message.substr(a + 1, b - a - 1)),
                      message.substr(b + 1, c - b - 1), message.substr(c + 1));
  }
  if (kinds[static_cast<std::size_t>(first)] == 1) throw UserError(message);
  throw std::runtime_error(message);
}

}  // namespace plexus::comm
