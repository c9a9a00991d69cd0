//! Opening a source and reading decoded frames from it.
use std::time::{Duration, Instant};

use ff::util::error::EAGAIN;
use ffmpeg_next as ff;
use osprey_image::RgbImage;
use osprey_schema::media::EncodedEvent;

use crate::input::{client_name, describe, extradata, open_ffmpeg, retina_decoder, Demux, Input};
pub use crate::options::{Frame, ReaderOptions, RtspClient, StreamInfo};
use crate::rtsp::{self, Opened};
use crate::tap::{recordable_codec, NotRecordable, Tap, TapSetup};
use crate::{Source, SourceKind, VideoError};

/// Packets read without a single decoded frame before the stream is declared corrupt.
const MAX_PACKETS_WITHOUT_FRAME: u32 = 300;

/// An open source. Blocking: run it on a thread of its own.
pub struct Reader {
    source: Source,
    opts: ReaderOptions,
    demux: Demux,
    decoder: ff::decoder::Video,
    time_base: f64,
    info: StreamInfo,
    fallback: Option<String>,
    frame: ff::frame::Video,
    rgb: ff::frame::Video,
    scaler: Option<(ff::format::Pixel, u32, u32, ff::software::scaling::Context)>,
    restarted: Instant,
    untimed: bool,
    decoded: u64,
    packets: u64,
    decode_errors: u64,
    last_decode_error: Option<String>,
    decode_time: Duration,
    packets_since_frame: u32,
    first_ts: Option<i64>,
    loop_offset: f64,
    last_pts: f64,
    eof_sent: bool,
    pace_start: Option<(Instant, f64)>,
    tap: Option<Tap>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("source", &self.source)
            .field("client", &self.client())
            .field("info", &self.info)
            .field("decoded", &self.decoded)
            .finish()
    }
}

impl Reader {
    /// Opens `source` and its video stream's decoder. RTSP goes through retina first unless
    /// [`ReaderOptions::rtsp_client`] says otherwise (see [`RtspClient`]).
    pub fn open(source: &Source, opts: ReaderOptions) -> Result<Reader, VideoError> {
        crate::init();
        let url = source.redacted();
        let mut fallback = None;
        if source.kind() == SourceKind::Rtsp && opts.rtsp_client != RtspClient::Ffmpeg {
            match rtsp::open(source, opts.timeout)? {
                Opened::Playing(stream, info) => {
                    let decoder = retina_decoder(source, &info, opts.decoder_threads)?;
                    let time_base = 1.0 / f64::from(stream.clock_rate.max(1));
                    tracing::debug!(url = %url, client = "retina", codec = %info.codec, width = info.width, height = info.height, fps = ?info.fps, "source opened");
                    let input = Input {
                        demux: Demux::Retina {
                            stream,
                            last_pts: None,
                        },
                        decoder,
                        time_base,
                        info,
                    };
                    return Ok(Reader::new(source, opts, input, None));
                }
                Opened::Unsupported(why) if opts.rtsp_client == RtspClient::Retina => {
                    return Err(VideoError::NoVideo { url, reason: why });
                }
                Opened::Unsupported(why) => {
                    tracing::warn!(url = %url, reason = %why, "retina cannot play this stream; using FFmpeg's RTSP client");
                    fallback = Some(why);
                }
            }
        }
        let f = open_ffmpeg(source, &opts)?;
        tracing::debug!(url = %url, client = client_name(source.kind(), false), codec = %f.info.codec, width = f.info.width, height = f.info.height, fps = ?f.info.fps, "source opened");
        Ok(Reader::new(source, opts, f, fallback))
    }

    fn new(source: &Source, opts: ReaderOptions, input: Input, fallback: Option<String>) -> Reader {
        Reader {
            source: source.clone(),
            opts,
            demux: input.demux,
            decoder: input.decoder,
            time_base: input.time_base,
            info: input.info,
            fallback,
            frame: ff::frame::Video::empty(),
            rgb: ff::frame::Video::empty(),
            scaler: None,
            restarted: Instant::now(),
            untimed: false,
            decoded: 0,
            packets: 0,
            decode_errors: 0,
            last_decode_error: None,
            decode_time: Duration::ZERO,
            packets_since_frame: 0,
            first_ts: None,
            loop_offset: 0.0,
            last_pts: 0.0,
            eof_sent: false,
            pace_start: None,
            tap: None,
        }
    }

    /// The client reading the source: `retina` or `ffmpeg-rtsp-tcp` for RTSP, else the source
    /// kind (`file`, `mjpeg`, `ffmpeg`).
    pub fn client(&self) -> &'static str {
        client_name(
            self.source.kind(),
            matches!(self.demux, Demux::Retina { .. }),
        )
    }

    /// Why RTSP is read by FFmpeg's client although retina was asked for first (`None` when
    /// retina plays it, or FFmpeg was asked for).
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// The video stream's description.
    pub fn info(&self) -> &StreamInfo {
        &self.info
    }

    /// Video packets read so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Frames decoded so far.
    pub fn decoded(&self) -> u64 {
        self.decoded
    }

    /// Time spent inside the decoder so far (not waiting for the network or pacing).
    pub fn decode_time(&self) -> Duration {
        self.decode_time
    }

    /// Packets or frames the decoder rejected or flagged corrupt so far, and the last reason.
    pub fn decode_errors(&self) -> (u64, Option<&str>) {
        (self.decode_errors, self.last_decode_error.as_deref())
    }

    /// Installs the access-unit tap: from now on every compressed access unit read is also
    /// given to `tap` (as [`EncodedEvent::Unit`], Annex B, 90 kHz pts, arrival time), before it
    /// is decoded; nothing is decoded twice and readers without a tap pay nothing. `tap` first
    /// receives an [`EncodedEvent::Stream`] with the codec and parameter sets, again after a
    /// switch to FFmpeg's RTSP client; a stream found to have B-frames gets one
    /// [`EncodedEvent::Unrecordable`] and no more units. File loops continue the timeline.
    /// It runs on the reader's thread: keep it short (a `try_send`).
    ///
    /// Fails, installing nothing, when the codec is not H.264 or H.265 (MJPEG…).
    ///
    /// [`EncodedEvent::Unit`]: osprey_schema::media::EncodedEvent::Unit
    /// [`EncodedEvent::Stream`]: osprey_schema::media::EncodedEvent::Stream
    /// [`EncodedEvent::Unrecordable`]: osprey_schema::media::EncodedEvent::Unrecordable
    pub fn set_tap(
        &mut self,
        tap: impl FnMut(EncodedEvent) + Send + 'static,
    ) -> Result<(), NotRecordable> {
        let setup = self.tap_setup()?;
        self.tap = Some(Tap::new(Box::new(tap), setup));
        Ok(())
    }

    /// Removes the access-unit tap.
    pub fn clear_tap(&mut self) {
        self.tap = None;
    }

    /// Whether an access-unit tap is installed.
    pub fn has_tap(&self) -> bool {
        self.tap.is_some()
    }

    fn tap_setup(&self) -> Result<TapSetup, NotRecordable> {
        let codec = recordable_codec(&self.info.codec)?;
        let (extradata, time_base) = match &self.demux {
            Demux::Ffmpeg { input, stream } => {
                let s = input.stream(*stream).ok_or_else(|| NotRecordable {
                    reason: "the video stream disappeared".into(),
                })?;
                let tb = s.time_base();
                let tb = (i64::from(tb.numerator()), i64::from(tb.denominator()));
                (extradata(&s.parameters()), tb)
            }
            Demux::Retina { stream, .. } => (
                stream.extradata.clone(),
                (1, i64::from(stream.clock_rate.max(1))),
            ),
        };
        Ok(TapSetup {
            codec,
            extradata,
            width: self.info.width,
            height: self.info.height,
            time_base,
            step_90k: (self.step() * 90_000.0).round() as i64,
        })
    }

    fn decode_error(&mut self, what: String) {
        self.decode_errors += 1;
        self.last_decode_error = Some(what);
    }

    fn err_read(&self, e: &ff::Error) -> VideoError {
        VideoError::Read {
            url: self.source.redacted(),
            reason: describe(e),
        }
    }

    /// Decodes the next frame. `Ok(None)`: the stream ended (a file without looping, or a live
    /// source that closed cleanly).
    pub fn next_frame(&mut self) -> Result<Option<Frame>, VideoError> {
        loop {
            let t = Instant::now();
            let received = self.decoder.receive_frame(&mut self.frame);
            self.decode_time += t.elapsed();
            match received {
                Ok(()) => {
                    if self.frame.is_corrupt() {
                        self.decode_error("a frame decoded with errors (concealed)".into());
                    }
                    return Ok(Some(self.on_frame()));
                }
                Err(ff::Error::Other { errno }) if errno == EAGAIN => {}
                Err(ff::Error::Eof) => {
                    if self.source.kind() == SourceKind::File
                        && self.opts.loop_file
                        && self.decoded > 0
                    {
                        self.rewind()?;
                        continue;
                    }
                    return Ok(None);
                }
                // A damaged frame: the decoder goes on with the next packet.
                Err(e) => self.decode_error(format!("frame dropped by the decoder: {e}")),
            }
            if self.eof_sent {
                // Draining; receive_frame ends with Eof.
                continue;
            }
            match self.read_packet()? {
                Some(packet) => {
                    self.packets += 1;
                    self.packets_since_frame += 1;
                    if self.packets_since_frame > MAX_PACKETS_WITHOUT_FRAME {
                        return Err(VideoError::Corrupt {
                            url: self.source.redacted(),
                            reason: format!(
                                "{MAX_PACKETS_WITHOUT_FRAME} packets without a decodable frame"
                            ),
                        });
                    }
                    // Corrupt packets are still sent; the decoder resynchronises at the next
                    // keyframe and the packet counter above catches a stream that never does.
                    let t = Instant::now();
                    let sent = self.decoder.send_packet(&packet);
                    self.decode_time += t.elapsed();
                    if let Err(e) = sent {
                        self.decode_error(format!("packet rejected by the decoder: {e}"));
                    }
                }
                None => {
                    let _ = self.decoder.send_eof();
                    self.eof_sent = true;
                }
            }
        }
    }

    /// The next packet of the video stream; `Ok(None)` at its end.
    fn read_packet(&mut self) -> Result<Option<ff::Packet>, VideoError> {
        loop {
            match &mut self.demux {
                Demux::Ffmpeg { input, stream } => {
                    let mut packet = ff::Packet::empty();
                    match packet.read(input) {
                        Ok(()) if packet.stream() != *stream => {}
                        Ok(()) => {
                            if packet.is_corrupt() {
                                self.decode_error("packet flagged corrupt by the demuxer".into());
                            }
                            if let (Some(tap), Some(data)) = (&mut self.tap, packet.data()) {
                                tap.unit(data, packet.pts(), packet.dts(), packet.is_key());
                            }
                            return Ok(Some(packet));
                        }
                        Err(ff::Error::Eof) => return Ok(None),
                        Err(e) => return Err(self.err_read(&e)),
                    }
                }
                Demux::Retina { stream, last_pts } => {
                    let Some(unit) = stream.next()? else {
                        return Ok(None);
                    };
                    // Decode order differs from presentation order: B-frames. Retina has no
                    // decode timestamps to carry them; FFmpeg's client does.
                    let reordered = last_pts.is_some_and(|p| unit.pts < p);
                    if reordered && self.opts.rtsp_client == RtspClient::Auto {
                        self.switch_to_ffmpeg("the stream has B-frames (timestamps go backwards)")?;
                        continue;
                    }
                    *last_pts = Some(last_pts.map_or(unit.pts, |p| p.max(unit.pts)));
                    if unit.loss > 0 {
                        self.decode_error(format!("{} RTP packets lost", unit.loss));
                    }
                    let mut packet = ff::Packet::copy(&unit.data);
                    packet.set_pts(Some(unit.pts));
                    if let Some(tap) = &mut self.tap {
                        tap.annexb_unit(unit.data, unit.pts, unit.key, unit.wall_unix_ms);
                    }
                    return Ok(Some(packet));
                }
            }
        }
    }

    /// Replaces the retina session by FFmpeg's RTSP client mid-stream; frame numbers and
    /// times go on increasing.
    fn switch_to_ffmpeg(&mut self, reason: &str) -> Result<(), VideoError> {
        tracing::warn!(url = %self.source.redacted(), reason, "retina cannot play this stream; switching to FFmpeg's RTSP client");
        if let Demux::Retina { stream, .. } = &mut self.demux {
            // Hang up first: some cameras allow a single session.
            stream.close();
        }
        let f = open_ffmpeg(&self.source, &self.opts)?;
        self.demux = f.demux;
        self.decoder = f.decoder;
        self.time_base = f.time_base;
        self.info = StreamInfo {
            fps: f.info.fps.or(self.info.fps),
            ..f.info
        };
        self.fallback = Some(reason.to_string());
        self.restart_timeline();
        if self.tap.is_some() {
            let setup = self.tap_setup();
            if let Some(tap) = &mut self.tap {
                match setup {
                    Ok(setup) => tap.restart(setup),
                    Err(e) => tap.unrecordable(e.reason),
                }
            }
        }
        Ok(())
    }

    /// One frame's duration (nominal; 40 ms when the source does not say).
    fn step(&self) -> f64 {
        self.info.fps.map_or(0.04, |f| 1.0 / f)
    }

    /// Timestamps of what follows start again from zero: continue after the last frame.
    fn restart_timeline(&mut self) {
        self.loop_offset = self.last_pts + self.step();
        self.first_ts = None;
        self.untimed = false;
        self.eof_sent = false;
        self.packets_since_frame = 0;
    }

    fn on_frame(&mut self) -> Frame {
        self.packets_since_frame = 0;
        if self.info.width == 0 {
            self.info.width = self.frame.width();
            self.info.height = self.frame.height();
        }
        let index = self.decoded;
        self.decoded += 1;
        let pts = match self.frame.timestamp().or(self.frame.pts()) {
            Some(ts) if self.time_base > 0.0 => {
                let first = match self.first_ts {
                    Some(first) => first,
                    None => {
                        // Frames without a timestamp came first (FFmpeg's RTSP client gives the
                        // first one none): the media clock starts one frame after them.
                        if self.untimed {
                            self.loop_offset = self.last_pts + self.step();
                        }
                        self.first_ts = Some(ts);
                        ts
                    }
                };
                self.loop_offset + (ts - first) as f64 * self.time_base
            }
            _ => match (self.source.kind(), self.info.fps) {
                (SourceKind::File, Some(fps)) => index as f64 / fps,
                // One missing in a timed stream: the next frame's nominal time.
                _ if self.first_ts.is_some() => self.last_pts + self.step(),
                // Live without timestamps (MJPEG over HTTP): the wall clock.
                _ if !self.untimed => {
                    self.untimed = true;
                    self.restarted = Instant::now();
                    self.loop_offset
                }
                _ => {
                    self.untimed = true;
                    self.loop_offset + self.restarted.elapsed().as_secs_f64()
                }
            },
        };
        // Never go backwards (B-frame reordering glitches, broken timestamps).
        let pts = pts.max(self.last_pts);
        self.last_pts = pts;
        if self.opts.realtime && self.source.kind() == SourceKind::File {
            let (start, pts0) = *self.pace_start.get_or_insert((Instant::now(), pts));
            let due = start + Duration::from_secs_f64((pts - pts0).max(0.0));
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        Frame { index, pts }
    }

    fn rewind(&mut self) -> Result<(), VideoError> {
        if let Demux::Ffmpeg { input, .. } = &mut self.demux {
            if let Err(e) = input.seek(0, ..) {
                return Err(self.err_read(&e));
            }
        }
        self.decoder.flush();
        self.restart_timeline();
        if let Some(tap) = &mut self.tap {
            tap.looped();
        }
        Ok(())
    }

    /// The last decoded frame as packed RGB (converted now; call it only for frames you use).
    pub fn rgb(&mut self) -> Result<RgbImage, VideoError> {
        let (fmt, w, h) = (self.frame.format(), self.frame.width(), self.frame.height());
        let corrupt = |reason: String| VideoError::Corrupt {
            url: self.source.redacted(),
            reason,
        };
        if w == 0 || h == 0 {
            return Err(corrupt("no frame decoded yet".into()));
        }
        let stale =
            !matches!(&self.scaler, Some((f, sw, sh, _)) if *f == fmt && *sw == w && *sh == h);
        if stale {
            let ctx = ff::software::scaling::Context::get(
                fmt,
                w,
                h,
                ff::format::Pixel::RGB24,
                w,
                h,
                ff::software::scaling::Flags::BILINEAR,
            )
            .map_err(|e| corrupt(format!("no conversion from {fmt:?} to RGB: {e}")))?;
            self.scaler = Some((fmt, w, h, ctx));
        }
        let Some((_, _, _, scaler)) = self.scaler.as_mut() else {
            return Err(corrupt("no converter".into()));
        };
        scaler
            .run(&self.frame, &mut self.rgb)
            .map_err(|e| corrupt(format!("colour conversion failed: {e}")))?;
        let stride = self.rgb.stride(0);
        let row = w as usize * 3;
        let plane = self.rgb.data(0);
        let mut out = Vec::with_capacity(row * h as usize);
        for y in 0..h as usize {
            out.extend_from_slice(&plane[y * stride..y * stride + row]);
        }
        RgbImage::from_raw(w, h, out).ok_or_else(|| corrupt("frame size mismatch".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(test: &str) -> Option<std::path::PathBuf> {
        let p = osprey_testkit::require_shared(test)?.join("video/pedestrians.mp4");
        p.is_file().then_some(p)
    }

    #[test]
    fn reads_every_frame_of_the_clip_with_timestamps() {
        let Some(path) = clip("reads_every_frame_of_the_clip_with_timestamps") else {
            return;
        };
        let src = Source::parse(path.to_str().expect("utf-8")).expect("source");
        let mut r = Reader::open(&src, ReaderOptions::default()).expect("open");
        assert_eq!(r.info().codec, "h264");
        assert_eq!((r.info().width, r.info().height), (480, 360));
        assert_eq!(r.info().fps, Some(10.0));
        let mut n = 0;
        let mut last = None;
        while let Some(f) = r.next_frame().expect("frame") {
            assert_eq!(f.index, n);
            assert!((f.pts - n as f64 / 10.0).abs() < 1e-6, "{f:?}");
            if n == 150 {
                let img = r.rgb().expect("rgb");
                assert_eq!((img.width(), img.height()), (480, 360));
                // A real picture: not one flat colour.
                let px = img.as_raw();
                let mean = px.iter().map(|&v| f64::from(v)).sum::<f64>() / px.len() as f64;
                let var = px
                    .iter()
                    .map(|&v| (f64::from(v) - mean).powi(2))
                    .sum::<f64>()
                    / px.len() as f64;
                assert!(var > 100.0, "variance {var}");
            }
            n += 1;
            last = Some(f);
        }
        assert_eq!(n, 300);
        assert_eq!(r.packets(), 300);
        assert!(last.is_some());
    }

    #[test]
    fn loops_files_with_increasing_time() {
        let Some(path) = clip("loops_files_with_increasing_time") else {
            return;
        };
        let src = Source::parse(path.to_str().expect("utf-8")).expect("source");
        let opts = ReaderOptions {
            loop_file: true,
            ..ReaderOptions::default()
        };
        let mut r = Reader::open(&src, opts).expect("open");
        let mut prev = -1.0;
        for i in 0..650u64 {
            let f = r.next_frame().expect("frame").expect("looping never ends");
            assert_eq!(f.index, i);
            assert!(f.pts > prev, "{f:?} after {prev}");
            prev = f.pts;
        }
        assert!((prev - 64.9).abs() < 0.05, "{prev}");
    }

    #[test]
    fn files_that_are_not_video_fail_clearly() {
        let dir = std::env::temp_dir().join(format!("osprey-video-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let text = dir.join("notes.mp4");
        std::fs::write(&text, "this is not a video\n".repeat(100)).expect("write");
        let src = Source::parse(text.to_str().expect("utf-8")).expect("source");
        let e = Reader::open(&src, ReaderOptions::default()).expect_err("not video");
        assert_eq!(e.kind(), "no_video", "{e}");
        let missing =
            Source::parse(dir.join("absent.mp4").to_str().expect("utf-8")).expect("source");
        let e = Reader::open(&missing, ReaderOptions::default()).expect_err("absent");
        assert_eq!(e.kind(), "open", "{e}");
        assert!(e.to_string().contains("no such file"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn corrupt_bitstreams_are_counted_not_fatal() {
        let Some(path) = clip("corrupt_bitstreams_are_counted_not_fatal") else {
            return;
        };
        let mut bytes = std::fs::read(&path).expect("read");
        // Garbage over stretches of the media data (the moov box is at the front: faststart).
        let mut rng = osprey_testkit::fixtures::Rng(7);
        for start in (200_000..bytes.len() - 4096).step_by(40_000) {
            for b in &mut bytes[start..start + 2048] {
                *b = rng.next_u64() as u8;
            }
        }
        let dir = std::env::temp_dir().join(format!("osprey-corrupt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let bad = dir.join("corrupt.mp4");
        std::fs::write(&bad, &bytes).expect("write");
        let src = Source::parse(bad.to_str().expect("utf-8")).expect("source");
        let mut r = Reader::open(&src, ReaderOptions::default()).expect("open");
        let mut frames = 0;
        while let Some(_f) = r.next_frame().expect("corruption is not fatal") {
            frames += 1;
        }
        let (errors, last) = r.decode_errors();
        assert!(errors > 0, "no decode error counted");
        assert!(last.is_some());
        assert!(frames > 100, "{frames} frames");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn refused_connections_fail_within_the_timeout() {
        let port = osprey_testkit::net::free_port();
        let opts = ReaderOptions {
            timeout: Duration::from_secs(2),
            ..ReaderOptions::default()
        };
        for url in [
            format!("rtsp://127.0.0.1:{port}/x"),
            format!("http://127.0.0.1:{port}/x.mjpg"),
        ] {
            let t = Instant::now();
            let e = Reader::open(&Source::parse(&url).expect("url"), opts).expect_err(&url);
            assert_eq!(e.kind(), "open", "{e}");
            assert!(t.elapsed() < Duration::from_secs(10));
        }
    }
}
