//! RTSP through the `retina` client: one async task per camera on a small shared tokio runtime
//! (thread `osprey-rtsp`) receives RTP over TCP interleaved, depacketizes H.264/H.265 into
//! Annex B access units (parameter sets before every keyframe) and hands them to the camera's
//! decode thread through a bounded channel. When the channel is full the task stops reading and
//! TCP flow control pushes back on the camera; nothing queues without bound.
//!
//! What retina cannot take is reported as [`Opened::Unsupported`] so the caller can fall back to
//! FFmpeg's RTSP client: codecs other than H.264/H.265, and server quirks retina rejects.
//! Reordered timestamps (B-frames) are detected by the reader, which falls back the same way.
use std::sync::OnceLock;
use std::time::Duration;

use futures_util::StreamExt;
use retina::client::{
    Credentials, PlayOptions, Session, SessionOptions, SetupOptions, TcpTransportOptions, Transport,
};
use retina::codec::{CodecItem, FrameFormat};
use tokio::sync::mpsc;

use crate::{Source, StreamInfo, VideoError};

/// Access units buffered between the network task and the decode thread (about 3 s at 10 fps).
const QUEUE: usize = 32;

/// One depacketized access unit.
#[derive(Debug)]
pub(crate) struct Unit {
    /// Annex B NAL units (with SPS/PPS before keyframes).
    pub data: Vec<u8>,
    /// Presentation time in clock ticks since the first packet.
    pub pts: i64,
    /// RTP packets lost before this unit (0 over TCP unless the server drops).
    pub loss: u16,
    /// Whether the unit is a random-access point.
    pub key: bool,
    /// Wall-clock arrival time, Unix milliseconds.
    pub wall_unix_ms: i64,
}

/// What the network task sends.
#[derive(Debug)]
pub(crate) enum Msg {
    Unit(Unit),
    Error(VideoError),
    End,
}

/// A playing retina session, seen from the decode thread.
#[derive(Debug)]
pub(crate) struct RetinaStream {
    rx: mpsc::Receiver<Msg>,
    task: tokio::task::AbortHandle,
    /// Clock ticks per second of [`Unit::pts`].
    pub clock_rate: u32,
    /// The codec's `avcC`/`hvcC` record from the SDP (empty when unknown).
    pub extradata: Vec<u8>,
}

impl Drop for RetinaStream {
    fn drop(&mut self) {
        // Dropping the session closes the TCP connection (the server tears down).
        self.task.abort();
    }
}

impl RetinaStream {
    /// Stops the session now (the connection closes).
    pub fn close(&mut self) {
        self.task.abort();
        self.rx.close();
    }

    /// The next access unit; `Ok(None)` when the server ended the stream. Blocks (call it from
    /// the decode thread, never from async code).
    pub fn next(&mut self) -> Result<Option<Unit>, VideoError> {
        match self.rx.blocking_recv() {
            Some(Msg::Unit(u)) => Ok(Some(u)),
            Some(Msg::Error(e)) => Err(e),
            Some(Msg::End) | None => Ok(None),
        }
    }
}

/// The result of trying retina on a source.
#[derive(Debug)]
pub(crate) enum Opened {
    Playing(RetinaStream, StreamInfo),
    /// Retina cannot play this stream; the reason says why (for the log).
    Unsupported(String),
}

fn runtime() -> Result<&'static tokio::runtime::Runtime, String> {
    static RT: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("osprey-rtsp")
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| format!("cannot start the RTSP runtime: {e}"))
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Connects, sets up the video stream over TCP and starts playing, waiting at most `timeout`
/// for each step; frames then flow until the stream is dropped. Blocks the calling thread.
pub(crate) fn open(source: &Source, timeout: Duration) -> Result<Opened, VideoError> {
    let redacted = source.redacted();
    let open_err = |reason: String| VideoError::Open {
        url: redacted.clone(),
        reason,
    };
    let mut url = url::Url::parse(source.target()).map_err(|e| VideoError::BadUrl {
        url: redacted.clone(),
        reason: e.to_string(),
    })?;
    let creds = (!url.username().is_empty()).then(|| Credentials {
        username: percent_decode(url.username()),
        password: url.password().map(percent_decode).unwrap_or_default(),
    });
    // Retina takes credentials separately and refuses URLs that carry them.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let rt = runtime().map_err(open_err)?;
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
    let (tx, rx) = mpsc::channel(QUEUE);
    let task = rt.spawn(run(url, creds, timeout, redacted.clone(), ready_tx, tx));
    let abort = task.abort_handle();
    // The task answers within its own timeouts; the margin covers a stalled runtime.
    match ready_rx.recv_timeout(timeout * 4 + Duration::from_secs(1)) {
        Ok(Ok((info, clock_rate, extradata))) => Ok(Opened::Playing(
            RetinaStream {
                rx,
                task: abort,
                clock_rate,
                extradata,
            },
            info,
        )),
        Ok(Err(Setup::Unsupported(why))) => Ok(Opened::Unsupported(why)),
        Ok(Err(Setup::Failed(e))) => Err(e),
        Err(_) => {
            abort.abort();
            Err(open_err("timed out".into()))
        }
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[derive(Debug)]
enum Setup {
    Unsupported(String),
    Failed(VideoError),
}

/// Maps a retina error during set-up: refusals with a status are the server's answer (auth,
/// not found), connection problems are `open`; anything else is retina not coping with this
/// server, worth a try with FFmpeg.
fn classify(e: &retina::Error, url: &str, during: &str) -> Setup {
    let first = e.to_string().lines().next().unwrap_or_default().to_string();
    match e.status_code() {
        Some(401 | 403) => Setup::Failed(VideoError::Auth {
            url: url.to_string(),
            reason: first,
        }),
        Some(_) => Setup::Failed(VideoError::Open {
            url: url.to_string(),
            reason: first,
        }),
        None if is_network(e) => Setup::Failed(VideoError::Open {
            url: url.to_string(),
            reason: first,
        }),
        None => Setup::Unsupported(format!("retina {during}: {first}")),
    }
}

/// Whether retina failed on the connection itself. Its error exposes no kind and no source
/// chain besides the response status, so this reads the message's fixed prefixes.
fn is_network(e: &retina::Error) -> bool {
    let text = e.to_string();
    [
        "Unable to connect",
        "Error reading from RTSP peer",
        "Error writing to RTSP peer",
        "Timeout",
    ]
    .iter()
    .any(|p| text.starts_with(p))
}

type Ready = Result<(StreamInfo, u32, Vec<u8>), Setup>;

async fn run(
    url: url::Url,
    creds: Option<Credentials>,
    timeout: Duration,
    redacted: String,
    ready: std::sync::mpsc::SyncSender<Ready>,
    tx: mpsc::Sender<Msg>,
) {
    let timed_out = |what: &str| {
        Setup::Failed(VideoError::Open {
            url: redacted.clone(),
            reason: format!("timed out ({what})"),
        })
    };
    let setup = async {
        let opts = SessionOptions::default()
            .creds(creds)
            .user_agent(format!("osprey/{}", env!("CARGO_PKG_VERSION")));
        let mut session = tokio::time::timeout(timeout, Session::describe(url, opts))
            .await
            .map_err(|_| timed_out("DESCRIBE"))?
            .map_err(|e| classify(&e, &redacted, "DESCRIBE"))?;
        let Some(i) = session.streams().iter().position(|s| s.media() == "video") else {
            return Err(Setup::Failed(VideoError::NoVideo {
                url: redacted.clone(),
                reason: "no video stream in the RTSP session".into(),
            }));
        };
        let stream = &session.streams()[i];
        let encoding = stream.encoding_name().to_ascii_lowercase();
        if encoding != "h264" && encoding != "h265" {
            return Err(Setup::Unsupported(format!(
                "codec {encoding} is not depacketized by Osprey's retina path"
            )));
        }
        let clock_rate = stream.clock_rate_hz();
        let framerate = stream.framerate().map(f64::from);
        tokio::time::timeout(
            timeout,
            session.setup(
                i,
                SetupOptions::default()
                    .transport(Transport::Tcp(TcpTransportOptions::default()))
                    .frame_format(FrameFormat::SIMPLE),
            ),
        )
        .await
        .map_err(|_| timed_out("SETUP"))?
        .map_err(|e| classify(&e, &redacted, "SETUP"))?;
        let (width, height, param_fps, extradata) = match session.streams()[i].parameters() {
            Some(retina::codec::ParametersRef::Video(v)) => {
                let (w, h) = v.pixel_dimensions();
                let fps = v
                    .frame_rate()
                    .filter(|&(num, den)| num > 0 && den > 0)
                    .map(|(num, den)| f64::from(den) / f64::from(num));
                (w, h, fps, v.extra_data().to_vec())
            }
            _ => (0, 0, None, Vec::new()),
        };
        let playing = tokio::time::timeout(timeout, session.play(PlayOptions::default()))
            .await
            .map_err(|_| timed_out("PLAY"))?
            .map_err(|e| classify(&e, &redacted, "PLAY"))?;
        let demuxed = playing
            .demuxed()
            .map_err(|e| classify(&e, &redacted, "depacketizer"))?;
        let info = StreamInfo {
            codec: if encoding == "h265" {
                "hevc".into()
            } else {
                encoding
            },
            width,
            height,
            fps: framerate
                .or(param_fps)
                .filter(|f| f.is_finite() && *f > 0.0),
        };
        Ok((demuxed, info, clock_rate, extradata))
    };
    let (mut demuxed, info, clock_rate, extradata) = match setup.await {
        Ok(v) => v,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    if ready.send(Ok((info, clock_rate, extradata))).is_err() {
        return;
    }
    let read_err = |reason: String| {
        Msg::Error(VideoError::Read {
            url: redacted.clone(),
            reason,
        })
    };
    loop {
        let msg = match tokio::time::timeout(timeout, demuxed.next()).await {
            Err(_) => read_err("timed out (no data)".into()),
            Ok(None) => Msg::End,
            Ok(Some(Err(e))) => read_err(e.to_string().lines().next().unwrap_or_default().into()),
            Ok(Some(Ok(CodecItem::VideoFrame(f)))) => {
                let pts = f.timestamp().elapsed();
                let loss = f.loss();
                let key = f.is_random_access_point();
                Msg::Unit(Unit {
                    data: f.into_data(),
                    pts,
                    loss,
                    key,
                    wall_unix_ms: crate::tap::unix_ms_now(),
                })
            }
            Ok(Some(Ok(_))) => continue,
        };
        let last = !matches!(msg, Msg::Unit(_));
        if tx.send(msg).await.is_err() || last {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_percent_decoded() {
        assert_eq!(percent_decode("us%40er"), "us@er");
        assert_eq!(percent_decode("p%3Ass%25"), "p:ss%");
        assert_eq!(percent_decode("plain"), "plain");
        assert_eq!(percent_decode("bad%4"), "bad%4");
        assert_eq!(percent_decode("%zz%"), "%zz%");
    }
}
