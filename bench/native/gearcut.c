// The block chunker's cut loop in C, for the throughput bench only: same gear table, masks and
// rules as packages/core/src/blocks/gearCuts.ts, over one whole chunk.
// cuts(data, gear, min, avg, max, out) writes each block's length to `out`, returns the count.
#include <node_api.h>
#include <stdint.h>

static uint32_t top_bits(int bits) { return bits >= 32 ? 0xffffffffu : ~((1u << (32 - bits)) - 1); }

static napi_value cuts(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint8_t *data; size_t n; uint32_t *gear; size_t gn; uint32_t *out; size_t on;
  napi_typedarray_type t; napi_value ab; size_t off;
  napi_get_typedarray_info(env, argv[0], &t, &n, (void **)&data, &ab, &off);
  napi_get_typedarray_info(env, argv[1], &t, &gn, (void **)&gear, &ab, &off);
  uint32_t min, avg, max;
  napi_get_value_uint32(env, argv[2], &min);
  napi_get_value_uint32(env, argv[3], &avg);
  napi_get_value_uint32(env, argv[4], &max);
  napi_get_typedarray_info(env, argv[5], &t, &on, (void **)&out, &ab, &off);
  int bits = 0;
  while ((1u << bits) < avg) bits++;
  uint32_t maskS = top_bits(bits + 2), maskL = top_bits(bits - 2);
  size_t start = 0, count = 0;
  while (start < n && count < on) {
    size_t pos = start + min < n ? start + min : n;
    size_t end = start + avg < n ? start + avg : n;
    uint32_t fp = 0;
    int cut = 0;
    for (; pos < end; pos++) {
      fp = (fp << 1) + gear[data[pos]];
      if (!(fp & maskS)) { pos++; cut = 1; break; }
    }
    if (!cut) {
      end = start + max < n ? start + max : n;
      for (; pos < end; pos++) {
        fp = (fp << 1) + gear[data[pos]];
        if (!(fp & maskL)) { pos++; break; }
      }
    }
    out[count++] = (uint32_t)(pos - start);
    start = pos;
  }
  napi_value result;
  napi_create_uint32(env, (uint32_t)count, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "cuts", NAPI_AUTO_LENGTH, cuts, NULL, &fn);
  napi_set_named_property(env, exports, "cuts", fn);
  return exports;
}
