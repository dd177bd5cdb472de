/*
 * Two functions for forklab's queue transport: map(fd, bytes) reserves an open file's first
 * `bytes` (posix_fallocate), maps them shared (mmap MAP_SHARED) and returns the mapping as an
 * ArrayBuffer, unmapped when that ArrayBuffer is collected or given to release(). Two processes that map the same file
 * see each other's writes: what one writes there survives it, which is what lets a put or an ack
 * count as done without a system call.
 * Everything else (the rings, their indices, the wake-ups) is JavaScript (ring.ts).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <node_api.h>

static void unmap(napi_env env, void *data, void *hint) {
  (void)env;
  munmap(data, (size_t)(uintptr_t)hint);
}

static napi_value fail(napi_env env, const char *what) {
  napi_throw_error(env, NULL, what);
  return NULL;
}

static napi_value map(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2) return fail(env, "map(fd, bytes): two arguments");
  int32_t fd;
  int64_t bytes;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok) return fail(env, "map(fd, bytes): fd must be a number");
  if (napi_get_value_int64(env, argv[1], &bytes) != napi_ok || bytes <= 0) return fail(env, "map(fd, bytes): bytes must be a positive number");
  /* Reserve the file's pages first: on a tmpfs that is full (a container's small /dev/shm) this
     fails here, and the caller keeps to its socket, instead of a SIGBUS at the first write to a
     page that cannot be had. */
  int reserved = posix_fallocate(fd, 0, (off_t)bytes);
  if (reserved != 0) return fail(env, strerror(reserved));
  void *data = mmap(NULL, (size_t)bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (data == MAP_FAILED) return fail(env, strerror(errno));
  napi_value buffer;
  if (napi_create_external_arraybuffer(env, data, (size_t)bytes, unmap, (void *)(uintptr_t)bytes, &buffer) != napi_ok) {
    munmap(data, (size_t)bytes);
    return fail(env, "map(fd, bytes): the mapping could not be given to JavaScript");
  }
  return buffer;
}

/* release(buffer): detaches a mapping returned by map(), which unmaps it now rather than when the
   collector gets to it (each holds file pages that a small /dev/shm may need for the next one). */
static napi_value release(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1) return fail(env, "release(buffer): one argument");
  if (napi_detach_arraybuffer(env, argv[0]) != napi_ok) return fail(env, "release(buffer): not a mapping that can be released");
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "map", NAPI_AUTO_LENGTH, map, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "map", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "release", NAPI_AUTO_LENGTH, release, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "release", fn) != napi_ok) return NULL;
  return exports;
}
