#pragma once

#include <memory>
#include <string>

namespace vitals {

// The daemon (`vitalsd run`): loads the config, arms the scheduler, serves
// HTTP, reloads on SIGHUP, stops on SIGTERM/SIGINT. All the wiring lives here.
class app {
public:
  // `web_config_file`, when not empty, overrides server.web_config_file.
  explicit app(std::string config_path, std::string web_config_file = {});
  ~app();
  app(const app&) = delete;
  app& operator=(const app&) = delete;

  // Runs until stopped. Returns the process exit code: 0 after a clean stop,
  // 1 when it cannot start (port taken), 2 for an invalid config.
  int run();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace vitals
