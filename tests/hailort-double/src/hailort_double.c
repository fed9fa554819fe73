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

#define HAILO_SUCCESS 0
#define HAILO_INVALID_ARGUMENT 2
#define HAILO_TIMEOUT 4
#define HAILO_INSUFFICIENT_BUFFER 5
#define HAILO_INVALID_OPERATION 6
#define HAILO_OPEN_FILE_FAILURE 13
#define HAILO_INVALID_HEF 26
#define HAILO_OUT_OF_PHYSICAL_DEVICES 74
#define HAILO_HEF_FILE_CORRUPTED 91
#define HAILO_HEF_NOT_SUPPORTED 92
#define HAILO_HEF_NOT_COMPATIBLE_WITH_DEVICE 93

#define MAX_NAME 128
#define MAX_NETWORK_NAME 257
#define MAX_OUTPUTS 16
#define MAX_FRAMES 64
#define QUEUE_DEPTH 4

typedef int hailo_status;

typedef struct { uint32_t major, minor, revision; } hailo_version_t;
typedef struct {
    uint32_t device_count;
    void *device_ids;
    int scheduling_algorithm;
    const char *group_id;
    bool multi_process_service;
} hailo_vdevice_params_t;
typedef struct { int type; int order; int flags; } hailo_format_t;
typedef struct { float qp_zp, qp_scale, limvals_min, limvals_max; } hailo_quant_info_t;
typedef struct { uint32_t height, width, features; } hailo_3d_image_shape_t;
typedef struct { uint32_t number_of_classes, max_bboxes_per_class, max_bboxes_total, max_accumulated_mask_size; } hailo_nms_shape_t;
typedef struct {
    char name[MAX_NAME];
    char network_name[MAX_NETWORK_NAME];
    int direction;
    hailo_format_t format;
    union { hailo_3d_image_shape_t shape; hailo_nms_shape_t nms_shape; };
    hailo_quant_info_t quant_info;
} hailo_vstream_info_t;
typedef struct {
    hailo_format_t user_buffer_format;
    uint32_t timeout_ms, queue_size;
    int vstream_stats_flags, pipeline_elements_stats_flags;
} hailo_vstream_params_t;
typedef struct { char name[MAX_NAME]; hailo_vstream_params_t params; } hailo_vstream_params_by_name_t;

enum { TYPE_AUTO = 0, TYPE_UINT8 = 1, TYPE_FLOAT32 = 3 };
enum { ORDER_NHWC = 1, ORDER_NMS_BY_CLASS = 22 };
/* Offsets of hailo_configure_params_t we honour: the first group's name and batch size. */
#define CONFIGURE_GROUP_NAME_OFFSET 8
#define CONFIGURE_BATCH_OFFSET (8 + 128)

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

typedef struct hef_s {
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

typedef struct ng_s {
    hef_t *hef;
    struct vdevice_s *vdevice;
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
} ng_t;

typedef struct vdevice_s { int unused; } vdevice_t;
typedef struct { ng_t *ng; size_t index; bool input; int type; } vstream_t;

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

static const char *g_env_fail;
static void read_env(void) { g_env_fail = getenv("HAILORT_DOUBLE_FAIL"); }

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
hailo_status hailo_get_library_version(hailo_version_t *v) {
    if (!v) return HAILO_INVALID_ARGUMENT;
    v->major = 4; v->minor = 23; v->revision = 0;
    return HAILO_SUCCESS;
}

const char *hailo_get_status_message(hailo_status s) {
    switch (s) {
    case 0: return "HAILO_SUCCESS";
    case 2: return "HAILO_INVALID_ARGUMENT";
    case 4: return "HAILO_TIMEOUT";
    case 5: return "HAILO_INSUFFICIENT_BUFFER";
    case 6: return "HAILO_INVALID_OPERATION";
    case 13: return "HAILO_OPEN_FILE_FAILURE";
    case 26: return "HAILO_INVALID_HEF";
    case 64: return "HAILO_DRIVER_NOT_INSTALLED";
    case 73: return "HAILO_DEVICE_IN_USE";
    case 74: return "HAILO_OUT_OF_PHYSICAL_DEVICES";
    case 76: return "HAILO_INVALID_DRIVER_VERSION";
    case 91: return "HAILO_HEF_FILE_CORRUPTED";
    case 92: return "HAILO_HEF_NOT_SUPPORTED";
    case 93: return "HAILO_HEF_NOT_COMPATIBLE_WITH_DEVICE";
    default: return "HAILO_UNKNOWN_STATUS";
    }
}

/* ---- vdevice ---- */
hailo_status hailo_init_vdevice_params(hailo_vdevice_params_t *p) {
    INJECT("hailo_init_vdevice_params");
    if (!p) return HAILO_INVALID_ARGUMENT;
    memset(p, 0, sizeof *p);
    p->device_count = 1;
    p->scheduling_algorithm = 1;
    p->group_id = "UNIQUE";
    return HAILO_SUCCESS;
}

hailo_status hailo_create_vdevice(hailo_vdevice_params_t *p, vdevice_t **out) {
    INJECT("hailo_create_vdevice");
    if (!out) return HAILO_INVALID_ARGUMENT;
    uint32_t want = p ? p->device_count : 1;
    if (p && p->scheduling_algorithm != 1) return HAILO_INVALID_ARGUMENT; /* hmg relies on the scheduler */
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
    *out = calloc(1, sizeof(vdevice_t));
    (*out)->unused = (int)want;
    return HAILO_SUCCESS;
}

hailo_status hailo_release_vdevice(vdevice_t *v) {
    if (!v) return HAILO_INVALID_ARGUMENT;
    pthread_mutex_lock(&g_lock);
    g_devices_in_use -= v->unused;
    pthread_mutex_unlock(&g_lock);
    free(v);
    return HAILO_SUCCESS;
}

/* ---- HEF ---- */
static uint32_t be32(const uint8_t *b) { return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]; }

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

/* hw_arch from the protobuf preamble: field 1 (header) -> field 1 (varint). */
static int hef_hw_arch(const uint8_t *b, size_t n, size_t header_size) {
    if (n < header_size + 4 || b[header_size] != 0x0a) return 0;
    const uint8_t *p = b + header_size + 2;
    return p[0] == 0x08 ? p[1] : 0;
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

hailo_status hailo_create_hef_file(hef_t **out, const char *file_name) {
    INJECT("hailo_create_hef_file");
    if (!out || !file_name) return HAILO_INVALID_ARGUMENT;
    uint8_t *b = NULL;
    size_t n = read_file(file_name, &b);
    if (n == (size_t)-1) return HAILO_OPEN_FILE_FAILURE;
    static const size_t header_sizes[] = {32, 28, 44, 56};
    if (n < 12 || be32(b) != 0x01484546 || be32(b + 4) > 3) { free(b); return HAILO_HEF_NOT_SUPPORTED; }
    size_t header_size = header_sizes[be32(b + 4)];
    if (n < header_size + be32(b + 8)) { free(b); return HAILO_HEF_FILE_CORRUPTED; }
    hef_t *h = calloc(1, sizeof *h);
    h->hw_arch = hef_hw_arch(b, n, header_size);
    free(b);
    if (!parse_manifest(h, file_name)) {
        free(h);
        return HAILO_INVALID_HEF;
    }
    *out = h;
    return HAILO_SUCCESS;
}

hailo_status hailo_release_hef(hef_t *h) {
    if (!h) return HAILO_INVALID_ARGUMENT;
    for (size_t i = 0; i < h->n_frames; i++) free(h->frames[i].data);
    free(h);
    return HAILO_SUCCESS;
}

static void fill_info(const hef_t *h, const stream_t *s, bool input, hailo_vstream_info_t *info) {
    memset(info, 0, sizeof *info);
    snprintf(info->name, MAX_NAME, "%s", s->name);
    snprintf(info->network_name, MAX_NETWORK_NAME, "%s/%s", h->network, h->network);
    info->direction = input ? 0 : 1;
    if (s->nms) {
        info->format.type = TYPE_FLOAT32;
        info->format.order = ORDER_NMS_BY_CLASS;
        info->nms_shape.number_of_classes = s->c;
        info->nms_shape.max_bboxes_per_class = s->w;
        info->nms_shape.max_bboxes_total = s->c * s->w;
    } else {
        info->format.type = TYPE_UINT8;
        info->format.order = ORDER_NHWC;
        info->shape.height = s->h;
        info->shape.width = s->w;
        info->shape.features = s->c;
    }
    info->quant_info.qp_zp = input ? 0.0f : s->zp;
    info->quant_info.qp_scale = input ? 1.0f : s->scale;
}

hailo_status hailo_hef_get_all_vstream_infos(hef_t *h, const char *name, hailo_vstream_info_t *infos, size_t *count) {
    INJECT("hailo_hef_get_all_vstream_infos");
    (void)name;
    if (!h || !count) return HAILO_INVALID_ARGUMENT;
    size_t need = 1 + h->n_outputs;
    if (*count < need || !infos) { *count = need; return HAILO_INSUFFICIENT_BUFFER; }
    fill_info(h, &h->input, true, &infos[0]);
    for (size_t i = 0; i < h->n_outputs; i++) fill_info(h, &h->outputs[i], false, &infos[1 + i]);
    *count = need;
    return HAILO_SUCCESS;
}

/* ---- configure ---- */
hailo_status hailo_init_configure_params_by_vdevice(hef_t *h, vdevice_t *v, void *params) {
    INJECT("hailo_init_configure_params_by_vdevice");
    if (!h || !v || !params) return HAILO_INVALID_ARGUMENT;
    /* Only the fields hmg touches: group count, first group's name, its batch size (0 = auto). */
    *(size_t *)params = 1;
    snprintf((char *)params + CONFIGURE_GROUP_NAME_OFFSET, 128, "%s", h->network);
    *(uint16_t *)((char *)params + CONFIGURE_BATCH_OFFSET) = 0;
    return HAILO_SUCCESS;
}

hailo_status hailo_configure_vdevice(vdevice_t *v, hef_t *h, void *params, ng_t **groups, size_t *count) {
    INJECT("hailo_configure_vdevice");
    if (!v || !h || !groups || !count) return HAILO_INVALID_ARGUMENT;
    if (*count < 1) return HAILO_INSUFFICIENT_BUFFER;
    const char *arch = getenv("HAILORT_DOUBLE_ARCH");
    bool device_8l = arch && strcmp(arch, "hailo8l") == 0;
    /* HailoRT 4.23: a Hailo-8 takes HEF arch 1, 2, 3 (and the 0 of older DFCs); an 8L only 3. */
    bool ok = device_8l ? h->hw_arch == 3 : (h->hw_arch >= 0 && h->hw_arch <= 3);
    if (!ok) {
        fprintf(stderr, "[HailoRT double] HEF format is not compatible with device. Device arch: %s, HEF arch: %d\n",
                device_8l ? "HAILO8L" : "HAILO8", h->hw_arch);
        return HAILO_HEF_NOT_COMPATIBLE_WITH_DEVICE;
    }
    ng_t *ng = calloc(1, sizeof *ng);
    ng->hef = h;
    ng->vdevice = v;
    ng->nms_score_threshold = -1.0f;
    pthread_mutex_init(&ng->lock, NULL);
    pthread_cond_init(&ng->cond, NULL);
    ng->batch_size = params ? *(uint16_t *)((char *)params + CONFIGURE_BATCH_OFFSET) : 0;
    ng->frame_ns = (uint64_t)env_int("HAILORT_DOUBLE_FRAME_US", 0) * 1000ull;
    g_last_batch_size = ng->batch_size;
    groups[0] = ng;
    *count = 1;
    return HAILO_SUCCESS;
}

static hailo_status make_params(ng_t *ng, bool input, int type, hailo_vstream_params_by_name_t *params, size_t *count) {
    if (!ng || !params || !count) return HAILO_INVALID_ARGUMENT;
    size_t need = input ? 1 : ng->hef->n_outputs;
    if (*count < need) { *count = need; return HAILO_INSUFFICIENT_BUFFER; }
    for (size_t i = 0; i < need; i++) {
        const stream_t *s = input ? &ng->hef->input : &ng->hef->outputs[i];
        memset(&params[i], 0, sizeof params[i]);
        snprintf(params[i].name, MAX_NAME, "%s", s->name);
        params[i].params.user_buffer_format.type = type == TYPE_AUTO ? (s->nms ? TYPE_FLOAT32 : TYPE_UINT8) : type;
        params[i].params.user_buffer_format.order = s->nms ? ORDER_NMS_BY_CLASS : ORDER_NHWC;
        params[i].params.timeout_ms = 10000;
        params[i].params.queue_size = 2;
    }
    *count = need;
    return HAILO_SUCCESS;
}

hailo_status hailo_make_input_vstream_params(ng_t *ng, bool unused, int type, hailo_vstream_params_by_name_t *p, size_t *count) {
    INJECT("hailo_make_input_vstream_params");
    (void)unused;
    return make_params(ng, true, type, p, count);
}

hailo_status hailo_make_output_vstream_params(ng_t *ng, bool unused, int type, hailo_vstream_params_by_name_t *p, size_t *count) {
    INJECT("hailo_make_output_vstream_params");
    (void)unused;
    return make_params(ng, false, type, p, count);
}

static hailo_status create_vstreams(ng_t *ng, bool input, const hailo_vstream_params_by_name_t *params, size_t count, vstream_t **out) {
    if (!ng || !params || !out) return HAILO_INVALID_ARGUMENT;
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
        if (s->nms && type != TYPE_FLOAT32) return HAILO_INVALID_ARGUMENT; /* NMS is float32 only */
        if (!s->nms && type != TYPE_UINT8 && type != TYPE_FLOAT32) return HAILO_INVALID_ARGUMENT;
        vstream_t *v = calloc(1, sizeof *v);
        v->ng = ng; v->index = index; v->input = input; v->type = type;
        out[i] = v;
    }
    return HAILO_SUCCESS;
}

hailo_status hailo_create_input_vstreams(ng_t *ng, const hailo_vstream_params_by_name_t *p, size_t count, vstream_t **out) {
    INJECT("hailo_create_input_vstreams");
    return create_vstreams(ng, true, p, count, out);
}

hailo_status hailo_create_output_vstreams(ng_t *ng, const hailo_vstream_params_by_name_t *p, size_t count, vstream_t **out) {
    INJECT("hailo_create_output_vstreams");
    return create_vstreams(ng, false, p, count, out);
}

static const stream_t *stream_of(const vstream_t *v) { return v->input ? &v->ng->hef->input : &v->ng->hef->outputs[v->index]; }

static size_t user_frame_size(const vstream_t *v) {
    const stream_t *s = stream_of(v);
    return (!s->nms && v->type == TYPE_FLOAT32) ? s->frame_size * sizeof(float) : s->frame_size;
}

hailo_status hailo_get_input_vstream_info(vstream_t *v, hailo_vstream_info_t *info) {
    if (!v || !info || !v->input) return HAILO_INVALID_ARGUMENT;
    fill_info(v->ng->hef, stream_of(v), true, info);
    return HAILO_SUCCESS;
}

hailo_status hailo_get_output_vstream_info(vstream_t *v, hailo_vstream_info_t *info) {
    if (!v || !info || v->input) return HAILO_INVALID_ARGUMENT;
    fill_info(v->ng->hef, stream_of(v), false, info);
    return HAILO_SUCCESS;
}

hailo_status hailo_get_input_vstream_frame_size(vstream_t *v, size_t *size) {
    if (!v || !size || !v->input) return HAILO_INVALID_ARGUMENT;
    *size = user_frame_size(v);
    return HAILO_SUCCESS;
}

hailo_status hailo_get_output_vstream_frame_size(vstream_t *v, size_t *size) {
    if (!v || !size || v->input) return HAILO_INVALID_ARGUMENT;
    *size = user_frame_size(v);
    return HAILO_SUCCESS;
}

hailo_status hailo_vstream_set_nms_score_threshold(vstream_t *v, float threshold) {
    INJECT("hailo_vstream_set_nms_score_threshold");
    if (!v || v->input || !stream_of(v)->nms) return HAILO_INVALID_OPERATION;
    v->ng->nms_score_threshold = threshold;
    g_last_nms_score = threshold;
    return HAILO_SUCCESS;
}

hailo_status hailo_vstream_set_nms_iou_threshold(vstream_t *v, float threshold) {
    INJECT("hailo_vstream_set_nms_iou_threshold");
    if (!v || v->input || !stream_of(v)->nms) return HAILO_INVALID_OPERATION;
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

/* hailort_double_dump_inputs(path): append every input frame to `path`, so tests can compare
   the bytes hmg feeds the device with other paths (the calibration set). */
static char g_dump_path[4096];
static int g_dump_on;

void hailort_double_dump_inputs(const char *path) {
    pthread_mutex_lock(&g_lock);
    snprintf(g_dump_path, sizeof g_dump_path, "%s", path ? path : "");
    __atomic_store_n(&g_dump_on, g_dump_path[0] != 0, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&g_lock);
}

hailo_status hailo_vstream_write_raw_buffer(vstream_t *v, const void *buf, size_t size) {
    INJECT("hailo_vstream_write_raw_buffer");
    if (!v || !buf || !v->input) return HAILO_INVALID_ARGUMENT;
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
       the benchmarks measure). */
    uint64_t hash = h->n_frames > 1 ? fnv1a64(buf, size) : 0;
    pthread_mutex_lock(&ng->lock);
    uint64_t deadline = now_ns() + 10000000000ull;
    while (ng->written - oldest_unread(ng) >= QUEUE_DEPTH) {
        if (!wait_until(ng, deadline) && now_ns() >= deadline) { pthread_mutex_unlock(&ng->lock); return HAILO_TIMEOUT; }
    }
    size_t recorded = h->n_frames;
    for (size_t i = 0; i < h->n_frames; i++) if (h->frames[i].hash == hash) recorded = i;
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
    } else if (v->type == TYPE_FLOAT32) {
        float *out = (float *)dst;
        for (size_t i = 0; i < s->frame_size; i++) out[i] = ((float)src[i] - s->zp) * s->scale;
    } else {
        memcpy(dst, src, s->frame_size);
    }
}

hailo_status hailo_vstream_read_raw_buffer(vstream_t *v, void *buf, size_t size) {
    INJECT("hailo_vstream_read_raw_buffer");
    if (!v || !buf || v->input) return HAILO_INVALID_ARGUMENT;
    if (size != user_frame_size(v)) return HAILO_INVALID_ARGUMENT;
    ng_t *ng = v->ng;
    pthread_mutex_lock(&ng->lock);
    uint64_t deadline = now_ns() + 10000000000ull;
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

static hailo_status release_vstreams(vstream_t *const *v, size_t count) {
    if (!v && count) return HAILO_INVALID_ARGUMENT;
    for (size_t i = 0; i < count; i++) free(v[i]);
    return HAILO_SUCCESS;
}

hailo_status hailo_release_output_vstreams(vstream_t *const *v, size_t count) { return release_vstreams(v, count); }
hailo_status hailo_release_input_vstreams(vstream_t *const *v, size_t count) { return release_vstreams(v, count); }
