/* SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * A TEST DOUBLE of the HailoRT 4.2x C API (libhailort) -- the subset hmg calls. Built only for
 * tests; never installed or shipped. It behaves as a Hailo-8 with one network loaded would:
 *
 *  - one physical device per machine (HAILORT_DOUBLE_DEVICES), so a second vdevice fails with
 *    HAILO_OUT_OF_PHYSICAL_DEVICES (74) exactly like the real scheduler-less case;
 *  - HEF files are checked like HailoRT does (magic, header version, hw_arch against the
 *    device architecture, HAILORT_DOUBLE_ARCH = hailo8 | hailo8l);
 *  - the network (vstream names, NHWC shapes, quantization, NMS shape) and the output frames
 *    come from a manifest next to the HEF (`<file>.hef.double`, written by
 *    scripts/make-hailo-fixtures from a real YOLOv8n); an input frame is matched to its
 *    recorded outputs by an FNV-1a hash of its bytes (unknown frames get the recorded ones in
 *    turn);
 *  - HAILORT_DOUBLE_DUMP=file appends every input frame to `file` (tests record outputs for them);
 *  - each frame takes HAILORT_DOUBLE_FRAME_US of "device time" (frames run back to back);
 *  - any function can be made to fail with a given status: hailort_double_fail("name", status)
 *    or HAILORT_DOUBLE_FAIL=name:status.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Every type, constant and prototype comes from HailoRT's own header (4.20.0, built by
   scripts/build-libhailort): a double that disagreed with it would not compile. */
#include <hailo/hailort.h>

/* Statuses HailoRT added in 4.21 (after the 4.20 header this double is built against). */
#define HAILO_HEF_FILE_CORRUPTED_4_21 91
#define HAILO_HEF_NOT_SUPPORTED_4_21 92
#define HAILO_HEF_NOT_COMPATIBLE_WITH_DEVICE_4_21 93

#define MAX_NAME HAILO_MAX_STREAM_NAME_SIZE
#define MAX_NETWORK_NAME HAILO_MAX_NETWORK_NAME_SIZE
#define MAX_OUTPUTS 16
#define MAX_FRAMES 512
/* HAILO_DEFAULT_VSTREAM_QUEUE_SIZE: frames written ahead of the oldest unread one. */
#define QUEUE_DEPTH 2

/* Handles carry a tag, so that one passed where another kind is expected fails loudly (the
   real library would read garbage). */
enum { TAG_VDEVICE = 0x56444556, TAG_HEF = 0x48454621, TAG_NG = 0x4e472121, TAG_VSTREAM = 0x56535452 };

typedef struct {
    char name[MAX_NAME];
    uint32_t h, w, c;           /* NHWC raw output, or classes / max per class for NMS */
    bool nms;
    float zp, scale;
    size_t frame_size;          /* bytes of the user buffer in the native type */
} stream_t;

typedef struct {
    uint64_t hash;
    uint8_t *data;              /* all outputs of one frame, back to back, native type */
} recorded_t;

typedef struct _hailo_hef {
    uint32_t tag;
    int hw_arch;
    char network[MAX_NETWORK_NAME];
    stream_t input;
    stream_t outputs[MAX_OUTPUTS];
    size_t n_outputs;
    recorded_t frames[MAX_FRAMES];
    size_t n_frames;
} hef_t;

typedef struct pending_s {
    size_t recorded;            /* index into hef->frames */
    uint64_t done_ns;
} pending_t;

typedef struct _hailo_configured_network_group {
    uint32_t tag;
    hef_t *hef;
    struct _hailo_vdevice *vdevice;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pending_t queue[QUEUE_DEPTH];
    uint64_t written;           /* frames written so far */
    uint64_t read[MAX_OUTPUTS]; /* frames read per output */
    uint64_t last_done_ns;
    size_t next_unknown;
    float nms_score_threshold;
    float nms_iou_threshold;
    int batch_size;
    uint64_t frame_ns;          /* device time per frame, read once at configure */
    bool strict;                /* HAILORT_DOUBLE_STRICT=1: an unrecorded input frame is an error */
} ng_t;

typedef struct _hailo_vdevice { uint32_t tag; int unused; } vdevice_t;
/* Input and output vstreams share one representation; `input` tells them apart. */
typedef struct vstream_s { uint32_t tag; ng_t *ng; size_t index; bool input; int type; } vstream_t;
struct _hailo_input_vstream { vstream_t v; };
struct _hailo_output_vstream { vstream_t v; };

/* A handle of the wrong kind: report it and fail. */
static bool wrong_kind(const void *handle, uint32_t tag, const char *fn) {
    if (handle && *(const uint32_t *)handle == tag) return false;
    fprintf(stderr, "[HailoRT double] %s: %s is not a handle of the kind it takes\n", fn, handle ? "the handle" : "NULL");
    return true;
}
#define CHECK_HANDLE(h, tag, fn) do { if (wrong_kind((h), (tag), (fn))) return HAILO_INVALID_ARGUMENT; } while (0)

/* ---- global state of the fake machine ---- */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_devices_in_use;
static char g_fail_function[64];
static int g_fail_status;
static int g_last_batch_size = -1;
static float g_last_nms_iou = -1.0f;
static float g_last_nms_score = -1.0f;
static uint64_t g_frames_written;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int env_int(const char *name, int fallback) {
    const char *v = getenv(name);
    return v && *v ? atoi(v) : fallback;
}

/* Where every input frame is appended (hailort_double_dump_inputs or HAILORT_DOUBLE_DUMP), so tests
   can compare the bytes hmg feeds the device with other paths, or record outputs for them. */
static char g_dump_path[4096];
static int g_dump_on;

static const char *g_env_fail;
static void read_env(void) {
    g_env_fail = getenv("HAILORT_DOUBLE_FAIL");
    const char *dump = getenv("HAILORT_DOUBLE_DUMP");
    if (dump && *dump && !__atomic_load_n(&g_dump_on, __ATOMIC_SEQ_CST)) {
        pthread_mutex_lock(&g_lock);
        snprintf(g_dump_path, sizeof g_dump_path, "%s", dump);
        __atomic_store_n(&g_dump_on, 1, __ATOMIC_SEQ_CST);
        pthread_mutex_unlock(&g_lock);
    }
}

/* Returns the injected status for `fn`, or success. */
static hailo_status injected(const char *fn) {
    hailo_status s = HAILO_SUCCESS;
    pthread_mutex_lock(&g_lock);
    if (g_fail_function[0] && strcmp(g_fail_function, fn) == 0) s = g_fail_status;
    pthread_mutex_unlock(&g_lock);
    if (s) return s;
    /* The environment is read once: the double must not add per-frame cost of its own. */
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, read_env);
    const char *env = g_env_fail;
    if (env) {
        const char *colon = strchr(env, ':');
        if (colon && (size_t)(colon - env) == strlen(fn) && strncmp(env, fn, (size_t)(colon - env)) == 0)
            return atoi(colon + 1);
    }
    return HAILO_SUCCESS;
}
#define INJECT(fn) do { hailo_status _s = injected(fn); if (_s) return _s; } while (0)

/* ---- test controls (not part of HailoRT) ---- */
void hailort_double_fail(const char *function, int status) {
    pthread_mutex_lock(&g_lock);
    snprintf(g_fail_function, sizeof g_fail_function, "%s", function ? function : "");
    g_fail_status = status;
    pthread_mutex_unlock(&g_lock);
}
int hailort_double_last_batch_size(void) { return g_last_batch_size; }
float hailort_double_last_nms_iou(void) { return g_last_nms_iou; }
float hailort_double_last_nms_score(void) { return g_last_nms_score; }
int hailort_double_devices_in_use(void) { return g_devices_in_use; }
uint64_t hailort_double_frames_written(void) { return g_frames_written; }

/* ---- library info ---- */
/* HAILORT_DOUBLE_VERSION=x.y.z: the version reported (default 4.20.0, the header's); from
   4.21 the HEF statuses are 91-93 and v3 headers are read, as in the real releases. */
static hailo_version_t g_version;
static void read_version(void) {
    unsigned a = 4, b = 20, c = 0;
    const char *v = getenv("HAILORT_DOUBLE_VERSION");
    if (v && *v) sscanf(v, "%u.%u.%u", &a, &b, &c);
    g_version.major = a; g_version.minor = b; g_version.revision = c;
}
static hailo_version_t version(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, read_version);
    return g_version;
}
static bool at_least_4_21(void) { hailo_version_t v = version(); return v.major > 4 || (v.major == 4 && v.minor >= 21); }

hailo_status hailo_get_library_version(hailo_version_t *v) {
    if (!v) return HAILO_INVALID_ARGUMENT;
    *v = version();
    return HAILO_SUCCESS;
}

const char *hailo_get_status_message(hailo_status s) {
    switch ((int)s) {
/* The header's own list of every status (an X macro). */
#define HAILO_STATUS__X(value, name) case value: return #name;
    HAILO_STATUS_VARIABLES
#undef HAILO_STATUS__X
    case HAILO_HEF_FILE_CORRUPTED_4_21: return "HAILO_HEF_FILE_CORRUPTED";
    case HAILO_HEF_NOT_SUPPORTED_4_21: return "HAILO_HEF_NOT_SUPPORTED";
    case HAILO_HEF_NOT_COMPATIBLE_WITH_DEVICE_4_21: return "HAILO_HEF_NOT_COMPATIBLE_WITH_DEVICE";
    default: return "HAILO_UNKNOWN_STATUS";
    }
}

/* ---- vdevice ---- */
hailo_status hailo_init_vdevice_params(hailo_vdevice_params_t *p) {
    INJECT("hailo_init_vdevice_params");
    if (!p) return HAILO_INVALID_ARGUMENT;
    memset(p, 0, sizeof *p);
    p->device_count = 1;
    p->scheduling_algorithm = HAILO_SCHEDULING_ALGORITHM_ROUND_ROBIN;
    p->group_id = HAILO_DEFAULT_VDEVICE_GROUP_ID;
    return HAILO_SUCCESS;
}

hailo_status hailo_create_vdevice(hailo_vdevice_params_t *p, hailo_vdevice *out) {
    INJECT("hailo_create_vdevice");
    if (!out) return HAILO_INVALID_ARGUMENT;
    uint32_t want = p ? p->device_count : 1;
    if (p && p->scheduling_algorithm != HAILO_SCHEDULING_ALGORITHM_ROUND_ROBIN) return HAILO_INVALID_ARGUMENT; /* hmg relies on the scheduler */
    pthread_mutex_lock(&g_lock);
    int available = env_int("HAILORT_DOUBLE_DEVICES", 1) - g_devices_in_use;
    if ((int)want > available) {
        pthread_mutex_unlock(&g_lock);
        fprintf(stderr, "[HailoRT double] Failed to create vdevice. there are not enough free devices. requested: %u, found: %d\n",
                want, available < 0 ? 0 : available);
        return HAILO_OUT_OF_PHYSICAL_DEVICES;
    }
    g_devices_in_use += (int)want;
    pthread_mutex_unlock(&g_lock);
    vdevice_t *v = calloc(1, sizeof *v);
    v->tag = TAG_VDEVICE;
    v->unused = (int)want;
    *out = v;
    return HAILO_SUCCESS;
}

hailo_status hailo_release_vdevice(hailo_vdevice v) {
    CHECK_HANDLE(v, TAG_VDEVICE, "hailo_release_vdevice");
    pthread_mutex_lock(&g_lock);
    g_devices_in_use -= v->unused;
    pthread_mutex_unlock(&g_lock);
    v->tag = 0;
    free(v);
    return HAILO_SUCCESS;
}

/* ---- HEF ---- */
static uint32_t be32(const uint8_t *b) { return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]; }
static uint64_t be64(const uint8_t *b) { return (uint64_t)be32(b) << 32 | be32(b + 4); }

static size_t read_file(const char *path, uint8_t **out) {
    FILE *f = fopen(path, "rb");
    if (!f) return (size_t)-1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *out = malloc(n > 0 ? (size_t)n : 1);
    size_t got = fread(*out, 1, (size_t)n, f);
    fclose(f);
    return got;
}

/* hw_arch from the protobuf: field 1 (header) -> field 1 (varint); absent = 0 (proto3). */
static int hef_hw_arch(const uint8_t *b, size_t n, size_t header_size) {
    if (n < header_size + 4 || b[header_size] != 0x0a) return 0;
    const uint8_t *p = b + header_size + 2;
    return p[0] == 0x08 ? p[1] : 0;
}

/* The file size HailoRT requires for header version `v` (hef.cpp): exact, never more or less. */
static bool declared_size(const uint8_t *b, size_t n, uint32_t v, uint64_t *size) {
    static const size_t header_sizes[] = {32, 28, 44, 56};
    size_t hs = header_sizes[v];
    if (n < hs) return false;
    uint64_t proto = be32(b + 8), code = 0;
    if (v == 1) code = be64(b + 16);
    if (v == 2) code = be64(b + 20);
    if (v == 3) code = be64(b + 20) + be64(b + 32); /* ccws_size_with_padding + additional_info_size */
    *size = hs + proto + code;
    return true;
}

static bool parse_manifest(hef_t *h, const char *hef_path) {
    char path[4096];
    snprintf(path, sizeof path, "%s.double", hef_path);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", hef_path);
    char *slash = strrchr(dir, '/');
    if (slash) slash[1] = 0; else dir[0] = 0;
    char line[1024];
    bool ok = true;
    while (ok && fgets(line, sizeof line, f)) {
        char name[MAX_NAME], file[512];
        unsigned a, b, c;
        float zp, scale;
        unsigned long long hash;
        if (line[0] == '#' || line[0] == '\n') continue;
        if (sscanf(line, "network %256s", h->network) == 1) continue;
        if (sscanf(line, "input %127s %u %u %u", name, &a, &b, &c) == 4) {
            snprintf(h->input.name, MAX_NAME, "%s", name);
            h->input.h = a; h->input.w = b; h->input.c = c;
            h->input.frame_size = (size_t)a * b * c;
            continue;
        }
        if (h->n_outputs < MAX_OUTPUTS && sscanf(line, "output %127s %u %u %u %f %f", name, &a, &b, &c, &zp, &scale) == 6) {
            stream_t *s = &h->outputs[h->n_outputs++];
            snprintf(s->name, MAX_NAME, "%s", name);
            s->h = a; s->w = b; s->c = c; s->zp = zp; s->scale = scale;
            s->frame_size = (size_t)a * b * c;
            continue;
        }
        if (h->n_outputs < MAX_OUTPUTS && sscanf(line, "nms_output %127s %u %u", name, &a, &b) == 3) {
            stream_t *s = &h->outputs[h->n_outputs++];
            snprintf(s->name, MAX_NAME, "%s", name);
            s->nms = true; s->c = a; s->w = b; s->h = 1; s->scale = 1.0f;
            s->frame_size = (size_t)a * (1 + 5 * (size_t)b) * sizeof(float);
            continue;
        }
        if (h->n_frames < MAX_FRAMES && sscanf(line, "frame %llx %511s", &hash, file) == 2) {
            char full[4608];
            snprintf(full, sizeof full, "%s%s", dir, file);
            size_t total = 0;
            for (size_t i = 0; i < h->n_outputs; i++) total += h->outputs[i].frame_size;
            recorded_t *r = &h->frames[h->n_frames];
            size_t n = read_file(full, &r->data);
            if (n != total) {
                fprintf(stderr, "[HailoRT double] %s: %zu bytes, the outputs need %zu\n", full, n, total);
                ok = false;
                continue;
            }
            r->hash = hash;
            h->n_frames++;
            continue;
        }
        fprintf(stderr, "[HailoRT double] %s: cannot read line: %s", path, line);
        ok = false;
    }
    fclose(f);
    return ok && h->input.frame_size > 0 && h->n_outputs > 0 && h->n_frames > 0;
}

hailo_status hailo_create_hef_file(hailo_hef *out, const char *file_name) {
    INJECT("hailo_create_hef_file");
    if (!out || !file_name) return HAILO_INVALID_ARGUMENT;
    uint8_t *b = NULL;
    size_t n = read_file(file_name, &b);
    if (n == (size_t)-1) return HAILO_OPEN_FILE_FAILURE;
    /* 4.20 answers HAILO_INVALID_HEF for every header fault; 4.21 splits them into 91 / 92. */
    hailo_status not_supported = at_least_4_21() ? HAILO_HEF_NOT_SUPPORTED_4_21 : HAILO_INVALID_HEF;
    hailo_status corrupted = at_least_4_21() ? HAILO_HEF_FILE_CORRUPTED_4_21 : HAILO_INVALID_HEF;
    uint32_t v = n >= 12 ? be32(b + 4) : 0;
    if (n < 12 || be32(b) != 0x01484546 || v > 3 || (v == 3 && !at_least_4_21())) {
        fprintf(stderr, "[HailoRT double] %s: not a HEF this HailoRT reads (magic or header version %u)\n", file_name, v);
        free(b);
        return not_supported;
    }
    uint64_t want = 0;
    if (!declared_size(b, n, v, &want) || want != n) {
        fprintf(stderr, "[HailoRT double] %s: HEF file length does not match (%zu bytes, header declares %llu)\n",
                file_name, n, (unsigned long long)want);
        free(b);
        return corrupted;
    }
    static const size_t header_sizes[] = {32, 28, 44, 56};
    hef_t *h = calloc(1, sizeof *h);
    h->tag = TAG_HEF;
    h->hw_arch = hef_hw_arch(b, n, header_sizes[v]);
    free(b);
    if (!parse_manifest(h, file_name)) {
        free(h);
        return HAILO_INVALID_HEF;
    }
    *out = h;
    return HAILO_SUCCESS;
}

hailo_status hailo_release_hef(hailo_hef h) {
    CHECK_HANDLE(h, TAG_HEF, "hailo_release_hef");
    for (size_t i = 0; i < h->n_frames; i++) free(h->frames[i].data);
    h->tag = 0;
    free(h);
    return HAILO_SUCCESS;
}

static void fill_info(const hef_t *h, const stream_t *s, bool input, hailo_vstream_info_t *info) {
    memset(info, 0, sizeof *info);
    snprintf(info->name, MAX_NAME, "%s", s->name);
    snprintf(info->network_name, MAX_NETWORK_NAME, "%s/%s", h->network, h->network);
    info->direction = input ? HAILO_H2D_STREAM : HAILO_D2H_STREAM;
    if (s->nms) {
        info->format.type = HAILO_FORMAT_TYPE_FLOAT32;
        info->format.order = HAILO_FORMAT_ORDER_HAILO_NMS_BY_CLASS;
        info->nms_shape.number_of_classes = s->c;
        info->nms_shape.max_bboxes_per_class = s->w;
        info->nms_shape.order_type = HAILO_NMS_RESULT_ORDER_BY_CLASS;
    } else {
        info->format.type = HAILO_FORMAT_TYPE_UINT8;
        info->format.order = HAILO_FORMAT_ORDER_NHWC;
        info->shape.height = s->h;
        info->shape.width = s->w;
        info->shape.features = s->c;
    }
    info->quant_info.qp_zp = input ? 0.0f : s->zp;
    info->quant_info.qp_scale = input ? 1.0f : s->scale;
}

hailo_status hailo_hef_get_all_vstream_infos(hailo_hef h, const char *name, hailo_vstream_info_t *infos, size_t *count) {
    INJECT("hailo_hef_get_all_vstream_infos");
    (void)name;
    CHECK_HANDLE(h, TAG_HEF, "hailo_hef_get_all_vstream_infos");
    if (!count) return HAILO_INVALID_ARGUMENT;
    size_t need = 1 + h->n_outputs;
    if (*count < need || !infos) { *count = need; return HAILO_INSUFFICIENT_BUFFER; }
    fill_info(h, &h->input, true, &infos[0]);
    for (size_t i = 0; i < h->n_outputs; i++) fill_info(h, &h->outputs[i], false, &infos[1 + i]);
    *count = need;
    return HAILO_SUCCESS;
}

/* ---- configure ---- */
hailo_status hailo_init_configure_params_by_vdevice(hailo_hef h, hailo_vdevice v, hailo_configure_params_t *params) {
    INJECT("hailo_init_configure_params_by_vdevice");
    CHECK_HANDLE(h, TAG_HEF, "hailo_init_configure_params_by_vdevice");
    CHECK_HANDLE(v, TAG_VDEVICE, "hailo_init_configure_params_by_vdevice");
    if (!params) return HAILO_INVALID_ARGUMENT;
    memset(params, 0, sizeof *params);
    params->network_group_params_count = 1;
    snprintf(params->network_group_params[0].name, sizeof params->network_group_params[0].name, "%s", h->network);
    params->network_group_params[0].batch_size = HAILO_DEFAULT_BATCH_SIZE;
    return HAILO_SUCCESS;
}

/* DeviceBase::is_hef_compatible: a Hailo-8 takes HEF architectures 1, 2, 3; an 8L only 3. */
static bool hef_runs_on(bool device_8l, int hw_arch) {
    return device_8l ? hw_arch == 3 : (hw_arch >= 1 && hw_arch <= 3);
}

hailo_status hailo_configure_vdevice(hailo_vdevice v, hailo_hef h, hailo_configure_params_t *params,
                                     hailo_configured_network_group *groups, size_t *count) {
    INJECT("hailo_configure_vdevice");
    CHECK_HANDLE(v, TAG_VDEVICE, "hailo_configure_vdevice");
    CHECK_HANDLE(h, TAG_HEF, "hailo_configure_vdevice");
    if (!groups || !count) return HAILO_INVALID_ARGUMENT;
    if (*count < 1) return HAILO_INSUFFICIENT_BUFFER;
    const char *arch = getenv("HAILORT_DOUBLE_ARCH");
    bool device_8l = arch && strcmp(arch, "hailo8l") == 0;
    if (!hef_runs_on(device_8l, h->hw_arch)) {
        fprintf(stderr, "[HailoRT double] HEF format is not compatible with device. Device arch: %s, HEF arch: %d\n",
                device_8l ? "HAILO8L" : "HAILO8", h->hw_arch);
        return at_least_4_21() ? HAILO_HEF_NOT_COMPATIBLE_WITH_DEVICE_4_21 : HAILO_INVALID_HEF;
    }
    ng_t *ng = calloc(1, sizeof *ng);
    ng->tag = TAG_NG;
    ng->hef = h;
    ng->vdevice = v;
    ng->nms_score_threshold = -1.0f;
    pthread_mutex_init(&ng->lock, NULL);
    pthread_cond_init(&ng->cond, NULL);
    ng->batch_size = params ? params->network_group_params[0].batch_size : 0;
    ng->frame_ns = (uint64_t)env_int("HAILORT_DOUBLE_FRAME_US", 0) * 1000ull;
    ng->strict = getenv("HAILORT_DOUBLE_STRICT") && strcmp(getenv("HAILORT_DOUBLE_STRICT"), "1") == 0;
    g_last_batch_size = ng->batch_size;
    groups[0] = ng;
    *count = 1;
    return HAILO_SUCCESS;
}

/* Like hailo_make_*_vstream_params: the user format's order stays AUTO (HailoRT resolves it
   when the vstream is created), the type is the one asked for. */
static hailo_status make_params(const hef_t *h, bool input, hailo_format_type_t type, hailo_input_vstream_params_by_name_t *params, size_t *count) {
    if (!params || !count) return HAILO_INVALID_ARGUMENT;
    size_t need = input ? 1 : h->n_outputs;
    if (*count < need) { *count = need; return HAILO_INSUFFICIENT_BUFFER; }
    for (size_t i = 0; i < need; i++) {
        const stream_t *s = input ? &h->input : &h->outputs[i];
        memset(&params[i], 0, sizeof params[i]);
        snprintf(params[i].name, MAX_NAME, "%s", s->name);
        params[i].params.user_buffer_format.type = type;
        params[i].params.user_buffer_format.order = HAILO_FORMAT_ORDER_AUTO;
        params[i].params.user_buffer_format.flags = HAILO_FORMAT_FLAGS_NONE;
        params[i].params.timeout_ms = HAILO_DEFAULT_VSTREAM_TIMEOUT_MS;
        params[i].params.queue_size = HAILO_DEFAULT_VSTREAM_QUEUE_SIZE;
    }
    *count = need;
    return HAILO_SUCCESS;
}

hailo_status hailo_make_input_vstream_params(hailo_configured_network_group ng, bool unused, hailo_format_type_t type,
                                             hailo_input_vstream_params_by_name_t *p, size_t *count) {
    INJECT("hailo_make_input_vstream_params");
    (void)unused;
    CHECK_HANDLE(ng, TAG_NG, "hailo_make_input_vstream_params");
    return make_params(ng->hef, true, type, p, count);
}

hailo_status hailo_make_output_vstream_params(hailo_configured_network_group ng, bool unused, hailo_format_type_t type,
                                              hailo_output_vstream_params_by_name_t *p, size_t *count) {
    INJECT("hailo_make_output_vstream_params");
    (void)unused;
    CHECK_HANDLE(ng, TAG_NG, "hailo_make_output_vstream_params");
    /* The two params-by-name structs have one layout (layout_probe.c checks it). */
    return make_params(ng->hef, false, type, (hailo_input_vstream_params_by_name_t *)p, count);
}

/* The HEF-only variants (no device): the same parameters for the HEF's first network group. */
hailo_status hailo_hef_make_input_vstream_params(hailo_hef h, const char *name, bool unused, hailo_format_type_t type,
                                                 hailo_input_vstream_params_by_name_t *p, size_t *count) {
    INJECT("hailo_hef_make_input_vstream_params");
    (void)name; (void)unused;
    CHECK_HANDLE(h, TAG_HEF, "hailo_hef_make_input_vstream_params");
    return make_params(h, true, type, p, count);
}

hailo_status hailo_hef_make_output_vstream_params(hailo_hef h, const char *name, bool unused, hailo_format_type_t type,
                                                  hailo_output_vstream_params_by_name_t *p, size_t *count) {
    INJECT("hailo_hef_make_output_vstream_params");
    (void)name; (void)unused;
    CHECK_HANDLE(h, TAG_HEF, "hailo_hef_make_output_vstream_params");
    return make_params(h, false, type, (hailo_input_vstream_params_by_name_t *)p, count);
}

static hailo_status create_vstreams(ng_t *ng, bool input, const hailo_input_vstream_params_by_name_t *params, size_t count, vstream_t **out) {
    if (!params || !out) return HAILO_INVALID_ARGUMENT;
    size_t expected = input ? 1 : ng->hef->n_outputs;
    if (count != expected) return HAILO_INVALID_ARGUMENT;
    for (size_t i = 0; i < count; i++) {
        size_t index = (size_t)-1;
        for (size_t k = 0; k < expected; k++) {
            const stream_t *s = input ? &ng->hef->input : &ng->hef->outputs[k];
            if (strncmp(s->name, params[i].name, MAX_NAME) == 0) index = k;
        }
        if (index == (size_t)-1) return HAILO_INVALID_ARGUMENT;
        const stream_t *s = input ? &ng->hef->input : &ng->hef->outputs[index];
        int type = params[i].params.user_buffer_format.type;
        if (type == HAILO_FORMAT_TYPE_AUTO) type = s->nms ? HAILO_FORMAT_TYPE_FLOAT32 : HAILO_FORMAT_TYPE_UINT8;
        if (s->nms && type != HAILO_FORMAT_TYPE_FLOAT32) return HAILO_INVALID_ARGUMENT; /* NMS is float32 only */
        if (!s->nms && type != HAILO_FORMAT_TYPE_UINT8 && type != HAILO_FORMAT_TYPE_FLOAT32) return HAILO_INVALID_ARGUMENT;
        vstream_t *v = calloc(1, sizeof(struct _hailo_input_vstream));
        v->tag = TAG_VSTREAM; v->ng = ng; v->index = index; v->input = input; v->type = type;
        out[i] = v;
    }
    return HAILO_SUCCESS;
}

hailo_status hailo_create_input_vstreams(hailo_configured_network_group ng, const hailo_input_vstream_params_by_name_t *p,
                                         size_t count, hailo_input_vstream *out) {
    INJECT("hailo_create_input_vstreams");
    CHECK_HANDLE(ng, TAG_NG, "hailo_create_input_vstreams");
    return create_vstreams(ng, true, p, count, (vstream_t **)out);
}

hailo_status hailo_create_output_vstreams(hailo_configured_network_group ng, const hailo_output_vstream_params_by_name_t *p,
                                          size_t count, hailo_output_vstream *out) {
    INJECT("hailo_create_output_vstreams");
    CHECK_HANDLE(ng, TAG_NG, "hailo_create_output_vstreams");
    return create_vstreams(ng, false, (const hailo_input_vstream_params_by_name_t *)p, count, (vstream_t **)out);
}

/* An input or output vstream handle, checked for its kind and direction. */
static vstream_t *as_vstream(const void *handle, bool input, const char *fn) {
    if (wrong_kind(handle, TAG_VSTREAM, fn)) return NULL;
    vstream_t *v = (vstream_t *)handle;
    if (v->input != input) {
        fprintf(stderr, "[HailoRT double] %s: an %s vstream passed where an %s one is expected\n", fn,
                v->input ? "input" : "output", input ? "input" : "output");
        return NULL;
    }
    return v;
}

static const stream_t *stream_of(const vstream_t *v) { return v->input ? &v->ng->hef->input : &v->ng->hef->outputs[v->index]; }

static size_t user_frame_size(const vstream_t *v) {
    const stream_t *s = stream_of(v);
    return (!s->nms && v->type == HAILO_FORMAT_TYPE_FLOAT32) ? s->frame_size * sizeof(float) : s->frame_size;
}

hailo_status hailo_get_input_vstream_info(hailo_input_vstream handle, hailo_vstream_info_t *info) {
    vstream_t *v = as_vstream(handle, true, "hailo_get_input_vstream_info");
    if (!v || !info) return HAILO_INVALID_ARGUMENT;
    fill_info(v->ng->hef, stream_of(v), true, info);
    return HAILO_SUCCESS;
}

hailo_status hailo_get_output_vstream_info(hailo_output_vstream handle, hailo_vstream_info_t *info) {
    vstream_t *v = as_vstream(handle, false, "hailo_get_output_vstream_info");
    if (!v || !info) return HAILO_INVALID_ARGUMENT;
    fill_info(v->ng->hef, stream_of(v), false, info);
    return HAILO_SUCCESS;
}

hailo_status hailo_get_input_vstream_frame_size(hailo_input_vstream handle, size_t *size) {
    vstream_t *v = as_vstream(handle, true, "hailo_get_input_vstream_frame_size");
    if (!v || !size) return HAILO_INVALID_ARGUMENT;
    *size = user_frame_size(v);
    return HAILO_SUCCESS;
}

hailo_status hailo_get_output_vstream_frame_size(hailo_output_vstream handle, size_t *size) {
    vstream_t *v = as_vstream(handle, false, "hailo_get_output_vstream_frame_size");
    if (!v || !size) return HAILO_INVALID_ARGUMENT;
    *size = user_frame_size(v);
    return HAILO_SUCCESS;
}

hailo_status hailo_vstream_set_nms_score_threshold(hailo_output_vstream handle, float32_t threshold) {
    INJECT("hailo_vstream_set_nms_score_threshold");
    vstream_t *v = as_vstream(handle, false, "hailo_vstream_set_nms_score_threshold");
    if (!v || !stream_of(v)->nms) return HAILO_INVALID_OPERATION;
    v->ng->nms_score_threshold = threshold;
    g_last_nms_score = threshold;
    return HAILO_SUCCESS;
}

hailo_status hailo_vstream_set_nms_iou_threshold(hailo_output_vstream handle, float32_t threshold) {
    INJECT("hailo_vstream_set_nms_iou_threshold");
    vstream_t *v = as_vstream(handle, false, "hailo_vstream_set_nms_iou_threshold");
    if (!v || !stream_of(v)->nms) return HAILO_INVALID_OPERATION;
    v->ng->nms_iou_threshold = threshold;
    g_last_nms_iou = threshold;
    return HAILO_SUCCESS;
}

/* ---- frames ---- */
static uint64_t fnv1a64(const uint8_t *b, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) { h ^= b[i]; h *= 0x100000001b3ull; }
    return h;
}

static bool wait_until(ng_t *ng, uint64_t deadline_ns) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t left = deadline_ns > now_ns() ? deadline_ns - now_ns() : 0;
    ts.tv_sec += (time_t)(left / 1000000000ull);
    ts.tv_nsec += (long)(left % 1000000000ull);
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    return pthread_cond_timedwait(&ng->cond, &ng->lock, &ts) != ETIMEDOUT;
}

static uint64_t oldest_unread(const ng_t *ng) {
    uint64_t oldest = ng->written;
    for (size_t i = 0; i < ng->hef->n_outputs; i++) if (ng->read[i] < oldest) oldest = ng->read[i];
    return oldest;
}

/* hailort_double_dump_inputs(path): append every input frame to `path` ("" stops). */
void hailort_double_dump_inputs(const char *path) {
    pthread_mutex_lock(&g_lock);
    snprintf(g_dump_path, sizeof g_dump_path, "%s", path ? path : "");
    __atomic_store_n(&g_dump_on, g_dump_path[0] != 0, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&g_lock);
}

hailo_status hailo_vstream_write_raw_buffer(hailo_input_vstream handle, const void *buf, size_t size) {
    INJECT("hailo_vstream_write_raw_buffer");
    vstream_t *v = as_vstream(handle, true, "hailo_vstream_write_raw_buffer");
    if (!v || !buf) return HAILO_INVALID_ARGUMENT;
    if (size != user_frame_size(v)) {
        fprintf(stderr, "[HailoRT double] write of %zu bytes, the input frame is %zu\n", size, user_frame_size(v));
        return HAILO_INVALID_ARGUMENT;
    }
    if (__atomic_load_n(&g_dump_on, __ATOMIC_RELAXED)) {
        pthread_mutex_lock(&g_lock);
        FILE *f = fopen(g_dump_path, "ab");
        if (f) { fwrite(buf, 1, size, f); fclose(f); }
        pthread_mutex_unlock(&g_lock);
    }
    ng_t *ng = v->ng;
    hef_t *h = ng->hef;
    /* With one recorded frame there is nothing to match (and hashing would cost the host time
       the benchmarks measure) -- unless strict, where every frame must be a recorded one. */
    uint64_t hash = (h->n_frames > 1 || ng->strict) ? fnv1a64(buf, size) : 0;
    size_t recorded = h->n_frames;
    for (size_t i = 0; i < h->n_frames; i++) if (h->frames[i].hash == hash) recorded = i;
    if (recorded == h->n_frames && ng->strict) {
        fprintf(stderr, "[HailoRT double] strict: no recording for this input frame (FNV-1a %016llx): the bytes "
                        "written differ from the letterboxed picture the fixtures were recorded from\n", (unsigned long long)hash);
        return HAILO_INVALID_ARGUMENT;
    }
    pthread_mutex_lock(&ng->lock);
    uint64_t deadline = now_ns() + (uint64_t)HAILO_DEFAULT_VSTREAM_TIMEOUT_MS * 1000000ull;
    while (ng->written - oldest_unread(ng) >= QUEUE_DEPTH) {
        if (!wait_until(ng, deadline) && now_ns() >= deadline) { pthread_mutex_unlock(&ng->lock); return HAILO_TIMEOUT; }
    }
    if (recorded == h->n_frames) recorded = ng->next_unknown++ % h->n_frames;
    uint64_t start = now_ns() > ng->last_done_ns ? now_ns() : ng->last_done_ns;
    ng->last_done_ns = start + ng->frame_ns;
    pending_t *p = &ng->queue[ng->written % QUEUE_DEPTH];
    p->recorded = recorded;
    p->done_ns = ng->last_done_ns;
    ng->written++;
    pthread_cond_broadcast(&ng->cond);
    pthread_mutex_unlock(&ng->lock);
    __atomic_add_fetch(&g_frames_written, 1, __ATOMIC_RELAXED);
    return HAILO_SUCCESS;
}

/* Copies recorded output `index` of frame `r`, dropping NMS boxes under the score threshold. */
static void copy_output(const ng_t *ng, const vstream_t *v, const recorded_t *r, uint8_t *dst) {
    const hef_t *h = ng->hef;
    size_t offset = 0;
    for (size_t i = 0; i < v->index; i++) offset += h->outputs[i].frame_size;
    const stream_t *s = &h->outputs[v->index];
    const uint8_t *src = r->data + offset;
    if (s->nms) {
        const float *in = (const float *)src;
        float *out = (float *)dst;
        size_t ip = 0, op = 0, total = s->frame_size / sizeof(float);
        for (uint32_t c = 0; c < s->c; c++) {
            size_t n = (size_t)in[ip++], count_at = op++, kept = 0;
            for (size_t k = 0; k < n; k++, ip += 5) {
                if (in[ip + 4] < ng->nms_score_threshold) continue;
                memcpy(&out[op], &in[ip], 5 * sizeof(float));
                op += 5;
                kept++;
            }
            out[count_at] = (float)kept;
        }
        while (op < total) out[op++] = 0.0f;
    } else if (v->type == HAILO_FORMAT_TYPE_FLOAT32) {
        float *out = (float *)dst;
        for (size_t i = 0; i < s->frame_size; i++) out[i] = ((float)src[i] - s->zp) * s->scale;
    } else {
        memcpy(dst, src, s->frame_size);
    }
}

hailo_status hailo_vstream_read_raw_buffer(hailo_output_vstream handle, void *buf, size_t size) {
    INJECT("hailo_vstream_read_raw_buffer");
    vstream_t *v = as_vstream(handle, false, "hailo_vstream_read_raw_buffer");
    if (!v || !buf) return HAILO_INVALID_ARGUMENT;
    if (size != user_frame_size(v)) return HAILO_INVALID_ARGUMENT;
    ng_t *ng = v->ng;
    pthread_mutex_lock(&ng->lock);
    uint64_t deadline = now_ns() + (uint64_t)HAILO_DEFAULT_VSTREAM_TIMEOUT_MS * 1000000ull;
    while (ng->read[v->index] >= ng->written) {
        if (!wait_until(ng, deadline) && now_ns() >= deadline) { pthread_mutex_unlock(&ng->lock); return HAILO_TIMEOUT; }
    }
    pending_t p = ng->queue[ng->read[v->index] % QUEUE_DEPTH];
    while (now_ns() < p.done_ns) wait_until(ng, p.done_ns);
    copy_output(ng, v, &ng->hef->frames[p.recorded], buf);
    ng->read[v->index]++;
    pthread_cond_broadcast(&ng->cond);
    pthread_mutex_unlock(&ng->lock);
    return HAILO_SUCCESS;
}

static hailo_status release_vstreams(const void *const *handles, size_t count, bool input, const char *fn) {
    if (!handles && count) return HAILO_INVALID_ARGUMENT;
    for (size_t i = 0; i < count; i++) if (!as_vstream(handles[i], input, fn)) return HAILO_INVALID_ARGUMENT;
    for (size_t i = 0; i < count; i++) { ((vstream_t *)handles[i])->tag = 0; free((void *)handles[i]); }
    return HAILO_SUCCESS;
}

hailo_status hailo_release_output_vstreams(const hailo_output_vstream *v, size_t count) {
    return release_vstreams((const void *const *)v, count, false, "hailo_release_output_vstreams");
}
hailo_status hailo_release_input_vstreams(const hailo_input_vstream *v, size_t count) {
    return release_vstreams((const void *const *)v, count, true, "hailo_release_input_vstreams");
}
