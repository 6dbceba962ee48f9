// Stop signals. A signal handler can only talk to the program through a variable of static storage
// duration, so this is the one piece of global mutable state: written by the handler (a single
// store to a sig_atomic_t, which is async-signal-safe) and read by the run between steps.
#include <csignal>

#include "plexus/checkpoint/checkpoint.hpp"

namespace plexus::checkpoint {

namespace {
volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void on_stop_signal(int sig) {
  if (g_stop_signal == 0) g_stop_signal = sig;
}
}  // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // system calls (file and MPI I/O) go on; the run checks the flag
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGUSR1, &sa, nullptr);
}

int stop_signal() {
  return g_stop_signal;
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGTERM:
      return "SIGTERM";
    case SIGUSR1:
      return "SIGUSR1";
    default:
      return "a signal";
  }
}

}  // namespace plexus::checkpoint
