// The V8 platform isobox's workers run on: V8's default platform, with a page allocator that recycles the memory of
// one isolate's heap for the next.
//
// Every sandbox is a fresh isolate. A fresh isolate takes about nine 256 KiB chunks for its heap and a 64 MiB code
// range for its code space, and gives them back when it is disposed of. From the kernel, each is a new mapping whose
// pages fault in one by one as the isolate is deserialised (about 200 page faults per isolate, each zeroing a page)
// and an `munmap` at the end: a quarter of the CPU time of making and disposing of an isolate. The recycling allocator
// keeps a few freed chunks and code ranges mapped, their written pages zeroed in place, so that the next isolate's
// heap starts on pages that are already there (about 5 page faults per isolate).

#ifndef ISOBOX_V8_PLATFORM_H
#define ISOBOX_V8_PLATFORM_H

#include <v8-platform.h>

#include <memory>

namespace isobox {

// V8's default platform (`v8::platform::NewDefaultPlatform`) under `default_platform`'s tasks and clocks, with the
// recycling page allocator over the default platform's own. Functions of libplatform that take the platform (message
// loop, isolate shutdown) must be given `default_platform`, which stays owned by the caller and must outlive this.
std::unique_ptr<v8::Platform> NewPlatform(v8::Platform *default_platform);

}  // namespace isobox

#endif
