"""A real RTSP server for capture tests: ``/usr/bin/python3 rtsp_server.py PORT VIDEO``.

Runs under Debian's Python, which has the GObject bindings of GStreamer's RTSP server. It serves
VIDEO (re-encoded to H.264) at rtsp://127.0.0.1:PORT/cam; each new client gets the file from the start.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

port, video = sys.argv[1], sys.argv[2]
Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(
    f"( filesrc location={video} ! decodebin ! videoconvert ! "
    "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 ! rtph264pay name=pay0 pt=96 )"
)
factory.set_shared(False)
server.get_mount_points().add_factory("/cam", factory)
server.attach(None)
print(f"serving {video} at rtsp://127.0.0.1:{port}/cam", flush=True)
GLib.MainLoop().run()
