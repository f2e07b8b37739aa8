#!/usr/bin/python3
"""A GStreamer RTSP server that plays a test "camera" for msm-relay's integration tests.

Run it with /usr/bin/python3 (Debian's python, which has the `gi` bindings).

It serves one shared media (one pipeline for every client) at --path and prints machine-readable lines on stdout:

  READY port=<port>                 once listening
  CLIENT_CONNECTED <ip>             an RTSP connection was accepted
  CLIENT_CLOSED <ip>                an RTSP connection was closed
  CONNECTION_COUNT <n>              open RTSP connections after a connect/close
  SESSION_COUNT <n>                 RTSP sessions in the pool, printed whenever it changes
  MEDIA_CONFIGURED <n>              the shared pipeline was built (n-th time)

It exits with status 0 on SIGTERM or SIGINT.
"""

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def emit(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def parse_args():
    p = argparse.ArgumentParser(description="GStreamer RTSP test camera")
    p.add_argument("--port", type=int, default=0, help="TCP port for RTSP (0: let the OS choose)")
    p.add_argument("--address", default="127.0.0.1", help="address to bind")
    p.add_argument("--path", default="/cam", help="mount point")
    p.add_argument("--audio", action="store_true", help="add an audio track")
    p.add_argument("--audio-codec", choices=["pcmu", "opus"], default="pcmu", help="codec of the audio track")
    p.add_argument("--fps", type=int, default=25)
    p.add_argument("--gop", type=int, default=0, help="keyframe interval in frames (default: fps)")
    p.add_argument(
        "--seqnum-offset",
        type=int,
        default=-1,
        help="first RTP sequence number of every media pipeline (default -1: random each time)",
    )
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--user", default=None, help="require this user (see --auth)")
    p.add_argument("--password", default=None)
    p.add_argument("--auth", choices=["digest", "basic"], default="digest", help="scheme offered in the 401")
    p.add_argument("--protocols", default="udp,tcp", help="udp, tcp or udp,tcp")
    p.add_argument("--session-timeout", type=int, default=60, help="RTSP session timeout, seconds")
    a = p.parse_args()
    if not a.path.startswith("/"):
        a.path = "/" + a.path
    if a.gop <= 0:
        a.gop = a.fps
    if (a.user is None) != (a.password is None):
        p.error("--user and --password go together")
    return a


def launch_line(a):
    video = (
        "videotestsrc is-live=true pattern=ball "
        f"! video/x-raw,width={a.width},height={a.height},framerate={a.fps}/1 "
        "! x264enc tune=zerolatency speed-preset=ultrafast "
        f"key-int-max={a.gop} bframes=0 "
        "! video/x-h264,profile=baseline "
        # config-interval=-1: SPS/PPS in front of every IDR
        f"! rtph264pay name=pay0 pt=96 config-interval=-1 seqnum-offset={a.seqnum_offset}"
    )
    if not a.audio:
        return f"( {video} )"
    if a.audio_codec == "pcmu":
        audio = (
            "audiotestsrc is-live=true wave=sine freq=440 "
            "! audioconvert ! audioresample ! audio/x-raw,rate=8000,channels=1 "
            "! mulawenc ! rtppcmupay pt=0 name=pay1"
        )
    else:
        audio = (
            "audiotestsrc is-live=true wave=sine freq=440 "
            "! audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=2 "
            "! opusenc ! rtpopuspay pt=97 name=pay1"
        )
    return f"( {video} {audio} )"


def lower_trans(spec):
    flags = GstRtsp.RTSPLowerTrans(0)
    for part in spec.split(","):
        part = part.strip().lower()
        if part == "udp":
            flags |= GstRtsp.RTSPLowerTrans.UDP
        elif part == "tcp":
            flags |= GstRtsp.RTSPLowerTrans.TCP
        elif part:
            raise SystemExit(f"unknown protocol {part!r}")
    if int(flags) == 0:
        raise SystemExit("--protocols is empty")
    return flags


def main():
    a = parse_args()
    Gst.init(None)
    loop = GLib.MainLoop()

    server = GstRtspServer.RTSPServer()
    server.set_address(a.address)
    server.set_service(str(a.port))
    pool = server.get_session_pool()

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(a))
    factory.set_shared(True)
    factory.set_protocols(lower_trans(a.protocols))

    state = {"connections": 0, "sessions": -1, "configured": 0}

    def report_sessions():
        n = pool.get_n_sessions()
        if n != state["sessions"]:
            state["sessions"] = n
            emit(f"SESSION_COUNT {n}")

    def on_media_configure(_factory, _media):
        state["configured"] += 1
        emit(f"MEDIA_CONFIGURED {state['configured']}")

    factory.connect("media-configure", on_media_configure)

    if a.user is not None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", a.user)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(a.user, a.password), token)
        auth.add_digest(a.user, a.password, token)
        # GI cannot pass BASIC|DIGEST (3) through this enum-typed argument: the server challenges with one scheme
        method = GstRtsp.RTSPAuthMethod.DIGEST if a.auth == "digest" else GstRtsp.RTSPAuthMethod.BASIC
        auth.set_supported_methods(method)
        server.set_auth(auth)
        perms = GstRtspServer.RTSPPermissions()
        perms.add_permission_for_role(a.user, "media.factory.access", True)
        perms.add_permission_for_role(a.user, "media.factory.construct", True)
        factory.set_permissions(perms)

    server.get_mount_points().add_factory(a.path, factory)

    def on_client_connected(_server, client):
        conn = client.get_connection()
        ip = conn.get_ip() if conn is not None else "?"
        state["connections"] += 1
        emit(f"CLIENT_CONNECTED {ip}")
        emit(f"CONNECTION_COUNT {state['connections']}")

        def on_new_session(_client, session):
            session.set_timeout(a.session_timeout)
            report_sessions()

        def on_closed(_client):
            state["connections"] -= 1
            emit(f"CLIENT_CLOSED {ip}")
            emit(f"CONNECTION_COUNT {state['connections']}")
            # the client drops its sessions after "closed" returns: look again from the main loop
            GLib.idle_add(lambda: (report_sessions(), False)[1])

        client.connect("new-session", on_new_session)
        client.connect("closed", on_closed)

    server.connect("client-connected", on_client_connected)

    def tick():
        pool.cleanup()  # expire sessions that timed out
        report_sessions()
        return True

    if server.attach(None) == 0:
        emit("ERROR cannot listen")
        return 1
    GLib.timeout_add(250, tick)

    def quit_loop():
        loop.quit()
        return False

    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, quit_loop)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, quit_loop)

    emit(f"READY port={server.get_bound_port()}")
    report_sessions()
    loop.run()
    emit("EXIT")
    return 0


if __name__ == "__main__":
    sys.exit(main())
