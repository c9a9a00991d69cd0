//! Track events: Frigate-style event lifecycle per camera (`new` / `update` / `end`), the
//! per-label counts, NVIDIA's minimal-schema frame message, and the SQLite event store behind
//! `GET /api/events`.
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use osprey_track::{Track, TrackEvent};
use serde::Serialize;
use serde_json::{json, Value};

use super::publish::{Bus, MqttMessage};

/// An event as stored and served by `GET /api/events`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRecord {
    /// Frigate-style id: `<start time>-<suffix>`.
    pub id: String,
    /// Camera id.
    pub camera: String,
    /// Class name.
    pub label: String,
    /// The tracker's id for the object.
    pub track_id: u64,
    /// Unix seconds the track was confirmed.
    pub start_time: f64,
    /// Unix seconds the track ended (`null` while active).
    pub end_time: Option<f64>,
    /// Best detection score seen.
    pub top_score: f32,
    /// Box at the best score `[x1, y1, x2, y2]`, source pixels.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// Frames the object was seen in.
    pub frames: u64,
}

/// Filters of `GET /api/events`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventQuery {
    /// Only this camera.
    pub camera: Option<String>,
    /// Only this label.
    pub label: Option<String>,
    /// Started at or after (unix seconds).
    pub after: Option<f64>,
    /// Started before (unix seconds).
    pub before: Option<f64>,
    /// Most rows (newest first).
    pub limit: usize,
}

/// Why the event store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no.
    #[error("event store {path}: {source}")]
    Sqlite {
        /// Database file.
        path: String,
        /// Cause.
        source: rusqlite::Error,
    },
}

/// The SQLite event store: a writer thread fed by a bounded queue, and a read connection for
/// queries (WAL, so reads never wait for the writer).
#[derive(Debug, Clone)]
pub struct EventStore {
    tx: SyncSender<EventRecord>,
    reader: Arc<Mutex<rusqlite::Connection>>,
    path: PathBuf,
    counters: prometheus::IntCounterVec,
}

/// Rows kept; older events are deleted.
const MAX_ROWS: i64 = 100_000;

fn open(path: &Path) -> Result<rusqlite::Connection, StoreError> {
    let err = |source| StoreError::Sqlite {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    let c = rusqlite::Connection::open(path).map_err(err)?;
    c.busy_timeout(Duration::from_secs(5)).map_err(err)?;
    c.execute_batch(
        "PRAGMA journal_mode=WAL;
         PRAGMA synchronous=NORMAL;
         CREATE TABLE IF NOT EXISTS events(
             id TEXT PRIMARY KEY, camera TEXT NOT NULL, label TEXT NOT NULL,
             track_id INTEGER NOT NULL, start_time REAL NOT NULL, end_time REAL,
             top_score REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL,
             y2 REAL NOT NULL, frames INTEGER NOT NULL);
         CREATE INDEX IF NOT EXISTS events_start ON events(start_time);
         CREATE INDEX IF NOT EXISTS events_camera_start ON events(camera, start_time);",
    )
    .map_err(err)?;
    Ok(c)
}

impl EventStore {
    /// Opens (or creates) the database and starts the writer thread `osprey-events`.
    pub fn open(
        path: &Path,
        counters: prometheus::IntCounterVec,
    ) -> Result<EventStore, StoreError> {
        let writer = open(path)?;
        let reader = open(path)?;
        // Events still open when the server stopped will never see their end.
        let _ = writer.execute(
            "UPDATE events SET end_time = start_time WHERE end_time IS NULL",
            [],
        );
        let (tx, rx) = mpsc::sync_channel::<EventRecord>(4096);
        let c = counters.clone();
        let p = path.display().to_string();
        std::thread::Builder::new()
            .name("osprey-events".into())
            .spawn(move || {
                let sent = c.with_label_values(&["events", "sent"]);
                let failed = c.with_label_values(&["events", "failed"]);
                let mut n = 0u64;
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    while let Ok(r) = rx.try_recv() {
                        batch.push(r);
                        if batch.len() >= 512 {
                            break;
                        }
                    }
                    match write(&writer, &batch) {
                        Ok(()) => sent.inc_by(batch.len() as u64),
                        Err(e) => {
                            tracing::error!(path = %p, error = %e, events = batch.len(), "cannot store events");
                            failed.inc_by(batch.len() as u64);
                        }
                    }
                    n += batch.len() as u64;
                    if n >= 1000 {
                        n = 0;
                        let _ = writer.execute(
                            "DELETE FROM events WHERE rowid <= (SELECT max(rowid) FROM events) - ?1",
                            [MAX_ROWS],
                        );
                    }
                }
            })
            .map_err(|e| StoreError::Sqlite {
                path: path.display().to_string(),
                source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
            })?;
        Ok(EventStore {
            tx,
            reader: Arc::new(Mutex::new(reader)),
            path: path.to_path_buf(),
            counters,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues an insert-or-update (dropped and counted when the writer is far behind).
    pub fn put(&self, r: EventRecord) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(r) {
            self.counters
                .with_label_values(&["events", "dropped"])
                .inc();
        }
    }

    /// Runs a query (blocking; call from a blocking thread).
    pub fn query(&self, q: &EventQuery) -> Result<Vec<EventRecord>, StoreError> {
        let c = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        let err = |source| StoreError::Sqlite {
            path: self.path.display().to_string(),
            source,
        };
        let mut stmt = c
            .prepare_cached(
                "SELECT id, camera, label, track_id, start_time, end_time, top_score, x1, y1, x2, y2, frames
                 FROM events
                 WHERE (?1 IS NULL OR camera = ?1) AND (?2 IS NULL OR label = ?2)
                   AND (?3 IS NULL OR start_time >= ?3) AND (?4 IS NULL OR start_time < ?4)
                 ORDER BY start_time DESC, id DESC LIMIT ?5",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(
                rusqlite::params![q.camera, q.label, q.after, q.before, q.limit as i64],
                |r| {
                    Ok(EventRecord {
                        id: r.get(0)?,
                        camera: r.get(1)?,
                        label: r.get(2)?,
                        track_id: r.get::<_, i64>(3)? as u64,
                        start_time: r.get(4)?,
                        end_time: r.get(5)?,
                        top_score: r.get::<_, f64>(6)? as f32,
                        bbox: [
                            r.get::<_, f64>(7)? as f32,
                            r.get::<_, f64>(8)? as f32,
                            r.get::<_, f64>(9)? as f32,
                            r.get::<_, f64>(10)? as f32,
                        ],
                        frames: r.get::<_, i64>(11)? as u64,
                    })
                },
            )
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }
}

fn write(c: &rusqlite::Connection, batch: &[EventRecord]) -> rusqlite::Result<()> {
    let tx = c.unchecked_transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO events(id, camera, label, track_id, start_time, end_time, top_score, x1, y1, x2, y2, frames)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT(id) DO UPDATE SET end_time = excluded.end_time, top_score = excluded.top_score,
               x1 = excluded.x1, y1 = excluded.y1, x2 = excluded.x2, y2 = excluded.y2, frames = excluded.frames",
        )?;
        for r in batch {
            stmt.execute(rusqlite::params![
                r.id,
                r.camera,
                r.label,
                r.track_id as i64,
                r.start_time,
                r.end_time,
                f64::from(r.top_score),
                f64::from(r.bbox[0]),
                f64::from(r.bbox[1]),
                f64::from(r.bbox[2]),
                f64::from(r.bbox[3]),
                r.frames as i64,
            ])?;
        }
    }
    tx.commit()
}

/// An object as this frame sees it, for the minimal schema and the snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct SeenObject {
    /// Track id.
    pub track_id: u64,
    /// Box in source pixels.
    pub bbox: [f32; 4],
    /// Class name.
    pub label: String,
    /// Score of the last matched detection.
    pub score: f32,
}

/// DeepStream's minimal schema for one frame.
pub fn minimal_schema(camera: &str, frame: u64, timestamp: &str, objects: &[SeenObject]) -> String {
    let objects: Vec<String> = objects
        .iter()
        .map(|o| {
            format!(
                "{}|{:.1}|{:.1}|{:.1}|{:.1}|{}|#|{:.3}",
                o.track_id, o.bbox[0], o.bbox[1], o.bbox[2], o.bbox[3], o.label, o.score
            )
        })
        .collect();
    json!({
        "version": "4.0",
        "id": frame,
        "@timestamp": timestamp,
        "sensorId": camera,
        "objects": objects,
    })
    .to_string()
}

struct Live {
    record: EventRecord,
    last: Value,
    last_sent: Instant,
    box_now: [f32; 4],
    score_now: f32,
}

/// Per-camera event lifecycle.
#[derive(Default)]
#[allow(missing_debug_implementations)]
pub struct EventTracker {
    camera: String,
    live: HashMap<u64, Live>,
    counts: BTreeMap<String, usize>,
    all: Option<usize>,
    nonce: u64,
}

/// Publishes one Frigate event message and stores the event's row.
fn emit(bus: &Bus, kind: &str, before: &Value, after: &Value, record: &EventRecord) {
    bus.mqtt(MqttMessage {
        topic: "events".into(),
        payload: json!({"type": kind, "before": before, "after": after})
            .to_string()
            .into_bytes(),
        retain: false,
    });
    if let Some(store) = bus.events() {
        store.put(record.clone());
    }
}

/// Least time between two `update` messages of one event.
const UPDATE_EVERY: Duration = Duration::from_secs(1);

impl EventTracker {
    /// A tracker for `camera`'s events.
    pub fn new(camera: &str) -> EventTracker {
        // Distinguishes ids across restarts of the same camera within one second.
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        EventTracker {
            camera: camera.to_string(),
            nonce,
            ..EventTracker::default()
        }
    }

    fn frigate(&self, l: &Live, now: f64) -> Value {
        let r = &l.record;
        let area = ((l.box_now[2] - l.box_now[0]) * (l.box_now[3] - l.box_now[1])).max(0.0);
        let ratio = (l.box_now[2] - l.box_now[0]) / (l.box_now[3] - l.box_now[1]).max(1.0);
        json!({
            "id": r.id,
            "camera": r.camera,
            "frame_time": now,
            "label": r.label,
            "sub_label": null,
            "top_score": r.top_score,
            "score": l.score_now,
            "box": l.box_now.map(|v| v.round() as i64),
            "area": area.round() as i64,
            "ratio": ratio,
            "region": l.box_now.map(|v| v.round() as i64),
            "stationary": false,
            "motionless_count": 0,
            "position_changes": 0,
            "current_zones": [],
            "entered_zones": [],
            "has_clip": false,
            "has_snapshot": false,
            "start_time": r.start_time,
            "end_time": r.end_time,
            "false_positive": false,
            "active": r.end_time.is_none(),
            "track_id": r.track_id,
        })
    }

    /// Takes one processed frame: the tracks it reported and the tracker's lifecycle events.
    /// Publishes MQTT messages, stores events, and returns what the frame shows.
    pub fn on_frame(
        &mut self,
        bus: &Bus,
        now: f64,
        tracks: &[Track],
        events: &[TrackEvent],
        label_of: &dyn Fn(u32) -> String,
    ) -> Vec<SeenObject> {
        let mut ended = Vec::new();
        for e in events {
            match e {
                TrackEvent::New(t) => {
                    let b = [t.bbox.x1, t.bbox.y1, t.bbox.x2, t.bbox.y2];
                    self.nonce = self
                        .nonce
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let record = EventRecord {
                        id: format!("{now:.6}-{:06x}", (self.nonce >> 40) & 0xff_ffff),
                        camera: self.camera.clone(),
                        label: label_of(t.class),
                        track_id: t.id,
                        start_time: now,
                        end_time: None,
                        top_score: t.score,
                        bbox: b,
                        frames: 0,
                    };
                    let live = Live {
                        record,
                        last: Value::Null,
                        last_sent: Instant::now(),
                        box_now: b,
                        score_now: t.score,
                    };
                    let after = self.frigate(&live, now);
                    emit(bus, "new", &after, &after, &live.record);
                    self.live.insert(
                        t.id,
                        Live {
                            last: after,
                            ..live
                        },
                    );
                }
                TrackEvent::End(t) => ended.push(*t),
            }
        }
        let mut seen = Vec::with_capacity(tracks.len());
        for t in tracks {
            let b = [t.bbox.x1, t.bbox.y1, t.bbox.x2, t.bbox.y2];
            let label = label_of(t.class);
            seen.push(SeenObject {
                track_id: t.id,
                bbox: b,
                label: label.clone(),
                score: t.score,
            });
            let Some(live) = self.live.get_mut(&t.id) else {
                continue;
            };
            live.box_now = b;
            live.score_now = t.score;
            live.record.frames += 1;
            let better = t.matched && t.score > live.record.top_score;
            if better {
                live.record.top_score = t.score;
                live.record.bbox = b;
            }
            if better && live.last_sent.elapsed() >= UPDATE_EVERY {
                live.last_sent = Instant::now();
                let before = std::mem::take(&mut live.last);
                let live = &self.live[&t.id];
                let after = self.frigate(live, now);
                emit(bus, "update", &before, &after, &live.record);
                if let Some(l) = self.live.get_mut(&t.id) {
                    l.last = after;
                }
            }
        }
        for t in ended {
            if let Some(mut live) = self.live.remove(&t.id) {
                live.record.end_time = Some(now);
                let after = self.frigate(&live, now);
                emit(bus, "end", &live.last, &after, &live.record);
            }
        }
        // Per-label counts of objects in view, retained, published when they change.
        if bus.has_mqtt() {
            let mut counts: BTreeMap<String, usize> = BTreeMap::new();
            for o in &seen {
                *counts.entry(o.label.clone()).or_default() += 1;
            }
            let labels: Vec<String> = counts.keys().chain(self.counts.keys()).cloned().collect();
            for label in labels {
                let new = counts.get(&label).copied().unwrap_or(0);
                if self.counts.get(&label).copied().unwrap_or(0) != new
                    || (new > 0 && !self.counts.contains_key(&label))
                {
                    bus.mqtt(MqttMessage {
                        topic: format!("{}/{label}", self.camera),
                        payload: new.to_string().into_bytes(),
                        retain: true,
                    });
                }
            }
            if self.all != Some(seen.len()) {
                self.all = Some(seen.len());
                bus.mqtt(MqttMessage {
                    topic: format!("{}/all", self.camera),
                    payload: seen.len().to_string().into_bytes(),
                    retain: true,
                });
            }
            self.counts = counts;
        }
        seen
    }
}

/// Formats unix seconds as RFC 3339 UTC with milliseconds (`2026-11-22T09:40:18.871Z`).
pub fn rfc3339(unix: f64) -> String {
    let ms_total = (unix * 1000.0).round().max(0.0) as i64;
    let (secs, ms) = (ms_total.div_euclid(1000), ms_total.rem_euclid(1000));
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400.5), "2000-02-29T00:00:00.500Z");
        assert_eq!(rfc3339(1_795_340_418.871), "2026-11-22T09:40:18.871Z");
        assert_eq!(rfc3339(4_107_542_399.999), "2100-02-28T23:59:59.999Z");
    }

    #[test]
    fn minimal_schema_matches_deepstream() {
        let s = minimal_schema(
            "front",
            7,
            "2026-11-22T09:40:18.871Z",
            &[SeenObject {
                track_id: 3,
                bbox: [10.0, 20.25, 30.0, 40.0],
                label: "person".into(),
                score: 0.8765,
            }],
        );
        let v: Value = serde_json::from_str(&s).expect("json");
        assert_eq!(v["version"], "4.0");
        assert_eq!(v["id"], 7);
        assert_eq!(v["@timestamp"], "2026-11-22T09:40:18.871Z");
        assert_eq!(v["sensorId"], "front");
        assert_eq!(v["objects"][0], "3|10.0|20.2|30.0|40.0|person|#|0.877");
    }

    #[test]
    fn store_round_trip_and_filters() {
        let dir = std::env::temp_dir().join(format!("osprey-events-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let counters =
            prometheus::IntCounterVec::new(prometheus::Opts::new("x", "x"), &["sink", "outcome"])
                .expect("vec");
        let store = EventStore::open(&dir.join("e.sqlite"), counters).expect("open");
        for i in 0..5u64 {
            store.put(EventRecord {
                id: format!("{i}"),
                camera: if i % 2 == 0 { "a" } else { "b" }.into(),
                label: "person".into(),
                track_id: i,
                start_time: 100.0 + i as f64,
                end_time: None,
                top_score: 0.5,
                bbox: [1.0, 2.0, 3.0, 4.0],
                frames: 1,
            });
        }
        // The update for id 0 replaces its row.
        store.put(EventRecord {
            id: "0".into(),
            camera: "a".into(),
            label: "person".into(),
            track_id: 0,
            start_time: 100.0,
            end_time: Some(110.0),
            top_score: 0.9,
            bbox: [1.0, 2.0, 3.0, 4.0],
            frames: 9,
        });
        let q = |q: EventQuery| {
            let t = Instant::now();
            loop {
                let r = store.query(&q).expect("query");
                if r.len() == 3 || t.elapsed() > Duration::from_secs(5) {
                    return r;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        let a = q(EventQuery {
            camera: Some("a".into()),
            limit: 10,
            ..EventQuery::default()
        });
        assert_eq!(
            a.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["4", "2", "0"]
        );
        // Give the update a moment too.
        std::thread::sleep(Duration::from_millis(200));
        let a = store
            .query(&EventQuery {
                camera: Some("a".into()),
                limit: 10,
                ..EventQuery::default()
            })
            .expect("q");
        assert_eq!(a[2].end_time, Some(110.0));
        assert_eq!(a[2].frames, 9);
        let win = store
            .query(&EventQuery {
                after: Some(101.0),
                before: Some(103.0),
                limit: 10,
                ..EventQuery::default()
            })
            .expect("q");
        assert_eq!(win.len(), 2);
        let one = store
            .query(&EventQuery {
                limit: 1,
                ..EventQuery::default()
            })
            .expect("q");
        assert_eq!(one[0].id, "4");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
