//! The cases of `tests/recordings.rs`.

use std::collections::HashMap;

use osprey_record::{CameraQuota, Quotas};
use osprey_testkit::server::read_head_response;
use serde_json::Value;

use super::*;

fn header<'a>(r: &'a Response, name: &str) -> &'a str {
    r.header(name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", r.headers))
}

fn json(r: &Response) -> Value {
    r.json()
}

fn camera<'a>(list: &'a Value, key: &str, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c[key] == name)
        .unwrap_or_else(|| panic!("no {name} in {list}"))
}

/// Frames ffprobe decodes from `bytes` (an MP4).
fn probe_frames(bytes: &[u8], name: &str) -> u64 {
    let path = std::env::temp_dir().join(format!("osprey-api-{}-{name}.mp4", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn status_and_storage_report_usage_limits_and_recorders() {
    let Some(f) = fixture() else { return };
    assert_eq!(request(f, "GET", "/api/recordings", &[], false).status, 401);
    let r = get(f, "/api/recordings");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let body = json(&r);
    let usage = f.lib.index().usage("door").unwrap();
    let door = camera(&body["cameras"], "camera", "door");
    assert_eq!(door["bytes"], usage.bytes);
    assert_eq!(door["segments"], usage.segments);
    assert_eq!(door["oldest_unix_ms"], f.base);
    assert_eq!(door["newest_unix_ms"], f.base + 30_000 + OUTAGE_MS);
    assert_eq!(door["recorder"]["phase"], "off");
    let live = camera(&body["cameras"], "camera", "live");
    assert_eq!(live["recorder"]["phase"], "off");
    assert_eq!(live["recorder"]["units_received"], 0);
    assert!(live["quota"]["max_bytes"].is_null());
    assert!(body["disk"]["total_bytes"].as_u64().unwrap() > 0);
    assert!(body["disk"]["free_bytes"].as_u64().unwrap() > 0);

    let s = json(&get(f, "/api/storage"));
    assert!(s["totalDiskBytes"].as_u64().unwrap() >= s["freeDiskBytes"].as_u64().unwrap());
    assert!(s["writeRateBytesPerDay"].as_f64().unwrap() > 0.0, "{s}");
    assert!(s["remainingStorageDays"].as_f64().unwrap() > 0.0, "{s}");
    let door = camera(&s["streams"], "sensorId", "door");
    assert_eq!(door["sizeBytes"], usage.bytes);
    assert_eq!(door["daysRetained"], 0.0);
    assert_eq!(door["recordingState"], "off");
}

#[test]
fn timeline_shows_the_outage_as_a_gap_and_totals_per_day() {
    let Some(f) = fixture() else { return };
    let t = json(&get(f, "/api/recordings/door/timeline"));
    let runs = t["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{t}");
    assert_eq!(runs[0]["start_unix_ms"], f.base);
    assert_eq!(runs[0]["end_unix_ms"], f.base + 16_000);
    assert_eq!(runs[1]["start_unix_ms"], f.base + 16_000 + OUTAGE_MS);
    assert_eq!(
        runs[0]["frames"].as_u64().unwrap() + runs[1]["frames"].as_u64().unwrap(),
        300
    );
    let gaps = t["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1);
    assert_eq!(gaps[0]["duration_ms"], OUTAGE_MS);
    assert_eq!(t["recorded_ms"], 30_000);

    // ISO times with an offset, `+` escaped and as a raw `+` (a space once decoded); a range
    // that cuts the first run.
    let start = osprey_store::format_timestamp(f.base + 5_000).replace('Z', "");
    for plus in ["%2B00:00", "+00:00"] {
        let path = format!(
            "/api/recordings/door/timeline?start={start}{plus}&end={}&days=1&tz=%2B02:00",
            f.base + 60_000
        );
        let t = json(&get(f, &path));
        assert_eq!(t["recorded_ms"], 25_000, "{t}");
        assert_eq!(t["runs"][0]["start_unix_ms"], f.base + 5_000);
        let days = t["days"].as_array().unwrap();
        let sum: i64 = days
            .iter()
            .map(|d| d["recorded_ms"].as_i64().unwrap())
            .sum();
        assert_eq!(sum, 25_000);
        assert_eq!(days[0]["date"].as_str().unwrap().len(), 10);
        assert_eq!(t["tz_offset_minutes"], 120);
    }
    for (path, status) in [
        ("/api/recordings/door/timeline?start=yesterday", 400),
        ("/api/recordings/door/timeline?start=2000&end=1000", 400),
        ("/api/recordings/door/timeline?tz=CEST", 400),
        ("/api/recordings/nosuch/timeline", 404),
        ("/api/recordings/bad%21name/timeline", 400),
    ] {
        let r = get(f, path);
        assert_eq!(
            r.status,
            status,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(json(&r)["error"].as_str().unwrap().len() > 10);
    }
}

fn view_path(camera: &str, start: i64, end: i64) -> String {
    format!("/api/recordings/{camera}/view.mp4?start={start}&end={end}")
}

#[test]
fn view_mp4_serves_ranges_with_a_stable_etag() {
    let Some(f) = fixture() else { return };
    let path = view_path("door", f.base, f.base + 40_000);
    let full = get(f, &path);
    assert_eq!(full.status, 200, "{}", String::from_utf8_lossy(&full.body));
    assert_eq!(header(&full, "content-type"), "video/mp4");
    assert_eq!(header(&full, "accept-ranges"), "bytes");
    let len = full.body.len();
    assert_eq!(header(&full, "content-length"), len.to_string());
    let tag = header(&full, "etag").to_string();
    assert_eq!(probe_frames(&full.body, "door-full"), 300);
    assert_eq!(header(&get(f, &path), "etag"), tag, "the tag is stable");

    let part = request(f, "GET", &path, &[("Range", "bytes=100-199")], true);
    assert_eq!(part.status, 206);
    assert_eq!(
        header(&part, "content-range"),
        format!("bytes 100-199/{len}")
    );
    assert_eq!(part.body, full.body[100..200]);
    let tail = request(f, "GET", &path, &[("Range", "bytes=-50")], true);
    assert_eq!(tail.body, full.body[len - 50..]);
    let open = request(f, "GET", &path, &[("Range", "bytes=1000-")], true);
    assert_eq!(open.body, full.body[1000..]);
    let past = format!("bytes={len}-");
    let r = request(f, "GET", &path, &[("Range", past.as_str())], true);
    assert_eq!(r.status, 416);
    assert_eq!(header(&r, "content-range"), format!("bytes */{len}"));
    let r = request(f, "GET", &path, &[("If-None-Match", tag.as_str())], true);
    assert_eq!((r.status, r.body.len()), (304, 0));
    let r = request(
        f,
        "GET",
        &path,
        &[("Range", "bytes=0-9"), ("If-Range", "\"other\"")],
        true,
    );
    assert_eq!((r.status, r.body.len()), (200, len));

    let mut s = TcpStream::connect(("127.0.0.1", f.port)).unwrap();
    s.write_all(raw("HEAD", &path, &[], true).as_bytes())
        .unwrap();
    let head = read_head_response(&mut s).unwrap();
    assert_eq!(
        (head.status, header(&head, "content-length")),
        (200, len.to_string().as_str())
    );

    // From the keyframe at 4 s (frame 40) to the last frame before 10 s.
    let some = get(f, &view_path("door", f.base + 5_000, f.base + 10_000));
    assert_eq!(probe_frames(&some.body, "door-part"), 60);
}

#[test]
fn view_mp4_refuses_bad_and_empty_ranges() {
    let Some(f) = fixture() else { return };
    let outage = view_path("door", f.base + 17_000, f.base + 25_000);
    let before = view_path("door", f.base - 86_400_000, f.base - 80_000_000);
    let inverted = view_path("door", f.base + 5_000, f.base);
    for (path, status) in [
        (outage.as_str(), 404),
        (before.as_str(), 404),
        (inverted.as_str(), 400),
        ("/api/recordings/door/view.mp4?start=0", 400),
        ("/api/recordings/door/view.mp4?start=0&end=200000000", 400),
    ] {
        let r = get(f, path);
        assert_eq!(
            r.status,
            status,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(json(&r)["success"], false);
    }
    let r = request(
        f,
        "GET",
        &view_path("door", f.base, f.base + 1000),
        &[],
        false,
    );
    assert_eq!(r.status, 401);
}

fn protected(f: &Fixture, camera: &str, start: i64, end: i64) -> Vec<Option<i64>> {
    let rows = f.lib.index().segments(camera, start, end).unwrap();
    rows.iter().map(|r| r.protected_until).collect()
}

#[test]
fn protect_unprotect_and_export() {
    let Some(f) = fixture() else { return };
    let (a, b) = (f.base, f.base + 8_000);
    let path = format!("/api/recordings/door/protect?start={a}&end={b}");
    assert_eq!(request(f, "POST", &path, &[], false).status, 401);
    let r = request(f, "POST", &path, &[], true);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let body = json(&r);
    assert!(body["until"].is_null());
    let n = body["segments"].as_u64().unwrap() as usize;
    assert!(n >= 2);
    assert_eq!(protected(f, "door", a, b), vec![Some(i64::MAX); n]);
    let r = request(f, "DELETE", &path, &[], true);
    assert_eq!(json(&r)["segments"], n as u64);
    assert_eq!(protected(f, "door", a, b), vec![None; n]);

    let past = format!("{path}&until=1000");
    assert_eq!(request(f, "POST", &past, &[], true).status, 400);
    let gap = format!(
        "/api/recordings/door/protect?start={}&end={}",
        f.base + 17_000,
        f.base + 25_000
    );
    assert_eq!(request(f, "POST", &gap, &[], true).status, 404);

    let until = now_ms() + 86_400_000;
    let (c, d) = (f.base + 27_000, f.base + 30_000);
    let export = format!("/api/recordings/door/export?start={c}&end={d}&until={until}");
    let body = json(&request(f, "POST", &export, &[], true));
    assert_eq!(body["until"], osprey_store::format_timestamp(until));
    assert!(protected(f, "door", c, d).iter().all(|p| *p == Some(until)));
    let url = body["url"].as_str().unwrap();
    assert_eq!(url, view_path("door", c, d));
    let r = get(f, url);
    assert_eq!((r.status, header(&r, "content-type")), (200, "video/mp4"));
}

fn yard_pinned(f: &Fixture, ids: &[i64]) -> bool {
    ids.iter().all(|id| f.lib.index().pins().is_pinned(*id))
}

fn yard_quota() -> Quotas {
    let tiny = CameraQuota {
        max_bytes: Some(1),
        max_age_ms: None,
    };
    Quotas {
        cameras: HashMap::from([("yard".to_string(), tiny)]),
        ..Quotas::default()
    }
}

#[test]
fn a_download_keeps_its_segments_through_retention() {
    let Some(f) = fixture() else { return };
    let (a, b) = (f.base, f.base + YARD_FRAMES * 100);
    let ids: Vec<i64> = f
        .lib
        .index()
        .segments("yard", a, b)
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert!(ids.len() >= 4);
    let expected = f
        .lib
        .index()
        .view("yard", a, b)
        .unwrap()
        .plan
        .to_bytes()
        .unwrap();
    assert!(expected.len() > 15_000_000);

    let mut s = TcpStream::connect(("127.0.0.1", f.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(raw("GET", &view_path("yard", a, b), &[], true).as_bytes())
        .unwrap();
    let head = read_head_response(&mut s).unwrap();
    assert_eq!(head.status, 200);
    let mut body = vec![0u8; 1000];
    s.read_exact(&mut body).unwrap();
    // The client stalls: the writer fills the socket buffers and waits; the pin holds.
    std::thread::sleep(Duration::from_millis(300));
    assert!(yard_pinned(f, &ids));
    let out = f
        .lib
        .index()
        .apply_retention(&yard_quota(), now_ms(), None)
        .unwrap();
    assert!(
        out.deleted.iter().all(|r| r.camera != "yard"),
        "{:?}",
        out.deleted
    );
    s.read_to_end(&mut body).unwrap();
    assert_eq!(body.len(), expected.len());
    assert!(body == expected, "the download is intact");
    drop(s);

    let t = Instant::now();
    while ids.iter().any(|id| f.lib.index().pins().is_pinned(*id)) {
        assert!(t.elapsed() < Duration::from_secs(10), "pin not released");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = f
        .lib
        .index()
        .apply_retention(&yard_quota(), now_ms(), None)
        .unwrap();
    assert_eq!(
        out.deleted.iter().filter(|r| r.camera == "yard").count(),
        ids.len()
    );
    assert_eq!(f.lib.index().usage("yard").unwrap().segments, 0);
}

#[test]
fn metrics_have_the_recording_series() {
    let Some(f) = fixture() else { return };
    let r = get(f, "/metrics");
    let text = String::from_utf8_lossy(&r.body);
    let usage = f.lib.index().usage("door").unwrap();
    for needle in [
        format!(
            "osprey_recording_stored_bytes{{camera=\"door\"}} {}",
            usage.bytes
        ),
        format!(
            "osprey_recording_stored_segments{{camera=\"door\"}} {}",
            usage.segments
        ),
        "osprey_recording_state{camera=\"live\",state=\"off\"} 1".to_string(),
        "osprey_recording_state{camera=\"live\",state=\"recording\"} 0".to_string(),
        "osprey_recording_bytes_written_total{camera=\"live\"} 0".to_string(),
        "osprey_recording_disk_free_bytes ".to_string(),
        "osprey_recording_disk_total_bytes ".to_string(),
    ] {
        assert!(text.contains(&needle), "missing {needle} in\n{text}");
    }
}
