"""Publish a few seconds of synthetic video and audio with PyAV (FFmpeg 8.1) in real time: over
RTMP (FFmpeg's FLV muxer and RTMP client) or over WHIP (FFmpeg's `whip` muxer: its own ICE,
DTLS and SRTP; it offers `a=setup:passive`, so the endpoint is the DTLS client).

    publish.py URL --video hevc|av1|h264|none --audio opus|aac|none [--seconds 6]
               [--size 320x240] [--fps 30] [--format flv|whip]

URL is rtmp://HOST:PORT/APP/NAME (or a file path to write the FLV there instead) with `flv`,
http://HOST:PORT/whip/NAME with `whip` (H.264 baseline and Opus; closing the muxer DELETEs the
session). The video is
FFmpeg's testsrc pattern with a keyframe every second and no B-frames, the audio a 440 Hz tone
at 48 kHz. One publisher per process: av.open on a network URL holds the GIL while it
connects. FFmpeg 8.1's RTMP client lists no codecs in its connect command (Enhanced RTMP's
fourCcList comes only with its rtmp_enhanced_codecs option, which PyAV cannot pass: it opens
the URL without protocol options); its FLV muxer writes HEVC and AV1 in the extended video
header and Opus in the extended audio header. Prints what it sent on stdout ("sent N video
frames, M audio frames") and exits 0 when the muxer closed cleanly.
"""

import argparse
import sys
import time

import av

VIDEO = {
    "hevc": (
        "libx265",
        {"preset": "ultrafast", "x265-params": "log-level=error:bframes=0:scenecut=0"},
    ),
    # SVT-AV1 is the AV1 encoder the PyAV wheel carries (no libaom, no rav1e).
    "av1": ("libsvtav1", {"preset": "12", "svtav1-params": "scd=0"}),
    "h264": ("libx264", {"preset": "ultrafast", "bf": "0", "sc_threshold": "0"}),
}
AUDIO = {"opus": "libopus", "aac": "aac"}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("--video", choices=[*VIDEO, "none"], default="hevc")
    p.add_argument("--audio", choices=[*AUDIO, "none"], default="opus")
    p.add_argument("--seconds", type=int, default=6)
    p.add_argument("--size", default="320x240")
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--format", choices=["flv", "whip"], default="flv")
    args = p.parse_args()
    width, height = (int(x) for x in args.size.split("x"))

    inputs = []
    if args.video != "none":
        src = av.open(
            f"testsrc=size={args.size}:rate={args.fps}:duration={args.seconds}",
            format="lavfi",
        )
        inputs.append(("video", src))
    if args.audio != "none":
        src = av.open(
            f"sine=frequency=440:sample_rate=48000:duration={args.seconds}",
            format="lavfi",
        )
        inputs.append(("audio", src))

    out = av.open(args.url, mode="w", format=args.format)
    streams = {}
    if args.video != "none":
        name, options = VIDEO[args.video]
        if args.format == "whip":
            # WebRTC's H.264: baseline, no B-frames, nothing held back.
            options = {**options, "profile": "baseline", "tune": "zerolatency"}
        v = out.add_stream(name, rate=args.fps, options=dict(options))
        v.width, v.height = width, height
        v.pix_fmt = "yuv420p"
        v.gop_size = args.fps
        v.codec_context.max_b_frames = 0
        streams["video"] = v
    if args.audio != "none":
        a = out.add_stream(AUDIO[args.audio], rate=48000, layout="stereo")
        streams["audio"] = a

    # Frames of both inputs in time order, paced to the wall clock (as ffmpeg -re).
    frames = []
    for kind, src in inputs:
        for frame in src.decode(src.streams[0]):
            frames.append((float(frame.time), kind, frame))
    frames.sort(key=lambda f: (f[0], f[1]))
    sent = {"video": 0, "audio": 0}
    start = time.monotonic()
    for at, kind, frame in frames:
        delay = start + at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if kind == "video":
            frame = frame.reformat(format="yuv420p")
            # Raw frames from lavfi are marked I: an encoder would make each a keyframe.
            frame.pict_type = av.video.frame.PictureType.NONE
        frame.pts = None
        for packet in streams[kind].encode(frame):
            out.mux(packet)
            sent[kind] += 1
    for kind, stream in streams.items():
        for packet in stream.encode(None):
            out.mux(packet)
            sent[kind] += 1
    out.close()
    for _, src in inputs:
        src.close()
    print(f"sent {sent['video']} video frames, {sent['audio']} audio frames", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
