#include "probes/log/sd_journal_library.hpp"

#include <dlfcn.h>

#include <type_traits>

namespace vitals {

namespace {

struct loaded {
  sd_journal_library functions;
  bool ok = false;
  std::string error;
};

loaded load() {
  loaded result;
  void* handle = ::dlopen(sd_journal_library::file_name, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* text = ::dlerror();
    result.error = std::string("cannot load ") + sd_journal_library::file_name + " (the journal reader): " +
                   (text != nullptr ? text : "unknown error");
    return result;
  }
  bool all = true;
  auto resolve = [&](auto& member, const char* name) {
    member = reinterpret_cast<std::remove_reference_t<decltype(member)>>(::dlsym(handle, name));
    if (member == nullptr && all) {
      all = false;
      result.error = std::string(sd_journal_library::file_name) + " has no " + name;
    }
  };
#define VITALS_SD_JOURNAL_RESOLVE(member, function) resolve(result.functions.member, #function);
  VITALS_SD_JOURNAL_FUNCTIONS(VITALS_SD_JOURNAL_RESOLVE)
#undef VITALS_SD_JOURNAL_RESOLVE
  result.ok = all;
  return result;
}

}  // namespace

const sd_journal_library* sd_journal_library::get(std::string* why) {
  static const loaded library = load();
  if (library.ok) return &library.functions;
  if (why != nullptr) *why = library.error;
  return nullptr;
}

}  // namespace vitals
