//! Live view: a camera's access units as fragmented-MP4 fragments for Media Source Extensions,
//! with no decode and no re-encode (moonfire-nvr's `live.m4s`).
//!
//! [`LiveMuxer`] is pure: tap events in, [`LiveMessage`]s out. Each fragment holds one frame
//! and leaves as soon as the next frame gives its duration (one frame of latency). Decode times
//! run on across reconnects and file loops (a new stream continues where the last one ended),
//! so a client's buffer never goes back in time; a new init segment is sent only when the codec
//! configuration changes.
//!
//! [`LiveHub`] (one per camera, in [`LiveHubs`]) runs the muxer on the decode thread, keeps the
//! current group of pictures so a new viewer starts at once on its keyframe, and broadcasts
//! every message to the viewers through a bounded channel: a viewer that falls behind loses
//! messages (`Lagged`) and must skip to the next keyframe fragment.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use osprey_base::lock;
use osprey_schema::media::EncodedEvent;
use tokio::sync::broadcast;

use crate::annexb::{self, Codec, ParameterSets};
use crate::codec::VideoParams;
use crate::mp4::{fragment_header, init_segment, SampleMeta};

/// A step in pts larger than this (or not forward) is a discontinuity: 5 s.
const MAX_STEP_90K: i64 = 450_000;
/// A fragment's duration before any interval is known: 100 ms.
const DEFAULT_DURATION_90K: u32 = 9000;
/// The group of pictures kept for new viewers is dropped beyond this (they then wait for the
/// next keyframe).
const MAX_GOP_BYTES: usize = 16 << 20;
const MAX_GOP_FRAMES: usize = 600;
/// Messages buffered per viewer before it lags.
const CHANNEL: usize = 128;

/// An init segment (`ftyp` + `moov`) for MSE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveInit {
    /// The codec.
    pub codec: Codec,
    /// RFC 6381 codec string (`avc1.4D401E`).
    pub codec_string: String,
    /// Picture width.
    pub width: u16,
    /// Picture height.
    pub height: u16,
    /// The init segment bytes (shared by every viewer).
    pub data: bytes::Bytes,
}

impl LiveInit {
    /// The MIME type for `MediaSource.isTypeSupported` / `addSourceBuffer`.
    pub fn mime(&self) -> String {
        format!("video/mp4; codecs=\"{}\"", self.codec_string)
    }
}

/// One frame as a `moof` + `mdat` fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveFragment {
    /// `moof` + `mdat` (shared by every viewer).
    pub data: bytes::Bytes,
    /// Whether the frame is a keyframe (a viewer may start here).
    pub keyframe: bool,
    /// The fragment's decode time (90 kHz, continuous over the hub's life).
    pub decode_90k: u64,
    /// Its duration (90 kHz).
    pub duration_90k: u32,
    /// Wall-clock arrival time of the frame, Unix ms.
    pub wall_ms: i64,
}

/// What a viewer receives, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveMessage {
    /// A new codec configuration: (re)initialise the decoder; fragments that follow start on a
    /// keyframe.
    Init(Arc<LiveInit>),
    /// A frame.
    Fragment(Arc<LiveFragment>),
    /// The source cannot be streamed this way (MJPEG, B-frames, an unsupported codec); the
    /// reason says why. An [`LiveMessage::Init`] follows if it becomes possible.
    Unavailable(String),
}

#[derive(Debug)]
struct Pending {
    sample: Vec<u8>,
    pts: i64,
    wall_ms: i64,
    sync: bool,
}

/// Turns tap events into live fragments (pure; see the module docs).
#[derive(Debug, Default)]
pub struct LiveMuxer {
    codec: Option<Codec>,
    ps: ParameterSets,
    init: Option<Arc<LiveInit>>,
    /// The parameter sets `init` was built from.
    init_ps: ParameterSets,
    pending: Option<Pending>,
    /// Waiting for a keyframe (start, new stream, or after an unusable frame).
    waiting: bool,
    next_decode: u64,
    last_duration: Option<u32>,
    sequence: u32,
    dropped: u64,
}

impl LiveMuxer {
    /// A muxer waiting for its first stream.
    pub fn new() -> Self {
        LiveMuxer {
            waiting: true,
            ..LiveMuxer::default()
        }
    }

    /// Frames dropped while waiting for a keyframe with complete parameter sets.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The current init segment, if a stream is live.
    pub fn init(&self) -> Option<&Arc<LiveInit>> {
        self.init.as_ref()
    }

    /// Handles one tap event; returns the messages it completes.
    pub fn push(&mut self, ev: &EncodedEvent) -> Vec<LiveMessage> {
        let mut out = Vec::new();
        match ev {
            EncodedEvent::Stream(s) => {
                self.flush(None, &mut out);
                let codec = Codec::from(s.codec);
                self.codec = Some(codec);
                self.ps = ParameterSets::from_annexb(codec, &s.parameter_sets);
                self.waiting = true;
            }
            EncodedEvent::Unrecordable(reason) => {
                self.flush(None, &mut out);
                self.codec = None;
                self.init = None;
                self.waiting = true;
                out.push(LiveMessage::Unavailable(reason.clone()));
            }
            EncodedEvent::Unit(u) => {
                let Some(codec) = self.codec else {
                    return out;
                };
                let units = annexb::split(&u.data);
                self.ps.update(codec, &units);
                let sync = annexb::is_keyframe(codec, &units);
                let mut sample = Vec::with_capacity(u.data.len());
                annexb::to_sample(codec, &units, &mut sample);
                if sample.is_empty() {
                    return out; // parameter sets or delimiters only
                }
                self.flush(Some(u.pts_90k), &mut out);
                if sync && self.ps.is_complete(codec) {
                    self.start_gop(codec, &mut out);
                }
                if self.waiting {
                    self.dropped += 1;
                    return out;
                }
                self.pending = Some(Pending {
                    sample,
                    pts: u.pts_90k,
                    wall_ms: u.wall_unix_ms,
                    sync,
                });
            }
        }
        out
    }

    /// At a keyframe: a new init segment when the configuration changed.
    fn start_gop(&mut self, codec: Codec, out: &mut Vec<LiveMessage>) {
        if self.init.is_none() || self.ps != self.init_ps {
            match VideoParams::new(codec, &self.ps) {
                Ok(p) => {
                    let init = Arc::new(LiveInit {
                        codec,
                        data: init_segment(&p.sample_entry, p.width, p.height, None).into(),
                        codec_string: p.codec_string,
                        width: p.width,
                        height: p.height,
                    });
                    self.init = Some(init.clone());
                    self.init_ps = self.ps.clone();
                    out.push(LiveMessage::Init(init));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "live view: unusable parameter sets");
                    self.waiting = true;
                    return;
                }
            }
        }
        self.waiting = false;
    }

    /// Emits the pending frame; its duration is `next_pts` minus its pts when that is a
    /// plausible step, else the last duration.
    fn flush(&mut self, next_pts: Option<i64>, out: &mut Vec<LiveMessage>) {
        let Some(p) = self.pending.take() else {
            return;
        };
        let step = next_pts
            .map(|n| n - p.pts)
            .filter(|&d| d > 0 && d <= MAX_STEP_90K);
        let duration = step
            .map(|d| d as u32)
            .or(self.last_duration)
            .unwrap_or(DEFAULT_DURATION_90K);
        if step.is_some() {
            self.last_duration = Some(duration);
        }
        self.sequence = self.sequence.wrapping_add(1);
        let meta = [SampleMeta {
            duration,
            size: p.sample.len() as u32,
            sync: p.sync,
        }];
        let mut data = fragment_header(self.sequence, self.next_decode, &meta);
        data.extend_from_slice(&p.sample);
        out.push(LiveMessage::Fragment(Arc::new(LiveFragment {
            data: data.into(),
            keyframe: p.sync,
            decode_90k: self.next_decode,
            duration_90k: duration,
            wall_ms: p.wall_ms,
        })));
        self.next_decode += u64::from(duration);
    }
}

/// What a new viewer gets: where to start, and the channel for what follows.
#[derive(Debug)]
pub struct LiveSubscription {
    /// The current init segment (`None`: no stream yet, or [`LiveSubscription::unavailable`]).
    pub init: Option<Arc<LiveInit>>,
    /// The current group of pictures, from its keyframe (empty: wait for the next keyframe).
    pub backlog: Vec<Arc<LiveFragment>>,
    /// Why the stream cannot be viewed live, when it cannot.
    pub unavailable: Option<String>,
    /// Everything after the backlog.
    pub rx: broadcast::Receiver<LiveMessage>,
}

#[derive(Debug)]
struct HubState {
    muxer: LiveMuxer,
    gop: Vec<Arc<LiveFragment>>,
    gop_bytes: usize,
    /// `false` after the group outgrew its limits, until the next keyframe.
    gop_complete: bool,
    unavailable: Option<String>,
}

/// One camera's live stream (see the module docs).
#[derive(Debug)]
pub struct LiveHub {
    state: Mutex<HubState>,
    tx: broadcast::Sender<LiveMessage>,
}

impl Default for LiveHub {
    fn default() -> Self {
        LiveHub {
            state: Mutex::new(HubState {
                muxer: LiveMuxer::new(),
                gop: Vec::new(),
                gop_bytes: 0,
                gop_complete: false,
                unavailable: None,
            }),
            tx: broadcast::channel(CHANNEL).0,
        }
    }
}

impl LiveHub {
    /// Handles one tap event (on the decode thread; never blocks on viewers).
    pub fn push(&self, ev: &EncodedEvent) {
        let mut s = lock(&self.state);
        for msg in s.muxer.push(ev) {
            match &msg {
                LiveMessage::Init(_) => s.unavailable = None,
                LiveMessage::Unavailable(reason) => {
                    s.unavailable = Some(reason.clone());
                    s.gop.clear();
                    s.gop_bytes = 0;
                    s.gop_complete = false;
                }
                LiveMessage::Fragment(f) => keep(&mut s, f),
            }
            // An error only means nobody is watching.
            let _ = self.tx.send(msg);
        }
    }

    /// Starts watching: the state now and the channel for what follows, with nothing missed
    /// or repeated in between.
    pub fn subscribe(&self) -> LiveSubscription {
        let s = lock(&self.state);
        LiveSubscription {
            init: s.muxer.init().cloned(),
            backlog: if s.gop_complete {
                s.gop.clone()
            } else {
                Vec::new()
            },
            unavailable: s.unavailable.clone(),
            rx: self.tx.subscribe(),
        }
    }

    /// Viewers now.
    pub fn viewers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// The current codec configuration, if live.
    pub fn init(&self) -> Option<Arc<LiveInit>> {
        lock(&self.state).muxer.init().cloned()
    }
}

/// Keeps `f` in the group of pictures a new viewer starts with.
fn keep(s: &mut HubState, f: &Arc<LiveFragment>) {
    if f.keyframe {
        s.gop.clear();
        s.gop_bytes = 0;
        s.gop_complete = true;
    }
    if !s.gop_complete {
        return;
    }
    if s.gop.len() >= MAX_GOP_FRAMES || s.gop_bytes + f.data.len() > MAX_GOP_BYTES {
        s.gop.clear();
        s.gop_bytes = 0;
        s.gop_complete = false;
        return;
    }
    s.gop_bytes += f.data.len();
    s.gop.push(f.clone());
}

/// The cameras' live hubs, by camera id.
#[derive(Debug, Default)]
pub struct LiveHubs(Mutex<BTreeMap<String, Arc<LiveHub>>>);

impl LiveHubs {
    /// The hub of a camera being started (a new one: viewers of a removed camera with the same
    /// id see their stream end).
    pub fn start(&self, camera: &str) -> Arc<LiveHub> {
        let hub = Arc::new(LiveHub::default());
        lock(&self.0).insert(camera.to_string(), hub.clone());
        hub
    }

    /// Drops a removed camera's hub (its viewers' channels close).
    pub fn stop(&self, camera: &str) {
        lock(&self.0).remove(camera);
    }

    /// A camera's hub.
    pub fn get(&self, camera: &str) -> Option<Arc<LiveHub>> {
        lock(&self.0).get(camera).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{TEST_PPS, TEST_SPS};
    use crate::mp4::{boxes, child, parse_moof};
    use osprey_schema::media::{EncodedStream, EncodedUnit, VideoCodec};

    fn unit(i: i64, pts: i64) -> EncodedEvent {
        let mut data = Vec::new();
        let key = i % 10 == 0;
        if key {
            for nal in [&TEST_SPS[..], &TEST_PPS] {
                data.extend_from_slice(&[0, 0, 0, 1]);
                data.extend_from_slice(nal);
            }
            data.extend_from_slice(&[0, 0, 0, 1, 0x65, 0x88, 0x84]);
        } else {
            data.extend_from_slice(&[0, 0, 0, 1, 0x41, 0x9a, i as u8]);
        }
        EncodedEvent::Unit(EncodedUnit {
            data,
            pts_90k: pts,
            wall_unix_ms: 1000 + i * 100,
            keyframe: key,
        })
    }

    fn stream() -> EncodedEvent {
        EncodedEvent::Stream(EncodedStream {
            codec: VideoCodec::H264,
            parameter_sets: Vec::new(),
            width: 0,
            height: 0,
        })
    }

    fn frags(msgs: &[LiveMessage]) -> Vec<&LiveFragment> {
        msgs.iter()
            .filter_map(|m| match m {
                LiveMessage::Fragment(f) => Some(f.as_ref()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn starts_on_a_keyframe_and_decode_time_runs_on_across_streams() {
        let mut m = LiveMuxer::new();
        let mut out = Vec::new();
        out.extend(m.push(&stream()));
        // Frames 5..9 come before the first keyframe: dropped.
        for i in 5..25 {
            out.extend(m.push(&unit(i, i * 9000)));
        }
        // The camera reconnects: pts restart from 0.
        out.extend(m.push(&stream()));
        for i in 0..12 {
            out.extend(m.push(&unit(i, i * 9000)));
        }
        assert_eq!(m.dropped(), 5);
        let inits = out
            .iter()
            .filter(|m| matches!(m, LiveMessage::Init(_)))
            .count();
        assert_eq!(inits, 1, "same parameter sets: one init segment");
        assert!(matches!(out[0], LiveMessage::Init(_)));
        let f = frags(&out);
        // 10..24 and 0..10 (the last frame waits for its successor).
        assert_eq!(f.len(), 15 + 11);
        assert!(f[0].keyframe && f[15].keyframe);
        let mut t = 0;
        for x in &f {
            assert_eq!(x.decode_90k, t, "continuous decode time");
            t += u64::from(x.duration_90k);
            let moof = boxes(&x.data).next().unwrap();
            assert_eq!(&moof.0, b"moof");
            let info = parse_moof(moof.1).unwrap();
            assert_eq!(info.base_decode_time, x.decode_90k);
        }
        // The frame before the reconnect keeps the previous interval.
        assert!(f.iter().all(|x| x.duration_90k == 9000));
    }

    #[test]
    fn unavailable_then_init_again() {
        let mut m = LiveMuxer::new();
        let out = m.push(&EncodedEvent::Unrecordable("MJPEG".into()));
        assert_eq!(out, [LiveMessage::Unavailable("MJPEG".into())]);
        assert!(m.push(&unit(0, 0)).is_empty(), "no stream: ignored");
        m.push(&stream());
        let out = m.push(&unit(0, 0));
        assert!(matches!(&out[..], [LiveMessage::Init(i)] if i.codec_string == "avc1.4D401E"));
        let init = m.init().unwrap();
        let moov = boxes(&init.data).nth(1).unwrap();
        assert_eq!(&moov.0, b"moov");
        assert!(child(moov.1, b"mvex").is_some());
    }

    #[test]
    fn hub_gives_a_new_viewer_the_current_gop_then_the_rest() {
        let hub = LiveHub::default();
        hub.push(&stream());
        for i in 0..14 {
            hub.push(&unit(i, i * 9000));
        }
        let mut sub = hub.subscribe();
        assert!(sub.init.is_some());
        // Frames 10..12 are complete (13 waits for its successor).
        let backlog: Vec<_> = sub.backlog.iter().map(|f| f.wall_ms).collect();
        assert_eq!(backlog, [2000, 2100, 2200]);
        assert!(sub.backlog[0].keyframe);
        hub.push(&unit(14, 14 * 9000));
        match sub.rx.try_recv().unwrap() {
            LiveMessage::Fragment(f) => assert_eq!(f.wall_ms, 2300),
            m => panic!("{m:?}"),
        }
        assert_eq!(hub.viewers(), 1);
        drop(sub);
        assert_eq!(hub.viewers(), 0);
    }

    #[test]
    fn hub_drops_an_oversized_gop_until_the_next_keyframe() {
        let hub = LiveHub::default();
        hub.push(&stream());
        // One keyframe, then more frames than a group may hold.
        for i in 0..(MAX_GOP_FRAMES as i64 + 5) {
            let ev = match unit(i.min(1), i * 9000) {
                EncodedEvent::Unit(mut u) if i > 0 => {
                    u.data = vec![0, 0, 0, 1, 0x41, 0x9a, 1];
                    u.keyframe = false;
                    EncodedEvent::Unit(u)
                }
                e => e,
            };
            hub.push(&ev);
        }
        assert!(hub.subscribe().backlog.is_empty());
    }
}
