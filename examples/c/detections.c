/* SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * hmg inside a C application: build a graph with hailoinfer ! yolonms, read each frame's
 * detections from the standard GstVideoRegionOfInterestMeta and the raw model outputs from the
 * HmgTensors custom meta, in a pad probe.
 *
 * build: cc detections.c -o detections $(pkg-config --cflags --libs gstreamer-1.0 gstreamer-video-1.0)
 * usage: ./detections MODEL INPUT [FRAMES] [DETLOG] [track]
 * Prints one JSON line per frame: {"frame", "pts_ns", "detections": [...], "tensors": [...]}.
 * With "track" (dettrack in the graph) each detection also has "track": {"id", "age"}.
 */
#include <gst/gst.h>
#include <gst/video/video.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  GstElement *pipeline;
  GMainLoop *loop;
  guint64 frame;
  guint64 max_frames;
  int status;
} App;

static void print_json_string(const gchar *s) {
  gchar *escaped = g_strescape(s ? s : "", NULL);
  printf("\"%s\"", escaped);
  g_free(escaped);
}

static void print_detections(GstBuffer *buffer) {
  gpointer state = NULL;
  GstMeta *meta;
  gboolean first = TRUE;
  printf("\"detections\": [");
  while ((meta = gst_buffer_iterate_meta_filtered(buffer, &state,
              GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    GstVideoRegionOfInterestMeta *roi = (GstVideoRegionOfInterestMeta *) meta;
    GstStructure *p = gst_video_region_of_interest_meta_get_param(roi, "detection");
    gint class_id = 0;
    gdouble confidence = 0, x1 = 0, y1 = 0, x2 = 0, y2 = 0;
    if (!p)
      continue;
    gst_structure_get(p, "class-id", G_TYPE_INT, &class_id, "confidence", G_TYPE_DOUBLE,
        &confidence, "x1", G_TYPE_DOUBLE, &x1, "y1", G_TYPE_DOUBLE, &y1, "x2", G_TYPE_DOUBLE,
        &x2, "y2", G_TYPE_DOUBLE, &y2, NULL);
    printf("%s{\"class_id\": %d, \"label\": ", first ? "" : ", ", class_id);
    print_json_string(gst_structure_get_string(p, "label"));
    printf(", \"confidence\": %.9g, \"box\": [%.9g, %.9g, %.9g, %.9g]", confidence, x1, y1,
        x2, y2);
    /* dettrack's track: the same id for the same object from frame to frame. */
    GstStructure *track = gst_video_region_of_interest_meta_get_param(roi, "tracking");
    if (track) {
      guint64 id = 0, age = 0;
      gst_structure_get(track, "track-id", G_TYPE_UINT64, &id, "age", G_TYPE_UINT64, &age, NULL);
      printf(", \"track\": {\"id\": %" G_GUINT64_FORMAT ", \"age\": %" G_GUINT64_FORMAT "}", id,
          age);
    }
    printf("}");
    first = FALSE;
  }
  printf("]");
}

static void print_tensors(GstBuffer *buffer) {
  GstCustomMeta *meta = gst_buffer_get_custom_meta(buffer, "HmgTensors");
  printf("\"tensors\": [");
  if (meta) {
    const GValue *list = gst_structure_get_value(gst_custom_meta_get_structure(meta), "tensors");
    guint n = list ? gst_value_array_get_size(list) : 0;
    for (guint i = 0; i < n; i++) {
      const GstStructure *t = gst_value_get_structure(gst_value_array_get_value(list, i));
      const GValue *shape = gst_structure_get_value(t, "shape");
      GBytes *data = NULL;
      gst_structure_get(t, "data", G_TYPE_BYTES, &data, NULL);
      printf("%s{\"name\": ", i ? ", " : "");
      print_json_string(gst_structure_get_string(t, "name"));
      printf(", \"shape\": [");
      for (guint d = 0; shape && d < gst_value_array_get_size(shape); d++)
        printf("%s%d", d ? ", " : "", g_value_get_int(gst_value_array_get_value(shape, d)));
      printf("], \"dtype\": ");
      print_json_string(gst_structure_get_string(t, "dtype"));
      printf(", \"bytes\": %" G_GSIZE_FORMAT "}", data ? g_bytes_get_size(data) : 0);
      if (data)
        g_bytes_unref(data);
    }
  }
  printf("]");
}

static gboolean send_eos(gpointer user_data) {
  App *app = user_data;
  gst_element_send_event(app->pipeline, gst_event_new_eos());
  return G_SOURCE_REMOVE;
}

static GstPadProbeReturn on_buffer(GstPad *pad, GstPadProbeInfo *info, gpointer user_data) {
  App *app = user_data;
  GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER(info);
  (void) pad;
  printf("{\"frame\": %" G_GUINT64_FORMAT ", \"pts_ns\": ", app->frame);
  if (GST_BUFFER_PTS_IS_VALID(buffer))
    printf("%" G_GUINT64_FORMAT, GST_BUFFER_PTS(buffer));
  else
    printf("null");
  printf(", ");
  print_detections(buffer);
  printf(", ");
  print_tensors(buffer);
  printf("}\n");
  fflush(stdout);
  app->frame++;
  if (app->max_frames && app->frame >= app->max_frames) {
    g_idle_add(send_eos, app);
    return GST_PAD_PROBE_REMOVE;
  }
  return GST_PAD_PROBE_OK;
}

static gboolean on_message(GstBus *bus, GstMessage *message, gpointer user_data) {
  App *app = user_data;
  (void) bus;
  if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_EOS) {
    g_main_loop_quit(app->loop);
  } else if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ERROR) {
    GError *err = NULL;
    gst_message_parse_error(message, &err, NULL);
    fprintf(stderr, "error: %s: %s\n", GST_OBJECT_NAME(message->src), err->message);
    g_error_free(err);
    app->status = 1;
    g_main_loop_quit(app->loop);
  }
  return TRUE;
}

int main(int argc, char **argv) {
  App app = {0};
  GError *err = NULL;
  gchar *description;
  GstElement *sink;
  GstPad *pad;
  GstBus *bus;

  gst_init(&argc, &argv);
  if (argc < 3) {
    fprintf(stderr, "usage: %s MODEL INPUT [FRAMES] [DETLOG] [track]\n", argv[0]);
    return 2;
  }
  app.max_frames = argc > 3 ? g_ascii_strtoull(argv[3], NULL, 10) : 0;
  description = g_strdup_printf("filesrc name=src ! decodebin ! videoconvert ! hailoinfer name=infer"
      " ! yolonms%s%s ! fakesink name=sink sync=false",
      argc > 5 && strcmp(argv[5], "track") == 0 ? " conf=0.1 ! dettrack" : "",
      argc > 4 ? " ! detlog name=log" : "");
  app.pipeline = gst_parse_launch(description, &err);
  g_free(description);
  if (!app.pipeline) {
    fprintf(stderr, "error: %s (is the hmg plugin installed? run scripts/setup)\n", err->message);
    return 1;
  }
  g_object_set(gst_bin_get_by_name(GST_BIN(app.pipeline), "src"), "location", argv[2], NULL);
  g_object_set(gst_bin_get_by_name(GST_BIN(app.pipeline), "infer"), "model", argv[1], NULL);
  if (argc > 4)
    g_object_set(gst_bin_get_by_name(GST_BIN(app.pipeline), "log"), "location", argv[4], NULL);

  sink = gst_bin_get_by_name(GST_BIN(app.pipeline), "sink");
  pad = gst_element_get_static_pad(sink, "sink");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, on_buffer, &app, NULL);
  gst_object_unref(pad);
  gst_object_unref(sink);

  app.loop = g_main_loop_new(NULL, FALSE);
  bus = gst_element_get_bus(app.pipeline);
  gst_bus_add_watch(bus, on_message, &app);
  gst_object_unref(bus);
  gst_element_set_state(app.pipeline, GST_STATE_PLAYING);
  g_main_loop_run(app.loop);
  gst_element_set_state(app.pipeline, GST_STATE_NULL);
  gst_object_unref(app.pipeline);
  g_main_loop_unref(app.loop);
  return app.status;
}
