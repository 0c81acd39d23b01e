// Keeps the addon's shared library mapped for the life of the process. Node unloads an addon when
// the last environment that loaded it exits (a worker_thread's), but the kernel pool's threads are
// process-wide and run this library's code (a worker polling after a job, the job thread parked
// between jobs): unmapping it under them would crash the process.
#pragma once

#if defined(_WIN32)
#include <windows.h>
#else
#include <dlfcn.h>
#endif

namespace sa {
namespace binding {

inline void keepAddonLoaded() {
  static const bool pinned = [] {
#if defined(_WIN32)
    HMODULE module = nullptr;
    return GetModuleHandleExA(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_PIN,
                              reinterpret_cast<LPCSTR>(&keepAddonLoaded), &module) != 0;
#else
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(&keepAddonLoaded), &info) == 0 || info.dli_fname == nullptr) return false;
    // A second reference that is never closed, and RTLD_NODELETE where closing it would not suffice.
    return dlopen(info.dli_fname, RTLD_NOW | RTLD_NODELETE) != nullptr;
#endif
  }();
  (void)pinned;
}

}  // namespace binding
}  // namespace sa
