# SPDX-License-Identifier: MIT OR Apache-2.0
"""A real RTSP camera on loopback, for the tests that kill one and bring it back.

usage: rtsp_camera.py PORT [WIDTH HEIGHT FPS [PATTERN]]
Serves rtsp://127.0.0.1:PORT/cam: a live test pattern (default a ball, 640x480 at 30 frames a
second; PATTERN: any of videotestsrc's, e.g. snow for pictures that compress badly), as
RTP/JPEG (GStreamer's own RTSP server, as IP cameras and mediamtx speak it). Prints `ready` once
it listens, then serves until killed.
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(sys.argv[1])
factory = GstRtspServer.RTSPMediaFactory()
width, height, fps = sys.argv[2:5] if len(sys.argv) >= 5 else ("640", "480", "30")
pattern = sys.argv[5] if len(sys.argv) >= 6 else "ball"
factory.set_launch(
    f"( videotestsrc is-live=true pattern={pattern} ! video/x-raw,format=I420,width={width},height={height},framerate={fps}/1 "
    "! jpegenc quality=80 ! rtpjpegpay name=pay0 pt=96 )"
)
factory.set_shared(True)
server.get_mount_points().add_factory("/cam", factory)
if server.attach(None) == 0:
    sys.exit(f"cannot listen on 127.0.0.1:{sys.argv[1]}")
print("ready", flush=True)
GLib.MainLoop().run()
