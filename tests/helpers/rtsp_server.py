"""A real RTSP server for capture tests: ``/usr/bin/python3 rtsp_server.py PORT VIDEO``.

Runs under Debian's Python, which has the GObject bindings of GStreamer's RTSP server. It serves VIDEO as H.264
at rtsp://127.0.0.1:PORT/cam; each new client gets the file from the start. The video is encoded to H.264 once,
beside it (``VIDEO.h264.mp4``, written under a name of its own and renamed into place), and then only packetised:
encoding in real time for every client would compete for the CPU with the pipeline under test, and a starved
encoder stalls the stream (a reconnect the test did not cause).
"""

import os
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

port, video = sys.argv[1], sys.argv[2]
Gst.init(None)
encoded = video + ".h264.mp4"
if not os.path.isfile(encoded):
    part = f"{encoded}.{os.getpid()}.part.mp4"
    pipeline = Gst.parse_launch(
        f"filesrc location={video} ! decodebin ! videoconvert ! "
        "x264enc speed-preset=ultrafast key-int-max=10 ! h264parse ! mp4mux ! "
        f"filesink location={part}"
    )
    pipeline.set_state(Gst.State.PLAYING)
    message = pipeline.get_bus().timed_pop_filtered(Gst.CLOCK_TIME_NONE, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    if message.type == Gst.MessageType.ERROR:
        sys.exit(f"cannot encode {video} to H.264: {message.parse_error()[0].message}")
    os.replace(part, encoded)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(
    f"( filesrc location={encoded} ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )"
)
factory.set_shared(False)
server.get_mount_points().add_factory("/cam", factory)
server.attach(None)
print(f"serving {video} at rtsp://127.0.0.1:{port}/cam", flush=True)
GLib.MainLoop().run()
