// Stands in for isobox_v8.cc when isobox-v8 is built without V8 (libnode108 was not found), so that the workspace still
// builds. Initialisation reports why; no sandbox can be created, so nothing else is ever called.
#include <stdlib.h>

#include "isobox_v8.h"

#define UNAVAILABLE                                                                                      \
  "isobox-v8 was built without V8: libnode108 was not found under " ISOBOX_LIBNODE_PREFIX \
  "; run scripts/setup-v8.sh (or set ISOBOX_LIBNODE_PREFIX) and rebuild"

const char *isobox_v8_unavailable(void) { return UNAVAILABLE; }

const char *isobox_v8_initialize(const char *prelude, size_t prelude_len, const char *globals, size_t globals_len,
                                 int out_of_memory_exit, const uint8_t *snapshot, size_t snapshot_len,
                                 uint64_t hooks_index) {
  (void)prelude, (void)prelude_len, (void)globals, (void)globals_len, (void)out_of_memory_exit, (void)snapshot,
      (void)snapshot_len, (void)hooks_index;
  return UNAVAILABLE;
}

void isobox_v8_snapshot(const uint8_t **data, size_t *len, uint64_t *hooks_index) {
  (void)data, (void)len, (void)hooks_index;
  abort();
}

isobox_v8_sandbox *isobox_v8_sandbox_new(uint64_t memory_bytes) {
  (void)memory_bytes;
  return NULL;
}

void isobox_v8_sandbox_attach(isobox_v8_sandbox *sandbox, const isobox_v8_host *host) {
  (void)sandbox, (void)host;
  abort();
}

int isobox_v8_start(isobox_v8_sandbox *sandbox, const uint8_t *code, size_t code_len, const uint8_t *input,
                    size_t input_len, const uint8_t *manifest, size_t manifest_len, uint32_t stack_bytes) {
  (void)sandbox, (void)code, (void)code_len, (void)input, (void)input_len, (void)manifest, (void)manifest_len,
      (void)stack_bytes;
  abort();
}

int isobox_v8_run_jobs(isobox_v8_sandbox *sandbox) {
  (void)sandbox;
  abort();
}

int isobox_v8_settle(isobox_v8_sandbox *sandbox) {
  (void)sandbox;
  abort();
}

void isobox_v8_outcome(const isobox_v8_sandbox *sandbox, const uint8_t **text, size_t *len) {
  (void)sandbox, (void)text, (void)len;
  abort();
}

uint64_t isobox_v8_memory_bytes(isobox_v8_sandbox *sandbox) {
  (void)sandbox;
  abort();
}

void isobox_v8_terminate(isobox_v8_sandbox *sandbox) {
  (void)sandbox;
  abort();
}

void isobox_v8_sandbox_free(isobox_v8_sandbox *sandbox) {
  (void)sandbox;
  abort();
}

const char *isobox_v8_check_page_recycling(void) { return UNAVAILABLE; }
