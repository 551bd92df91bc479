#pragma once

// Builds one probe kind from the first entry of a `probes:` list, the way
// the config loader hands it over: a node_reader at path "probes[0]".

#include "probes/core/node_reader.hpp"
#include "probes/core/probe.hpp"
#include "probes/core/probe_registry.hpp"
#include "probes/core/probe_settings.hpp"
#include "probes/core/secrets.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <memory>
#include <string>

namespace vitals::test {

template <class Probe>
class probe_config_fixture : public ::testing::Test {
protected:
  asio::io_context io;
  asio::thread_pool pool{1};
  probe_context ctx{io, pool};
  diagnostics diags{"vitals.yaml"};
  std::unique_ptr<probe> built;

  // Reads and then builds the probe, as a full load does. Returns it (null
  // on errors); diags holds the errors.
  Probe* create(const std::string& yaml) { return create_with(yaml, probe_settings{}); }

  // The same with the common settings (interval, timeout) the loader read.
  Probe* create_with(const std::string& yaml, const probe_settings& common) {
    root_ = YAML::Load(yaml);
    substitute_secrets(root_, diags);
    node_reader reader(root_["probes"][0], "probes[0]", diags);
    reader.known({"name", "type"});  // the caller's keys
    auto build = Probe::create(common, reader);
    reader.finish();
    built = build ? build(ctx) : nullptr;
    return static_cast<Probe*>(built.get());
  }

  // The only error, as printed: "vitals.yaml:4:11: probes[0].port: ...".
  std::string only_error() const {
    if (diags.errors().size() != 1) {
      std::string all;
      for (const auto& e : diags.errors()) all += e.str() + "\n";
      return "expected exactly one error, got " + std::to_string(diags.errors().size()) + ":\n" + all;
    }
    return diags.errors().front().str();
  }

private:
  YAML::Node root_;
};

}  // namespace vitals::test
