// isobox's binding to V8: one fresh isolate and context per sandbox, behind the C interface in isobox_v8.h.
//
// Written against V8 10.2 as shipped in Debian 12's libnode108 (plain ABI: no pointer compression, no V8 sandbox).
// Limits are enforced here only as far as the engine must take part: the heap limit and the ArrayBuffer budget report
// to the host, which decides to stop the program; the stack limit is set at the start of each program. Termination
// itself (deadline, output, memory, capability limits) always comes from the host through `isobox_v8_terminate`, or
// from a host call the host answers with "stop".

#include "isobox_v8.h"
#include "platform.h"

#include <libplatform/libplatform.h>
#include <v8.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>

#include <unistd.h>

namespace {

constexpr char kFileName[] = "agent.js";
// The program is the body of an async function. The wrapper has a line of its own, so that the prelude maps positions
// back to the program by subtracting one line, and columns are never shifted (as in the wasm guest).
constexpr char kSourcePrefix[] = "(async function (input) {\n";
constexpr char kSourceSuffix[] = "\n})";
// Script names of isobox's own JavaScript. The prelude drops stack frames whose line mentions `isobox:prelude`.
constexpr char kPreludeName[] = "isobox:prelude";
constexpr char kGlobalsName[] = "isobox:prelude-globals";

constexpr char kUndescribable[] =
    R"({"kind":"exception","name":"Error","message":"the program threw a value that cannot be described"})";

// Once the heap limit is reached the program is terminated, but it runs on until V8's next termination check, and V8
// aborts the process if an allocation fails for good. So the limit is raised once, by the size of the largest single
// object V8 allocates (a 1 GiB string or array): an ordinary program stops long before using it. Only a program stuck
// in a builtin that never checks for termination (such as `Array.prototype.fill` on a huge array-like object) can
// allocate on; past the raised limit V8 then aborts the process rather than letting it take the machine's memory.
constexpr size_t kHeapHeadroom = size_t{1} << 30;

// V8 compiles a function (lazily, on its first call) only with this much stack left; without it even `return 1`
// overflows under a small limit. It is added to the request's stack limit, which is for the program's own frames.
constexpr uintptr_t kCompileStackBytes = 40 << 10;

// A lazy method's property data is `capability * kMethodsPerCapability + index` (exact as a double: isobox registers
// far fewer than 2^21 capabilities, and a capability far fewer than 2^32 methods).
constexpr double kMethodsPerCapability = 4294967296.0;

// What every sandbox shares: the platform, and a startup snapshot whose default context has isobox's globals and
// prelude evaluated, so that a fresh context starts with them (as the wasm guest starts from its Wizer snapshot).
struct Process {
  // V8's default platform, for libplatform's functions (the message loop, isolate shutdown); V8 itself runs on `host`,
  // the same with isobox's page allocator (platform.h), when it could be made.
  std::unique_ptr<v8::Platform> platform;
  std::unique_ptr<v8::Platform> host;
  v8::StartupData snapshot{nullptr, 0};
  // Where the prelude's hooks are in the snapshot's context data.
  size_t hooks_index = 0;
  const char *error = nullptr;
  // The exit status of a process whose memory ran out (see `isobox_v8_initialize`).
  int out_of_memory_exit = 0;
};

// The isolate data slot holding the isolate's sandbox, for natives (snapshotted functions cannot hold a pointer).
constexpr uint32_t kSandboxSlot = 0;

Process *process = nullptr;
std::once_flag process_once;

v8::Local<v8::String> Text(v8::Isolate *isolate, const char *text) {
  return v8::String::NewFromUtf8(isolate, text).ToLocalChecked();
}

// A JavaScript string as UTF-8, with lone surrogates replaced by U+FFFD.
std::string Utf8(v8::Isolate *isolate, v8::Local<v8::String> text) {
  std::string bytes(static_cast<size_t>(text->Utf8Length(isolate)), '\0');
  text->WriteUtf8(isolate, bytes.data(), static_cast<int>(bytes.size()), nullptr,
                  v8::String::REPLACE_INVALID_UTF8 | v8::String::NO_NULL_TERMINATION);
  return bytes;
}

}  // namespace

// ArrayBuffer contents live outside the JavaScript heap; this allocator counts them against the sandbox's limit.
//
// A refused allocation is not final: V8 collects garbage and asks again for the same size, up to three times, before
// it throws a `RangeError`. So a refusal is only remembered, and an interrupt is requested; if the refused size was
// never granted by the time the interrupt runs (or the current step ends), the host is told the program is out of
// memory. A program therefore cannot catch a failed allocation and carry on, as with the heap limit.
class BufferAllocator final : public v8::ArrayBuffer::Allocator {
 public:
  explicit BufferAllocator(uint64_t limit) : limit_(limit) {}

  void *Allocate(size_t length) override { return Reserve(length) ? Grant(std::calloc(1, Size(length)), length) : nullptr; }

  void *AllocateUninitialized(size_t length) override {
    return Reserve(length) ? Grant(std::malloc(Size(length)), length) : nullptr;
  }

  void Free(void *data, size_t length) override {
    std::free(data);
    live_.fetch_sub(length);
  }

  // Called once the isolate exists, so refusals can interrupt it.
  void Attach(v8::Isolate *isolate, isobox_v8_sandbox *sandbox) {
    isolate_ = isolate;
    sandbox_ = sandbox;
  }

  uint64_t live() const { return live_.load(); }

  // Whether a refused allocation was never granted on retry; clears the record.
  bool TakeRefusal() { return refused_.exchange(0) != 0; }

 private:
  static size_t Size(size_t length) { return std::max<size_t>(length, 1); }

  bool Reserve(size_t length) {
    uint64_t used = live_.load();
    do {
      if (length > limit_ || used > limit_ - length) {
        Refuse(length);
        return false;
      }
    } while (!live_.compare_exchange_weak(used, used + length));
    return true;
  }

  void *Grant(void *data, size_t length) {
    if (data == nullptr) {
      live_.fetch_sub(length);
      return nullptr;
    }
    // V8's retry of a refused size succeeded after a garbage collection: nothing to report.
    uint64_t refused = length + 1;
    refused_.compare_exchange_strong(refused, 0);
    return data;
  }

  void Refuse(size_t length);

  const uint64_t limit_;
  std::atomic<uint64_t> live_{0};
  // The refused length plus one, or zero when there is no pending refusal.
  std::atomic<uint64_t> refused_{0};
  v8::Isolate *isolate_ = nullptr;
  isobox_v8_sandbox *sandbox_ = nullptr;
};

struct isobox_v8_sandbox {
  // Zero (no host) until attached.
  isobox_v8_host host{};
  v8::Isolate *isolate = nullptr;
  uint64_t memory_bytes = 0;
  std::shared_ptr<BufferAllocator> buffers;
  v8::Global<v8::Context> context;
  // The prelude's hooks.
  v8::Global<v8::Function> start;
  v8::Global<v8::Function> success;
  v8::Global<v8::Function> failure;
  // The program's promise, and whether it has settled (set by a reaction on it).
  v8::Global<v8::Promise> promise;
  bool settled = false;
  std::string outcome;
  // The `WebAssembly` namespace, kept from programs; the stack overflow probe made with it, once needed; the value
  // the probe is throwing; and whether the probe's module is being compiled (the only wasm code a sandbox may make).
  v8::Global<v8::Object> web_assembly;
  v8::Global<v8::Function> probe;
  v8::Global<v8::Value> probe_value;
  bool compiling_probe = false;
  // The prelude's `make(capability, index, name)`, which makes a capability's method (see `CapabilityObject`).
  v8::Global<v8::Function> make_method;
};

namespace {

// Tells the host about a refused ArrayBuffer allocation that was never granted.
void ReportRefusal(isobox_v8_sandbox *sandbox) {
  if (sandbox->buffers->TakeRefusal() && sandbox->host.out_of_memory != nullptr) {
    sandbox->host.out_of_memory(sandbox->host.data);
  }
}

void RefusalInterrupt(v8::Isolate *, void *data) { ReportRefusal(static_cast<isobox_v8_sandbox *>(data)); }

size_t NearHeapLimit(void *data, size_t current_heap_limit, size_t initial_heap_limit) {
  auto *sandbox = static_cast<isobox_v8_sandbox *>(data);
  // A sandbox made ahead of its request has no host yet; nothing of a program runs before it has one.
  if (sandbox->host.out_of_memory != nullptr) sandbox->host.out_of_memory(sandbox->host.data);
  size_t ceiling = initial_heap_limit + kHeapHeadroom;
  if (current_heap_limit >= ceiling) {
    std::fprintf(stderr,
                 "isobox-v8: a program allocated more than 1 GiB past its memory limit inside a V8 builtin that does "
                 "not stop when terminated; V8 aborts the process\n");
    return current_heap_limit;
  }
  return ceiling;
}

// V8 ran out of memory for good (a heap limit it cannot raise, or an allocation the OS refused): it would abort the
// process. The process ends instead with the status that tells its parent why.
void OutOfMemory(const char *, bool) { _exit(process->out_of_memory_exit); }

void NoNewMemory() { _exit(process->out_of_memory_exit); }

// A single allocation can take the heap past its limit without V8 asking `NearHeapLimit` first (a string of hundreds
// of megabytes is one object in large-object space). Checked after every step, so such a program ends with a memory
// error rather than running on.
void CheckHeap(isobox_v8_sandbox *sandbox) {
  if (sandbox->host.out_of_memory == nullptr) return;
  v8::HeapStatistics statistics;
  sandbox->isolate->GetHeapStatistics(&statistics);
  if (statistics.used_heap_size() > sandbox->memory_bytes) sandbox->host.out_of_memory(sandbox->host.data);
}

isobox_v8_sandbox *SandboxOf(v8::Isolate *isolate) {
  return static_cast<isobox_v8_sandbox *>(isolate->GetData(kSandboxSlot));
}

isobox_v8_sandbox *SandboxOf(const v8::FunctionCallbackInfo<v8::Value> &info) { return SandboxOf(info.GetIsolate()); }

// Programs compile no WebAssembly; only the binding's stack overflow probe is compiled.
bool OnlyTheProbe(v8::Local<v8::Context> context, v8::Local<v8::String>) {
  isobox_v8_sandbox *sandbox = SandboxOf(context->GetIsolate());
  return sandbox != nullptr && sandbox->compiling_probe;
}

bool WasmExceptions(v8::Local<v8::Context>) { return true; }

// V8 marks the RangeError it throws when the stack runs out (`Isolate::StackOverflow`), and no other value, as
// uncatchable by WebAssembly; JavaScript cannot see or set the mark. So a wasm `catch_all` tells the engine's own
// error from a look-alike a program made: this module calls an import that throws the value, and returns 1 when
// its `catch_all` caught it.
//   (module (import "i" "f" (func))
//     (func (export "p") (result i32) try (result i32) call 0 i32.const 0 catch_all i32.const 1 end))
constexpr uint8_t kProbeModule[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,                    // magic, version
    0x01, 0x08, 0x02, 0x60, 0x00, 0x00, 0x60, 0x00, 0x01, 0x7f,        // types: [] -> [], [] -> [i32]
    0x02, 0x07, 0x01, 0x01, 0x69, 0x01, 0x66, 0x00, 0x00,              // import "i" "f": function of type 0
    0x03, 0x02, 0x01, 0x01,                                            // one function of type 1
    0x07, 0x05, 0x01, 0x01, 0x70, 0x00, 0x01,                          // export "p": function 1
    0x0a, 0x0e, 0x01, 0x0c, 0x00, 0x06, 0x7f, 0x10, 0x00, 0x41, 0x00,  // code: try (result i32) call 0 i32.const 0
    0x19, 0x41, 0x01, 0x0b, 0x0b,                                      //       catch_all i32.const 1 end end
};

v8::MaybeLocal<v8::Function> Native(v8::Local<v8::Context> context, v8::FunctionCallback callback);

// The probe module's import: throws the value being probed.
void ProbeThrow(const v8::FunctionCallbackInfo<v8::Value> &info) {
  isobox_v8_sandbox *sandbox = SandboxOf(info);
  v8::Isolate *isolate = info.GetIsolate();
  isolate->ThrowException(sandbox->probe_value.Get(isolate));
}

// The probe's exported function, made on first use with the `WebAssembly` namespace kept from the context. Nothing a
// program can reach takes part: the namespace and its constructors are hidden, the imports object has no prototype.
v8::MaybeLocal<v8::Function> Probe(isobox_v8_sandbox *sandbox, v8::Local<v8::Context> context) {
  v8::Isolate *isolate = sandbox->isolate;
  if (!sandbox->probe.IsEmpty()) return sandbox->probe.Get(isolate);
  if (sandbox->web_assembly.IsEmpty()) return {};
  v8::Local<v8::Object> web_assembly = sandbox->web_assembly.Get(isolate);
  v8::Local<v8::Value> module_class, instance_class, thrower;
  if (!web_assembly->Get(context, Text(isolate, "Module")).ToLocal(&module_class) || !module_class->IsFunction() ||
      !web_assembly->Get(context, Text(isolate, "Instance")).ToLocal(&instance_class) ||
      !instance_class->IsFunction()) {
    return {};
  }
  std::unique_ptr<v8::BackingStore> bytes = v8::ArrayBuffer::NewBackingStore(isolate, sizeof kProbeModule);
  std::memcpy(bytes->Data(), kProbeModule, sizeof kProbeModule);
  v8::Local<v8::Value> buffer = v8::ArrayBuffer::New(isolate, std::move(bytes));
  sandbox->compiling_probe = true;
  v8::MaybeLocal<v8::Object> compiled = module_class.As<v8::Function>()->NewInstance(context, 1, &buffer);
  sandbox->compiling_probe = false;
  v8::Local<v8::Object> module, instance;
  if (!compiled.ToLocal(&module) || !Native(context, ProbeThrow).ToLocal(&thrower)) return {};
  v8::Local<v8::Name> f = Text(isolate, "f"), i = Text(isolate, "i");
  v8::Local<v8::Value> functions = v8::Object::New(isolate, v8::Null(isolate), &f, &thrower, 1);
  v8::Local<v8::Value> imports = v8::Object::New(isolate, v8::Null(isolate), &i, &functions, 1);
  v8::Local<v8::Value> arguments[] = {module, imports};
  v8::Local<v8::Value> exports, probe;
  if (!instance_class.As<v8::Function>()->NewInstance(context, 2, arguments).ToLocal(&instance) ||
      !instance->Get(context, Text(isolate, "exports")).ToLocal(&exports) || !exports->IsObject() ||
      !exports.As<v8::Object>()->Get(context, Text(isolate, "p")).ToLocal(&probe) || !probe->IsFunction()) {
    return {};
  }
  sandbox->probe.Reset(isolate, probe.As<v8::Function>());
  return probe.As<v8::Function>();
}

// Whether `value` is the error V8 threw because the stack ran out (rethrown or not), rather than one a program made.
bool IsEngineStackOverflow(isobox_v8_sandbox *sandbox, v8::Local<v8::Value> value) {
  if (!value->IsNativeError()) return false;
  v8::Isolate *isolate = sandbox->isolate;
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::Function> probe;
  if (!Probe(sandbox, context).ToLocal(&probe)) return false;
  v8::TryCatch try_catch(isolate);
  sandbox->probe_value.Reset(isolate, value);
  v8::Local<v8::Value> caught;
  bool returned = probe->Call(context, v8::Undefined(isolate), 0, nullptr).ToLocal(&caught);
  sandbox->probe_value.Reset();
  return !returned && try_catch.HasCaught() && try_catch.Exception()->StrictEquals(value);
}

// The prelude's `engineLimit(value)`: 1 for V8's own stack overflow error, else 0 (running out of memory ends the
// program from the heap limit callback instead, so V8 never throws an error for it).
void EngineLimit(const v8::FunctionCallbackInfo<v8::Value> &info) {
  bool overflow = info.Length() > 0 && IsEngineStackOverflow(SandboxOf(info), info[0]);
  info.GetReturnValue().Set(overflow ? 1 : 0);
}

// V8 puts `WebAssembly` on every new context's global object. Programs get plain JavaScript (WebAssembly would
// allocate memory outside the limits isobox enforces): the namespace is taken off before anything runs there, and
// kept for the probe.
bool TakeWebAssembly(isobox_v8_sandbox *sandbox, v8::Local<v8::Context> context) {
  v8::Isolate *isolate = sandbox->isolate;
  v8::Local<v8::Object> global = context->Global();
  v8::Local<v8::String> name = Text(isolate, "WebAssembly");
  v8::Local<v8::Value> web_assembly;
  if (!global->Get(context, name).ToLocal(&web_assembly)) return false;
  if (web_assembly->IsObject()) sandbox->web_assembly.Reset(isolate, web_assembly.As<v8::Object>());
  return global->Delete(context, name).FromMaybe(false) && !global->Has(context, name).FromMaybe(true);
}

// The prelude's `hostLog(level, text)`.
void HostLog(const v8::FunctionCallbackInfo<v8::Value> &info) {
  isobox_v8_sandbox *sandbox = SandboxOf(info);
  v8::Isolate *isolate = info.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  uint32_t level = info[0]->Uint32Value(context).FromMaybe(0);
  v8::Local<v8::String> text;
  if (!info[1]->ToString(context).ToLocal(&text)) return;
  std::string bytes = Utf8(isolate, text);
  sandbox->host.log(sandbox->host.data, level, reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size());
}

// The prelude's `hostCall(capability, method, args, failed)`: one capability call, made synchronously. The host blocks
// this thread until the call is done (the program waits, as QuickJS waits in the wasm guest) and answers with the
// reply, or tells the binding to end the program (a capability limit or the deadline was hit). `args` is serialised as
// the language's own `JSON.stringify` does, and the reply parsed here: the value returned, or, when the call threw,
// `failed` with the error's description as its `value` (no value from the host is that object).
void HostCall(const v8::FunctionCallbackInfo<v8::Value> &info) {
  isobox_v8_sandbox *sandbox = SandboxOf(info);
  v8::Isolate *isolate = info.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  uint32_t capability, function;
  v8::Local<v8::String> args;
  if (!info[3]->IsObject() || !info[0]->Uint32Value(context).To(&capability) ||
      !info[1]->Uint32Value(context).To(&function) || !v8::JSON::Stringify(context, info[2]).ToLocal(&args)) {
    return;
  }
  std::string bytes = Utf8(isolate, args);
  const uint8_t *reply = nullptr;
  size_t reply_len = 0;
  if (!sandbox->host.call(sandbox->host.data, capability, function, reinterpret_cast<const uint8_t *>(bytes.data()),
                          bytes.size(), &reply, &reply_len)) {
    // Already asked for by the host when it stopped the program; asked again, since nothing must run after this.
    isolate->TerminateExecution();
    return;
  }
  // An error's description comes after a `!` (no JSON text starts with one).
  bool threw = reply_len > 0 && reply[0] == '!';
  if (threw) {
    reply++;
    reply_len--;
  }
  v8::Local<v8::String> text;
  if (reply_len > INT_MAX || !v8::String::NewFromUtf8(isolate, reinterpret_cast<const char *>(reply),
                                                      v8::NewStringType::kNormal, static_cast<int>(reply_len))
                                 .ToLocal(&text)) {
    // Past V8's longest string (a result limit set that high); the program can catch this as any failed call.
    isolate->ThrowException(v8::Exception::Error(Text(isolate, "the host call's result is too large for V8")));
    return;
  }
  v8::Local<v8::Value> value;
  if (!v8::JSON::Parse(context, text).ToLocal(&value)) return;
  if (!threw) {
    info.GetReturnValue().Set(value);
    return;
  }
  v8::Local<v8::Object> failed = info[3].As<v8::Object>();
  if (failed->Set(context, Text(isolate, "value"), value).IsNothing()) return;
  info.GetReturnValue().Set(failed);
}

// Marks the program's promise as settled and ends the current job run, so that jobs still queued behind it do not
// run (as in the wasm guest, which stops running jobs once the promise settles).
void Settled(const v8::FunctionCallbackInfo<v8::Value> &info) {
  isobox_v8_sandbox *sandbox = SandboxOf(info);
  sandbox->settled = true;
  info.GetIsolate()->TerminateExecution();
}

// `utf8Length(string)`: the length of a string in UTF-8, lone surrogates counting as U+FFFD.
void Utf8Length(const v8::FunctionCallbackInfo<v8::Value> &info) {
  v8::Isolate *isolate = info.GetIsolate();
  v8::Local<v8::String> text;
  if (!info[0]->ToString(isolate->GetCurrentContext()).ToLocal(&text)) return;
  info.GetReturnValue().Set(text->Utf8Length(isolate));
}

// `encodeUtf8(string, bytes)`: writes the string as UTF-8 into a Uint8Array sized by `utf8Length`.
void EncodeUtf8(const v8::FunctionCallbackInfo<v8::Value> &info) {
  v8::Isolate *isolate = info.GetIsolate();
  if (!info[0]->IsString() || !info[1]->IsUint8Array()) {
    isolate->ThrowException(v8::Exception::TypeError(Text(isolate, "encodeUtf8 needs a string and a Uint8Array")));
    return;
  }
  v8::Local<v8::String> text = info[0].As<v8::String>();
  v8::Local<v8::Uint8Array> bytes = info[1].As<v8::Uint8Array>();
  size_t length = bytes->ByteLength();
  if (length != static_cast<size_t>(text->Utf8Length(isolate))) {
    isolate->ThrowException(v8::Exception::RangeError(Text(isolate, "encodeUtf8 needs a Uint8Array of the string's size")));
    return;
  }
  if (length == 0) return;
  char *data = static_cast<char *>(bytes->Buffer()->Data()) + bytes->ByteOffset();
  text->WriteUtf8(isolate, data, static_cast<int>(length), nullptr,
                  v8::String::REPLACE_INVALID_UTF8 | v8::String::NO_NULL_TERMINATION);
}

bool ValidUtf8(const uint8_t *bytes, size_t length) {
  size_t i = 0;
  while (i < length) {
    uint8_t lead = bytes[i];
    if (lead < 0x80) {
      i++;
      continue;
    }
    size_t extra;
    uint8_t low = 0x80, high = 0xBF;  // the range of the second byte
    if (lead >= 0xC2 && lead <= 0xDF) {
      extra = 1;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      extra = 2;
      if (lead == 0xE0) low = 0xA0;   // no overlong forms
      if (lead == 0xED) high = 0x9F;  // no surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      extra = 3;
      if (lead == 0xF0) low = 0x90;   // no overlong forms
      if (lead == 0xF4) high = 0x8F;  // nothing past U+10FFFF
    } else {
      return false;
    }
    if (length - i <= extra) return false;
    if (bytes[i + 1] < low || bytes[i + 1] > high) return false;
    for (size_t k = 2; k <= extra; k++) {
      if (bytes[i + k] < 0x80 || bytes[i + k] > 0xBF) return false;
    }
    i += extra + 1;
  }
  return true;
}

// `decodeUtf8(buffer, byteOffset, byteLength, fatal, ignoreBOM)`: UTF-8 bytes of an ArrayBuffer as a string. Invalid
// sequences become U+FFFD, or throw a TypeError when `fatal`.
void DecodeUtf8(const v8::FunctionCallbackInfo<v8::Value> &info) {
  v8::Isolate *isolate = info.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  if (!info[0]->IsArrayBuffer()) {
    isolate->ThrowException(v8::Exception::TypeError(Text(isolate, "decodeUtf8 needs an ArrayBuffer")));
    return;
  }
  v8::Local<v8::ArrayBuffer> buffer = info[0].As<v8::ArrayBuffer>();
  double offset = info[1]->NumberValue(context).FromMaybe(-1);
  double length = info[2]->NumberValue(context).FromMaybe(-1);
  double size = static_cast<double>(buffer->ByteLength());
  if (!(offset >= 0 && length >= 0 && offset + length <= size)) {
    isolate->ThrowException(v8::Exception::RangeError(Text(isolate, "the view is outside its buffer")));
    return;
  }
  const uint8_t *bytes = static_cast<const uint8_t *>(buffer->Data());
  size_t start = static_cast<size_t>(offset);
  size_t count = static_cast<size_t>(length);
  if (bytes == nullptr || count == 0) {
    info.GetReturnValue().SetEmptyString();
    return;
  }
  bytes += start;
  if (!info[4]->BooleanValue(isolate) && count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF) {
    bytes += 3;
    count -= 3;
  }
  if (info[3]->BooleanValue(isolate) && !ValidUtf8(bytes, count)) {
    isolate->ThrowException(v8::Exception::TypeError(Text(isolate, "The encoded data was not valid utf-8")));
    return;
  }
  v8::Local<v8::String> text;
  if (count > INT_MAX || !v8::String::NewFromUtf8(isolate, reinterpret_cast<const char *>(bytes),
                                                  v8::NewStringType::kNormal, static_cast<int>(count))
                               .ToLocal(&text)) {
    isolate->ThrowException(v8::Exception::RangeError(Text(isolate, "Invalid string length")));
    return;
  }
  info.GetReturnValue().Set(text);
}

// A method of a capability object, made on its first read: `make(capability, index, name)` with the capability and the
// method's index packed in the property's data (see `CapabilityObject`). V8 then keeps the function as the property's
// value, whatever the read's receiver (a primitive one is boxed first), so every read gives the same function.
void MakeMethod(v8::Local<v8::Name> name, const v8::PropertyCallbackInfo<v8::Value> &info) {
  v8::Isolate *isolate = info.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  isobox_v8_sandbox *sandbox = SandboxOf(isolate);
  if (sandbox == nullptr || sandbox->make_method.IsEmpty() || !info.Data()->IsNumber()) {
    isolate->ThrowException(v8::Exception::Error(Text(isolate, "a capability method read outside its sandbox")));
    return;
  }
  v8::Local<v8::Value> method;
  double packed = info.Data().As<v8::Number>()->Value();
  double capability = std::floor(packed / kMethodsPerCapability);
  v8::Local<v8::Value> arguments[] = {v8::Number::New(isolate, capability),
                                      v8::Number::New(isolate, packed - capability * kMethodsPerCapability), name};
  if (sandbox->make_method.Get(isolate)->Call(context, v8::Undefined(isolate), 3, arguments).ToLocal(&method)) {
    info.GetReturnValue().Set(method);
  }
}

// The prelude's `capabilityObject(capability, names, make)`: a capability's global object, frozen, inheriting from
// `Object.prototype`, its own properties its methods in declaration order (`names`: each name followed by "\n"). Each
// method is a lazy data property: to every reflection an ordinary data property, its function made by `MakeMethod` on
// first read. So granting a capability costs a property per method, not a function per method (GitHub's REST API
// as a capability has 1,223).
void CapabilityObject(const v8::FunctionCallbackInfo<v8::Value> &info) {
  isobox_v8_sandbox *sandbox = SandboxOf(info);
  v8::Isolate *isolate = info.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  uint32_t capability;
  if (sandbox == nullptr || !info[0]->Uint32Value(context).To(&capability) || !info[1]->IsString() ||
      !info[2]->IsFunction()) {
    isolate->ThrowException(v8::Exception::TypeError(Text(isolate, "capabilityObject needs (capability, names, make)")));
    return;
  }
  sandbox->make_method.Reset(isolate, info[2].As<v8::Function>());
  std::string names = Utf8(isolate, info[1].As<v8::String>());
  // Made without a prototype, so that a method named `__proto__` is a property like the others.
  v8::Local<v8::Object> api = v8::Object::New(isolate, v8::Null(isolate), nullptr, nullptr, 0);
  double index = 0;
  for (size_t start = 0; start < names.size(); index++) {
    size_t end = std::min(names.find('\n', start), names.size());
    v8::Local<v8::String> name;
    if (end - start > static_cast<size_t>(v8::String::kMaxLength) ||
        !v8::String::NewFromUtf8(isolate, names.data() + start, v8::NewStringType::kInternalized,
                                 static_cast<int>(end - start))
             .ToLocal(&name)) {
      isolate->ThrowException(v8::Exception::RangeError(Text(isolate, "a method name is too long for V8")));
      return;
    }
    v8::Local<v8::Value> packed = v8::Number::New(isolate, capability * kMethodsPerCapability + index);
    if (api->SetLazyDataProperty(context, name, MakeMethod, packed).IsNothing()) return;
    start = end + 1;
  }
  v8::Local<v8::Value> object_prototype = v8::Object::New(isolate)->GetPrototype();
  if (api->SetPrototype(context, object_prototype).IsNothing() ||
      api->SetIntegrityLevel(context, v8::IntegrityLevel::kFrozen).IsNothing()) {
    return;
  }
  info.GetReturnValue().Set(api);
}

v8::MaybeLocal<v8::Function> Native(v8::Local<v8::Context> context, v8::FunctionCallback callback) {
  return v8::Function::New(context, callback, v8::Local<v8::Value>(), 0, v8::ConstructorBehavior::kThrow);
}

v8::MaybeLocal<v8::Value> RunScript(v8::Local<v8::Context> context, const std::string &source, const char *name) {
  v8::Isolate *isolate = context->GetIsolate();
  v8::Local<v8::String> text;
  if (!v8::String::NewFromUtf8(isolate, source.data(), v8::NewStringType::kNormal, static_cast<int>(source.size()))
           .ToLocal(&text)) {
    return {};
  }
  v8::ScriptOrigin origin(isolate, Text(isolate, name));
  v8::Local<v8::Script> script;
  if (!v8::Script::Compile(context, text, &origin).ToLocal(&script)) return {};
  return script->Run(context);
}

v8::MaybeLocal<v8::Function> Hook(v8::Local<v8::Context> context, v8::Local<v8::Object> hooks, const char *name) {
  v8::Local<v8::Value> hook;
  if (!hooks->Get(context, Text(context->GetIsolate(), name)).ToLocal(&hook) || !hook->IsFunction()) return {};
  return hook.As<v8::Function>();
}

// Evaluates the V8 globals and the prelude in `context` and returns the prelude's hooks.
v8::MaybeLocal<v8::Object> Prepare(v8::Local<v8::Context> context, const std::string &globals_source,
                                   const std::string &prelude_source) {
  v8::Isolate *isolate = context->GetIsolate();
  v8::Local<v8::Value> globals;
  v8::Local<v8::Function> utf8_length, encode, decode;
  if (!RunScript(context, globals_source, kGlobalsName).ToLocal(&globals) || !globals->IsFunction() ||
      !Native(context, Utf8Length).ToLocal(&utf8_length) || !Native(context, EncodeUtf8).ToLocal(&encode) ||
      !Native(context, DecodeUtf8).ToLocal(&decode)) {
    return {};
  }
  v8::Local<v8::Value> natives[] = {utf8_length, encode, decode};
  if (globals.As<v8::Function>()->Call(context, v8::Undefined(isolate), 3, natives).IsEmpty()) return {};

  v8::Local<v8::Value> prelude;
  v8::Local<v8::Function> host_log, host_call, engine_limit, capability_object;
  if (!RunScript(context, prelude_source, kPreludeName).ToLocal(&prelude) || !prelude->IsFunction() ||
      !Native(context, HostLog).ToLocal(&host_log) || !Native(context, HostCall).ToLocal(&host_call) ||
      !Native(context, EngineLimit).ToLocal(&engine_limit) ||
      !Native(context, CapabilityObject).ToLocal(&capability_object)) {
    return {};
  }
  // V8 starts `error.stack` with the error's "Name: message" text; the prelude keeps frames only.
  v8::Local<v8::Object> options = v8::Object::New(isolate);
  if (options->Set(context, Text(isolate, "stackHeader"), v8::True(isolate)).IsNothing() ||
      options->Set(context, Text(isolate, "engineLimit"), engine_limit).IsNothing() ||
      options->Set(context, Text(isolate, "capabilityObject"), capability_object).IsNothing()) {
    return {};
  }
  // The prelude keeps both natives to itself: programs reach `hostCall` only through the granted capabilities' methods.
  v8::Local<v8::Value> arguments[] = {host_log, host_call, Text(isolate, kFileName), options};
  v8::Local<v8::Value> hooks;
  if (!prelude.As<v8::Function>()->Call(context, v8::Undefined(isolate), 4, arguments).ToLocal(&hooks) ||
      !hooks->IsObject()) {
    return {};
  }
  return hooks.As<v8::Object>();
}

// Every native function in the snapshot, so that V8 can serialise and restore them.
const intptr_t kExternalReferences[] = {
    reinterpret_cast<intptr_t>(HostLog),
    reinterpret_cast<intptr_t>(HostCall),
    reinterpret_cast<intptr_t>(Utf8Length),
    reinterpret_cast<intptr_t>(EncodeUtf8),
    reinterpret_cast<intptr_t>(DecodeUtf8),
    reinterpret_cast<intptr_t>(EngineLimit),
    reinterpret_cast<intptr_t>(CapabilityObject),
    reinterpret_cast<intptr_t>(MakeMethod),
    0,
};

// Builds the startup snapshot every sandbox's isolate is created from.
bool CreateSnapshot(const std::string &globals_source, const std::string &prelude_source) {
  v8::SnapshotCreator creator(kExternalReferences);
  v8::Isolate *isolate = creator.GetIsolate();
  {
    v8::HandleScope handle_scope(isolate);
    v8::Local<v8::Context> context = v8::Context::New(isolate);
    v8::Context::Scope context_scope(context);
    v8::TryCatch try_catch(isolate);
    v8::Local<v8::Object> hooks;
    if (!Prepare(context, globals_source, prelude_source).ToLocal(&hooks)) return false;
    process->hooks_index = creator.AddData(context, hooks);
    creator.SetDefaultContext(context);
  }
  // Keep the prelude's compiled code, so that sandboxes do not compile it again.
  process->snapshot = creator.CreateBlob(v8::SnapshotCreator::FunctionCodeHandling::kKeep);
  return process->snapshot.data != nullptr;
}

// Takes the prelude's hooks from a fresh context made from the snapshot.
bool TakeHooks(isobox_v8_sandbox *sandbox, v8::Local<v8::Context> context) {
  v8::Isolate *isolate = sandbox->isolate;
  v8::Local<v8::Object> hooks;
  v8::Local<v8::Function> start, success, failure;
  if (!context->GetDataFromSnapshotOnce<v8::Object>(process->hooks_index).ToLocal(&hooks) ||
      !Hook(context, hooks, "start").ToLocal(&start) || !Hook(context, hooks, "success").ToLocal(&success) ||
      !Hook(context, hooks, "failure").ToLocal(&failure)) {
    return false;
  }
  sandbox->start.Reset(isolate, start);
  sandbox->success.Reset(isolate, success);
  sandbox->failure.Reset(isolate, failure);
  return true;
}

// Enters a sandbox's isolate and context for one step.
class Enter {
 public:
  explicit Enter(isobox_v8_sandbox *sandbox)
      : isolate_scope_(sandbox->isolate),
        handle_scope_(sandbox->isolate),
        context_(sandbox->context.Get(sandbox->isolate)),
        context_scope_(context_) {}

  v8::Local<v8::Context> context() const { return context_; }

 private:
  v8::Isolate::Scope isolate_scope_;
  v8::HandleScope handle_scope_;
  v8::Local<v8::Context> context_;
  v8::Context::Scope context_scope_;
};

int Internal(isobox_v8_sandbox *sandbox, const char *message) {
  sandbox->outcome = std::string(R"({"kind":"internal","message":")") + message + "\"}";
  return ISOBOX_V8_ERROR;
}

// Describes a thrown value (or rejection reason) through the prelude's `failure` hook. `line` and `column` are the
// position of a syntax error in the compiled source, 0 when unknown.
int Describe(isobox_v8_sandbox *sandbox, v8::Local<v8::Context> context, v8::Local<v8::Value> thrown, bool compiling,
             int line, int column) {
  v8::Isolate *isolate = sandbox->isolate;
  v8::TryCatch try_catch(isolate);
  v8::Local<v8::Value> arguments[] = {thrown, v8::Boolean::New(isolate, compiling), v8::Integer::New(isolate, line),
                                      v8::Integer::New(isolate, column)};
  int count = compiling && line > 0 ? 4 : 2;
  v8::Local<v8::Value> text;
  if (!sandbox->failure.Get(isolate)->Call(context, v8::Undefined(isolate), count, arguments).ToLocal(&text) ||
      !text->IsString()) {
    if (try_catch.HasTerminated()) return ISOBOX_V8_TERMINATED;
    sandbox->outcome = kUndescribable;
    return ISOBOX_V8_ERROR;
  }
  sandbox->outcome = Utf8(isolate, text.As<v8::String>());
  return ISOBOX_V8_ERROR;
}

// The outcome of a step that threw.
int Thrown(isobox_v8_sandbox *sandbox, v8::Local<v8::Context> context, const v8::TryCatch &try_catch) {
  if (try_catch.HasTerminated() || !try_catch.HasCaught()) return ISOBOX_V8_TERMINATED;
  return Describe(sandbox, context, try_catch.Exception(), false, 0, 0);
}

int PromiseStatus(isobox_v8_sandbox *sandbox) {
  return sandbox->promise.Get(sandbox->isolate)->State() == v8::Promise::kPending ? ISOBOX_V8_PENDING
                                                                                   : ISOBOX_V8_SETTLED;
}

int Start(isobox_v8_sandbox *sandbox, v8::Local<v8::Context> context, const uint8_t *code, size_t code_len,
          const uint8_t *input, size_t input_len, const uint8_t *manifest, size_t manifest_len) {
  v8::Isolate *isolate = sandbox->isolate;
  v8::TryCatch try_catch(isolate);
  std::string source;
  source.reserve(sizeof kSourcePrefix + code_len + sizeof kSourceSuffix);
  source.append(kSourcePrefix).append(reinterpret_cast<const char *>(code), code_len).append(kSourceSuffix);
  v8::Local<v8::String> source_text, input_text, manifest_text;
  if (source.size() > INT_MAX || input_len > INT_MAX || manifest_len > INT_MAX ||
      !v8::String::NewFromUtf8(isolate, source.data(), v8::NewStringType::kNormal, static_cast<int>(source.size()))
           .ToLocal(&source_text) ||
      !v8::String::NewFromUtf8(isolate, reinterpret_cast<const char *>(input), v8::NewStringType::kNormal,
                               static_cast<int>(input_len))
           .ToLocal(&input_text) ||
      !v8::String::NewFromUtf8(isolate, reinterpret_cast<const char *>(manifest), v8::NewStringType::kNormal,
                               static_cast<int>(manifest_len))
           .ToLocal(&manifest_text)) {
    if (try_catch.HasTerminated()) return ISOBOX_V8_TERMINATED;
    return Internal(sandbox, "the program or its input is too large for V8");
  }

  v8::ScriptOrigin origin(isolate, Text(isolate, kFileName));
  v8::Local<v8::Script> script;
  if (!v8::Script::Compile(context, source_text, &origin).ToLocal(&script)) {
    if (try_catch.HasTerminated() || !try_catch.HasCaught()) return ISOBOX_V8_TERMINATED;
    // V8 keeps a syntax error's position in its message, not in the error's stack.
    v8::Local<v8::Message> message = try_catch.Message();
    int line = 0, column = 0;
    if (!message.IsEmpty()) {
      line = message->GetLineNumber(context).FromMaybe(0);
      column = message->GetStartColumn(context).FromMaybe(-1) + 1;
    }
    return Describe(sandbox, context, try_catch.Exception(), true, line, column);
  }
  v8::Local<v8::Value> program, result;
  v8::Local<v8::Value> arguments[3];
  arguments[1] = input_text;
  arguments[2] = manifest_text;
  if (!script->Run(context).ToLocal(&program)) return Thrown(sandbox, context, try_catch);
  arguments[0] = program;
  if (!sandbox->start.Get(isolate)->Call(context, v8::Undefined(isolate), 3, arguments).ToLocal(&result)) {
    return Thrown(sandbox, context, try_catch);
  }

  // A program that broke out of its wrapper may return something other than a promise: take it as the result.
  v8::Local<v8::Promise> promise;
  if (result->IsPromise()) {
    promise = result.As<v8::Promise>();
  } else {
    v8::Local<v8::Promise::Resolver> resolver;
    if (!v8::Promise::Resolver::New(context).ToLocal(&resolver) || resolver->Resolve(context, result).IsNothing()) {
      return Thrown(sandbox, context, try_catch);
    }
    promise = resolver->GetPromise();
  }
  v8::Local<v8::Function> settled;
  if (!Native(context, Settled).ToLocal(&settled) || promise->Then(context, settled, settled).IsEmpty()) {
    return Thrown(sandbox, context, try_catch);
  }
  sandbox->promise.Reset(isolate, promise);
  return PromiseStatus(sandbox);
}

int RunJobs(isobox_v8_sandbox *sandbox) {
  v8::Isolate *isolate = sandbox->isolate;
  v8::TryCatch try_catch(isolate);
  // Engine tasks (garbage collection steps, finalisers) posted to this isolate's thread.
  while (v8::platform::PumpMessageLoop(process->platform.get(), isolate)) {
  }
  isolate->PerformMicrotaskCheckpoint();
  if (sandbox->settled) {
    // `Settled` ended the job run on purpose. A termination the host asked for meanwhile is cancelled too; the host
    // remembers why it stopped the program and reports that instead of the outcome.
    isolate->CancelTerminateExecution();
    return ISOBOX_V8_SETTLED;
  }
  if (try_catch.HasTerminated()) return ISOBOX_V8_TERMINATED;
  return PromiseStatus(sandbox);
}

int Settle(isobox_v8_sandbox *sandbox, v8::Local<v8::Context> context) {
  v8::Isolate *isolate = sandbox->isolate;
  v8::TryCatch try_catch(isolate);
  v8::Local<v8::Promise> promise = sandbox->promise.Get(isolate);
  switch (promise->State()) {
    case v8::Promise::kPending:
      return Internal(sandbox, "the program's promise has not settled");
    case v8::Promise::kRejected:
      return Describe(sandbox, context, promise->Result(), false, 0, 0);
    case v8::Promise::kFulfilled:
      break;
  }
  v8::Local<v8::Value> value = promise->Result();
  v8::Local<v8::Value> text;
  if (!sandbox->success.Get(isolate)->Call(context, v8::Undefined(isolate), 1, &value).ToLocal(&text)) {
    return Thrown(sandbox, context, try_catch);
  }
  if (!text->IsString()) return Internal(sandbox, "the prelude's success hook returned no text");
  sandbox->outcome = Utf8(isolate, text.As<v8::String>());
  return ISOBOX_V8_OK;
}

}  // namespace

void BufferAllocator::Refuse(size_t length) {
  refused_.store(uint64_t{length} + 1);
  if (isolate_ != nullptr) isolate_->RequestInterrupt(RefusalInterrupt, sandbox_);
}

extern "C" {

const char *isobox_v8_unavailable(void) { return nullptr; }

const char *isobox_v8_initialize(const char *prelude, size_t prelude_len, const char *globals, size_t globals_len,
                                 int out_of_memory_exit, const uint8_t *snapshot, size_t snapshot_len,
                                 uint64_t hooks_index) {
  std::call_once(process_once, [&] {
    process = new Process;
    process->out_of_memory_exit = out_of_memory_exit;
    v8::V8::SetFatalMemoryErrorCallback(OutOfMemory);
    std::set_new_handler(NoNewMemory);
    // Every isolate starts from a snapshot held in this process's memory (built here, or built by the first worker and
    // handed over by the host): checking its checksum again at each `Isolate::New` took a tenth of making an isolate.
    // V8 still checks that the snapshot belongs to this build.
    static const char kFlags[] = "--no-verify-snapshot-checksum";
    v8::V8::SetFlagsFromString(kFlags, sizeof(kFlags) - 1);
    process->platform = v8::platform::NewDefaultPlatform();
    process->host = isobox::NewPlatform(process->platform.get());
    v8::V8::InitializePlatform(process->host != nullptr ? process->host.get() : process->platform.get());
    if (!v8::V8::Initialize()) {
      process->error = "V8 failed to initialise";
    } else if (snapshot_len > 0) {
      // A snapshot another process of this same program built: V8 checks it belongs to this build.
      char *copy = snapshot_len <= INT_MAX ? new char[snapshot_len] : nullptr;
      if (copy != nullptr) std::memcpy(copy, snapshot, snapshot_len);
      process->snapshot = v8::StartupData{copy, static_cast<int>(copy != nullptr ? snapshot_len : 0)};
      process->hooks_index = static_cast<size_t>(hooks_index);
      if (copy == nullptr || !process->snapshot.IsValid()) process->error = "the startup snapshot given is not valid";
    } else if (!CreateSnapshot(std::string(globals, globals_len), std::string(prelude, prelude_len))) {
      process->error = "V8 could not build isobox's startup snapshot (the prelude failed to evaluate)";
    }
  });
  return process->error;
}

void isobox_v8_snapshot(const uint8_t **data, size_t *len, uint64_t *hooks_index) {
  *data = reinterpret_cast<const uint8_t *>(process->snapshot.data);
  *len = static_cast<size_t>(process->snapshot.raw_size);
  *hooks_index = process->hooks_index;
}

isobox_v8_sandbox *isobox_v8_sandbox_new(uint64_t memory_bytes) {
  auto *sandbox = new isobox_v8_sandbox;
  sandbox->memory_bytes = memory_bytes;
  sandbox->buffers = std::make_shared<BufferAllocator>(memory_bytes);
  v8::Isolate::CreateParams params;
  params.constraints.ConfigureDefaultsFromHeapSize(0, static_cast<size_t>(memory_bytes));
  params.array_buffer_allocator_shared = sandbox->buffers;
  params.snapshot_blob = &process->snapshot;
  params.external_references = kExternalReferences;
  // `Atomics.wait` would block the sandbox's thread.
  params.allow_atomics_wait = false;
  v8::Isolate *isolate = v8::Isolate::New(params);
  sandbox->isolate = isolate;
  isolate->SetData(kSandboxSlot, sandbox);
  sandbox->buffers->Attach(isolate, sandbox);
  isolate->AddNearHeapLimitCallback(NearHeapLimit, sandbox);
  isolate->SetOOMErrorHandler(OutOfMemory);
  isolate->SetMicrotasksPolicy(v8::MicrotasksPolicy::kExplicit);
  isolate->SetAllowWasmCodeGenerationCallback(OnlyTheProbe);
  isolate->SetWasmExceptionsEnabledCallback(WasmExceptions);

  bool ready;
  {
    v8::Isolate::Scope isolate_scope(isolate);
    v8::HandleScope handle_scope(isolate);
    v8::Local<v8::Context> context = v8::Context::New(isolate);
    ready = !context.IsEmpty();
    if (ready) {
      sandbox->context.Reset(isolate, context);
      v8::Context::Scope context_scope(context);
      ready = TakeWebAssembly(sandbox, context) && TakeHooks(sandbox, context);
    }
  }
  if (!ready) {
    isobox_v8_sandbox_free(sandbox);
    return nullptr;
  }
  return sandbox;
}

void isobox_v8_sandbox_attach(isobox_v8_sandbox *sandbox, const isobox_v8_host *host) { sandbox->host = *host; }

int isobox_v8_start(isobox_v8_sandbox *sandbox, const uint8_t *code, size_t code_len, const uint8_t *input,
                    size_t input_len, const uint8_t *manifest, size_t manifest_len, uint32_t stack_bytes) {
  Enter enter(sandbox);
  // The limit counts from here; the caller's thread has room for it and for V8's own frames beyond it.
  auto here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  sandbox->isolate->SetStackLimit(here - stack_bytes - kCompileStackBytes);
  int status = Start(sandbox, enter.context(), code, code_len, input, input_len, manifest, manifest_len);
  ReportRefusal(sandbox);
  CheckHeap(sandbox);
  return status;
}

int isobox_v8_run_jobs(isobox_v8_sandbox *sandbox) {
  Enter enter(sandbox);
  int status = RunJobs(sandbox);
  ReportRefusal(sandbox);
  CheckHeap(sandbox);
  return status;
}

int isobox_v8_settle(isobox_v8_sandbox *sandbox) {
  Enter enter(sandbox);
  int status = Settle(sandbox, enter.context());
  ReportRefusal(sandbox);
  CheckHeap(sandbox);
  return status;
}

void isobox_v8_outcome(const isobox_v8_sandbox *sandbox, const uint8_t **text, size_t *len) {
  *text = reinterpret_cast<const uint8_t *>(sandbox->outcome.data());
  *len = sandbox->outcome.size();
}

uint64_t isobox_v8_memory_bytes(isobox_v8_sandbox *sandbox) {
  v8::HeapStatistics statistics;
  sandbox->isolate->GetHeapStatistics(&statistics);
  return statistics.used_heap_size() + sandbox->buffers->live();
}

void isobox_v8_terminate(isobox_v8_sandbox *sandbox) { sandbox->isolate->TerminateExecution(); }

void isobox_v8_sandbox_free(isobox_v8_sandbox *sandbox) {
  v8::Isolate *isolate = sandbox->isolate;
  sandbox->promise.Reset();
  sandbox->start.Reset();
  sandbox->success.Reset();
  sandbox->failure.Reset();
  sandbox->probe.Reset();
  sandbox->probe_value.Reset();
  sandbox->web_assembly.Reset();
  sandbox->make_method.Reset();
  sandbox->context.Reset();
  // The default platform keeps a task queue per isolate until told the isolate is going. Before `Dispose`, so that an
  // isolate created meanwhile at the same address (on another thread) cannot be given this isolate's queue.
  v8::platform::NotifyIsolateShutdown(process->platform.get(), isolate);
  isolate->Dispose();
  delete sandbox;
}

}  // extern "C"
