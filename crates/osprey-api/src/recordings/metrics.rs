//! The recording series of `/metrics`, read from the [`Library`] at scrape time (the recorders'
//! counters, the index's totals, the disk): a collector registered in the server's registry.
//!
//! The `_written_total` and deletion counters are the running recorders' totals since each
//! started; a recorder restarted (its camera re-added) starts again from zero, which Prometheus'
//! `rate()` treats as a counter reset.

use std::sync::{Arc, Mutex};

use osprey_base::lock;
use osprey_record::{Library, RecorderPhase};
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

const PHASES: [RecorderPhase; 4] = [
    RecorderPhase::Off,
    RecorderPhase::Recording,
    RecorderPhase::Error,
    RecorderPhase::Unrecordable,
];

/// Registers the collector; a second registration (the router built twice over one state) is
/// ignored.
pub(super) fn register(registry: &Registry, lib: Arc<Library>) {
    match RecordingCollector::new(lib) {
        Ok(c) => {
            if let Err(e) = registry.register(Box::new(c)) {
                tracing::debug!(error = %e, "recording series already registered");
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot create the recording series"),
    }
}

struct Series {
    bytes: IntCounterVec,
    segments: IntCounterVec,
    frames: IntCounterVec,
    dropped: IntCounterVec,
    errors: IntCounterVec,
    deleted_segments: IntCounter,
    deleted_bytes: IntCounter,
    state: IntGaugeVec,
    stored_bytes: IntGaugeVec,
    stored_segments: IntGaugeVec,
    oldest: IntGaugeVec,
    disk_free: IntGauge,
    disk_total: IntGauge,
    pinned: IntGauge,
}

struct RecordingCollector {
    lib: Arc<Library>,
    series: Mutex<Series>,
    descs: Vec<Desc>,
}

fn counter(name: &str, help: &str) -> Result<IntCounterVec, prometheus::Error> {
    IntCounterVec::new(Opts::new(name, help), &["camera"])
}

fn gauge(name: &str, help: &str) -> Result<IntGaugeVec, prometheus::Error> {
    IntGaugeVec::new(Opts::new(name, help), &["camera"])
}

impl Series {
    fn new() -> Result<Series, prometheus::Error> {
        Ok(Series {
            bytes: counter("osprey_recording_bytes_written_total", "Bytes of finished segments written, per camera")?,
            segments: counter("osprey_recording_segments_written_total", "Segments finished and indexed, per camera")?,
            frames: counter("osprey_recording_frames_written_total", "Frames in finished segments, per camera")?,
            dropped: counter("osprey_recording_units_dropped_total", "Access units not recorded (queue full, error state, unrecordable stream), per camera")?,
            errors: counter("osprey_recording_errors_total", "Segment write or index errors, per camera")?,
            deleted_segments: IntCounter::new("osprey_recording_deleted_segments_total", "Segments deleted by retention")?,
            deleted_bytes: IntCounter::new("osprey_recording_deleted_bytes_total", "Bytes deleted by retention")?,
            state: IntGaugeVec::new(
                Opts::new("osprey_recording_state", "Recorder state per camera (1 for the current state)"),
                &["camera", "state"],
            )?,
            stored_bytes: gauge("osprey_recording_stored_bytes", "Bytes of recordings on disk, per camera")?,
            stored_segments: gauge("osprey_recording_stored_segments", "Segments on disk, per camera")?,
            oldest: gauge("osprey_recording_oldest_timestamp_seconds", "Start of the oldest recording kept, Unix seconds, per camera")?,
            disk_free: IntGauge::new("osprey_recording_disk_free_bytes", "Free bytes of the recordings' file system")?,
            disk_total: IntGauge::new("osprey_recording_disk_total_bytes", "Size of the recordings' file system")?,
            pinned: IntGauge::new("osprey_recording_pinned_segments", "Segments pinned by views being served (retention defers them)")?,
        })
    }

    fn collectors(&self) -> Vec<&dyn Collector> {
        vec![
            &self.bytes,
            &self.segments,
            &self.frames,
            &self.dropped,
            &self.errors,
            &self.deleted_segments,
            &self.deleted_bytes,
            &self.state,
            &self.stored_bytes,
            &self.stored_segments,
            &self.oldest,
            &self.disk_free,
            &self.disk_total,
            &self.pinned,
        ]
    }

    fn reset(&self) {
        for v in [
            &self.bytes,
            &self.segments,
            &self.frames,
            &self.dropped,
            &self.errors,
        ] {
            v.reset();
        }
        for v in [
            &self.state,
            &self.stored_bytes,
            &self.stored_segments,
            &self.oldest,
        ] {
            v.reset();
        }
        self.deleted_segments.reset();
        self.deleted_bytes.reset();
    }

    /// Reads the library into the series.
    fn update(&self, lib: &Library) {
        self.reset();
        let (mut del_segments, mut del_bytes) = (0, 0);
        for (camera, s) in lib.statuses() {
            let c = [camera.as_str()];
            self.bytes.with_label_values(&c).inc_by(s.bytes);
            self.segments.with_label_values(&c).inc_by(s.segments);
            self.frames.with_label_values(&c).inc_by(s.frames);
            self.dropped.with_label_values(&c).inc_by(s.units_dropped);
            self.errors.with_label_values(&c).inc_by(s.errors);
            for p in PHASES {
                self.state
                    .with_label_values(&[camera.as_str(), p.as_str()])
                    .set(i64::from(p == s.phase));
            }
            del_segments += s.deleted_segments;
            del_bytes += s.deleted_bytes;
        }
        self.deleted_segments.inc_by(del_segments);
        self.deleted_bytes.inc_by(del_bytes);
        let index = lib.index();
        for camera in index.cameras().unwrap_or_default() {
            let Ok(u) = index.usage(&camera) else {
                continue;
            };
            let c = [camera.as_str()];
            self.stored_bytes.with_label_values(&c).set(u.bytes as i64);
            self.stored_segments
                .with_label_values(&c)
                .set(u.segments as i64);
            if let Some(o) = u.oldest_wall_ms {
                self.oldest.with_label_values(&c).set(o / 1000);
            }
        }
        if let Some((total, free)) = osprey_record::disk_space(index.root()) {
            self.disk_total.set(total as i64);
            self.disk_free.set(free as i64);
        }
        self.pinned.set(index.pins().len() as i64);
    }
}

impl RecordingCollector {
    fn new(lib: Arc<Library>) -> Result<RecordingCollector, prometheus::Error> {
        let series = Series::new()?;
        let descs = series
            .collectors()
            .iter()
            .flat_map(|c| c.desc().into_iter().cloned())
            .collect();
        Ok(RecordingCollector {
            lib,
            series: Mutex::new(series),
            descs,
        })
    }
}

impl Collector for RecordingCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let series = lock(&self.series);
        series.update(&self.lib);
        series
            .collectors()
            .iter()
            .flat_map(|c| c.collect())
            .collect()
    }
}
