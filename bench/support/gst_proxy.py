#!/usr/bin/python3
"""A GStreamer RTSP proxy for msm-relay's benchmarks: gst-rtsp-server re-serving one rtspsrc (shared media).

It pulls --upstream once (rtspsrc over TCP, H.264 depayloaded and repayloaded without decoding) and serves it at
--path; prints `READY port=<port>` when listening. Run with /usr/bin/python3 (Debian's python with `gi`).
"""

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main():
    p = argparse.ArgumentParser(description="GStreamer RTSP proxy")
    p.add_argument("--upstream", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--path", default="/proxy")
    a = p.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(a.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f"( rtspsrc location={a.upstream} protocols=tcp latency=0 ! rtph264depay ! h264parse config-interval=-1 "
        "! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )
    factory.set_shared(True)
    server.get_mount_points().add_factory(a.path, factory)
    server.attach(None)
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    sys.stdout.write(f"READY port={server.get_bound_port()}\n")
    sys.stdout.flush()
    loop.run()


if __name__ == "__main__":
    main()
