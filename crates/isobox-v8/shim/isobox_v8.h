// The narrow C interface between isobox-v8's Rust code and the JavaScript engine.
//
// Everything engine-specific sits behind these functions, so the engine (today V8 10.2 from Debian's libnode108) can
// be replaced without touching the Rust side. A sandbox is one fresh isolate and context. Every function except
// `isobox_v8_initialize` and `isobox_v8_terminate` must be called on the thread that created the sandbox.
#ifndef ISOBOX_V8_H
#define ISOBOX_V8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct isobox_v8_sandbox isobox_v8_sandbox;

// What the engine reports to the host while a program runs. Every callback runs on the sandbox's thread.
typedef struct {
  void *data;
  // One console line (levels: 0 log, 1 info, 2 warn, 3 error, 4 debug), UTF-8 with lone surrogates replaced.
  // Returns false when the line does not fit in the output limit: the host is then stopping the program.
  bool (*log)(void *data, uint32_t level, const uint8_t *text, size_t len);
  // The program went past its memory limit: the host stops it.
  void (*out_of_memory)(void *data);
  // A capability call: function `function` of granted capability `capability` (indices in the manifest given to
  // `isobox_v8_start`), with `args` the JSON text of its argument array (UTF-8, lone surrogates replaced). The host may
  // block the sandbox's thread until the call is done. Returns true with the reply in `*reply` and `*reply_len` (a
  // status digit, `0` value or `1` error, then JSON text; valid until the next call), or false when the program must
  // end: the host is then stopping it (a capability limit, its deadline), and the binding terminates it.
  bool (*call)(void *data, uint32_t capability, uint32_t function, const uint8_t *args, size_t args_len,
               const uint8_t **reply, size_t *reply_len);
} isobox_v8_host;

// Statuses of a sandbox step.
enum {
  // The step produced an outcome: the JSON text of the result (from `isobox_v8_settle`).
  ISOBOX_V8_OK = 0,
  // The step produced an outcome: the JSON text of an error object with a `kind`, as isobox's prelude writes it.
  ISOBOX_V8_ERROR = 1,
  // The program was terminated (`isobox_v8_terminate`); the host knows why.
  ISOBOX_V8_TERMINATED = 2,
  // The program's promise is still pending (from `isobox_v8_start` and `isobox_v8_run_jobs`).
  ISOBOX_V8_PENDING = 3,
  // The program's promise has settled: call `isobox_v8_settle` (from `isobox_v8_start` and `isobox_v8_run_jobs`).
  ISOBOX_V8_SETTLED = 4,
};

// NULL when this build has the engine, else a static description of why it is unavailable. Starts nothing.
const char *isobox_v8_unavailable(void);

// Starts the engine once per process and builds the startup snapshot every sandbox starts from: a context in which
// `globals` (what QuickJS's guest has and V8 lacks) and `prelude` (isobox's engine-neutral prelude) were evaluated.
// Returns NULL on success, else a static description of why the engine is unavailable. Later calls return the first
// call's answer. From then on, when the engine runs out of memory for good (where V8 would abort), the process exits
// at once with status `out_of_memory_exit`: sandboxes run in processes of their own, and this tells their parent why.
// With `snapshot_len` > 0, `snapshot` (and `hooks_index`) is a snapshot another process of the same program built,
// as `isobox_v8_snapshot` gave it, used instead of building one (the sources are then unused).
const char *isobox_v8_initialize(const char *prelude, size_t prelude_len, const char *globals, size_t globals_len,
                                 int out_of_memory_exit, const uint8_t *snapshot, size_t snapshot_len,
                                 uint64_t hooks_index);

// The startup snapshot of an initialised engine, valid for the life of the process, and where the prelude's hooks
// are in it.
void isobox_v8_snapshot(const uint8_t **data, size_t *len, uint64_t *hooks_index);

// A fresh isolate and context from the startup snapshot. `memory_bytes` bounds the JavaScript heap and, separately,
// the contents of ArrayBuffers. Returns NULL when the sandbox could not be set up (for instance when the memory limit
// was reached while setting it up). It may be made ahead of its request: it reports to no host until attached.
isobox_v8_sandbox *isobox_v8_sandbox_new(uint64_t memory_bytes);

// Makes `host` the one the sandbox reports console lines and memory exhaustion to, and hands capability calls to;
// before `isobox_v8_start`. `host` must outlive the sandbox.
void isobox_v8_sandbox_attach(isobox_v8_sandbox *sandbox, const isobox_v8_host *host);

// Compiles `code` as the body of an async function in `agent.js`, and calls it with `input` (JSON text, or empty for
// `undefined`), once the capabilities of `manifest` are installed (JSON text `[[global, [method, ...]], ...]`, or
// empty for none; their calls reach the host's `call`). The JavaScript stack may grow `stack_bytes` below the
// caller's stack position, plus the 40 KiB V8 keeps for compiling. Returns PENDING, SETTLED, ERROR (a syntax error or
// a synchronous throw) or TERMINATED.
int isobox_v8_start(isobox_v8_sandbox *sandbox, const uint8_t *code, size_t code_len, const uint8_t *input,
                    size_t input_len, const uint8_t *manifest, size_t manifest_len, uint32_t stack_bytes);

// Runs queued jobs (promise reactions, engine tasks) until none is left or the program's promise settles. Returns
// PENDING (nothing left to run and the promise still pending), SETTLED or TERMINATED.
int isobox_v8_run_jobs(isobox_v8_sandbox *sandbox);

// Reports the settled promise: OK with its value as JSON, or ERROR. May return TERMINATED.
int isobox_v8_settle(isobox_v8_sandbox *sandbox);

// The outcome text of the last step that returned OK or ERROR; valid until the next call on the sandbox.
void isobox_v8_outcome(const isobox_v8_sandbox *sandbox, const uint8_t **text, size_t *len);

// The sandbox's memory: JavaScript heap in use plus live ArrayBuffer contents.
uint64_t isobox_v8_memory_bytes(isobox_v8_sandbox *sandbox);

// Stops the running program as soon as possible. Callable from any thread while the sandbox exists.
void isobox_v8_terminate(isobox_v8_sandbox *sandbox);

// Disposes of the isolate and everything in it.
void isobox_v8_sandbox_free(isobox_v8_sandbox *sandbox);

// Checks the page allocator isolates get their heap from (platform.h) on pages of its own, outside any isolate:
// NULL when every chunk it hands out reads as zero and is recycled as it should be, else what went wrong.
const char *isobox_v8_check_page_recycling(void);

#ifdef __cplusplus
}
#endif

#endif
