#!/usr/bin/python3
"""A local RTSP server for Osprey's tests and benchmarks: GStreamer's RTSP server (Debian packages
gir1.2-gst-rtsp-server-1.0, python3-gi, gstreamer1.0-plugins-{base,good,bad}) serving an H.264 or
H.265 MP4 file, as a camera would, without re-encoding (B-frames, if the file has them, included).

    tools/rtsp-server.py --port 8554 --file clip.mp4 [--loops 10] [--auth user:pass]

Serves rtsp://127.0.0.1:PORT/stream. Every client gets its own session from the start of the file
(like independent cameras). --loops N serves the file N times back to back (a copy made with
ffmpeg's -stream_loop, no re-encoding). With --auth, clients must send those credentials (Basic).
Prints "READY rtsp://127.0.0.1:PORT/stream" on stdout once listening. Stops on SIGTERM/SIGINT.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def looped_copy(path, loops, workdir):
    """The file repeated `loops` times, stream-copied (timestamps continue across repeats)."""
    out = os.path.join(workdir, "looped.mp4")
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-stream_loop", str(loops - 1), "-i", path,
         "-c", "copy", "-an", out],
        check=True,
    )
    return out


def video_codec(path):
    """The file's video codec as ffprobe names it (h264, hevc, ...)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name",
         "-of", "csv=p=0", path],
        check=True, capture_output=True, text=True,
    )
    return out.stdout.strip()


PAYLOADERS = {
    "h264": "h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96",
    "hevc": "h265parse config-interval=-1 ! rtph265pay name=pay0 pt=96",
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--file", required=True)
    ap.add_argument("--loops", type=int, default=1)
    ap.add_argument("--auth", help="user:password required from clients")
    ap.add_argument("--address", default="127.0.0.1")
    args = ap.parse_args()
    if not os.path.isfile(args.file):
        sys.exit(f"no such file: {args.file}")

    Gst.init(None)
    workdir = tempfile.mkdtemp(prefix="osprey-rtsp-")
    path = looped_copy(args.file, args.loops, workdir) if args.loops > 1 else args.file
    codec = video_codec(path)
    if codec not in PAYLOADERS:
        sys.exit(f"{args.file}: video codec {codec!r} is not served (only {', '.join(PAYLOADERS)})")

    server = GstRtspServer.RTSPServer()
    server.set_address(args.address)
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    location = path.replace("\\", "\\\\").replace('"', '\\"')
    factory.set_launch(f'( filesrc location="{location}" ! qtdemux ! {PAYLOADERS[codec]} )')
    factory.set_shared(False)
    if args.auth:
        user, _, password = args.auth.partition(":")
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role("user", "media.factory.access", True)
        permissions.add_permission_for_role("user", "media.factory.construct", True)
        factory.set_permissions(permissions)
    server.get_mount_points().add_factory("/stream", factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on {args.address}:{args.port}")

    loop = GLib.MainLoop()

    def stop(*_):
        loop.quit()

    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, stop)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, stop)
    print(f"READY rtsp://{args.address}:{args.port}/stream", flush=True)
    try:
        loop.run()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
